"""What every executor shares: the job's outcome, cancellation, the generated step scripts and the log lines the
runner itself writes.

A step script is ``sh -e`` text in which each command is preceded by an echo of it, in green, the way GitLab shows
``$ command``; ``before_script`` + ``script`` form the first step and ``after_script`` the second, which runs
whatever the first one's exit code.
"""

from __future__ import annotations

import os
import re
import shlex
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from runners.logs import LogSink
from runners.payload import Job

GREEN = "\033[32;1m"
RED = "\033[31;1m"
YELLOW = "\033[33;1m"
BOLD = "\033[1m"
RESET = "\033[0;m"

BUILDS_DIR = "/builds"


@dataclass(frozen=True)
class JobResult:
    state: str  # "success" or "failed"
    exit_code: int | None = None
    failure_reason: str | None = None  # one of docs/ci.md's reasons when failed


class JobControl:
    """How the runner stops a running job: ``cancel(reason)`` from any thread; the executor kills at once.

    ``reason`` is ``canceled`` (the forge canceled the job) or ``system_failure`` (the runner itself is stopping).
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def cancel(self, reason: str = "canceled") -> None:
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    @property
    def event(self) -> threading.Event:
        """Set once the job is canceled: what long transfers watch to stop at once."""
        return self._event

    def wait(self, timeout: float | None = None) -> bool:
        return self._event.wait(timeout)

    def result(self) -> JobResult:
        return JobResult("failed", None, self.reason or "canceled")


class FileTransport(Protocol):
    """The job's file calls to the forge (``runners.client.JobClient`` implements them)."""

    def download_artifacts(self, other_job_id: int, dest: Path) -> bool: ...

    def upload_artifact(self, kind: str, filename: str, src: Path, expire_in: str) -> int: ...

    def get_cache(self, key: str, dest: Path) -> bool: ...

    def put_cache(self, key: str, src: Path) -> int: ...


class Executor(Protocol):
    name: str

    def run(self, job: Job, log: LogSink, control: JobControl, files: FileTransport | None = None) -> JobResult:
        """Run ``job`` to the end, writing its log to ``log``; never raises for anything the job does, and always
        removes what it made (containers, networks, workspace). ``files`` moves artifacts and caches (None: a job
        using them gets a warning that this run cannot)."""
        ...

    def remove_leftovers(self) -> int:
        """Remove what an earlier, killed run of this runner left behind; how many things were removed."""
        ...


def step_script(commands: tuple[str, ...], project_dir: str) -> str:
    """An ``sh -e`` script running ``commands`` in ``project_dir``, each echoed first as ``$ command``."""
    lines = [f"cd {shlex.quote(project_dir)}"]
    for command in commands:
        shown = command.rstrip("\n")
        if "\n" in shown:  # as GitLab does: the first line stands for the whole command
            shown = shown.split("\n", 1)[0] + " # collapsed multi-line command"
        lines.append(f"printf '%s\\n' {shlex.quote(GREEN + '$ ' + shown.rstrip() + RESET)}")
        lines.append(command.rstrip("\n"))
    return "\n".join(lines) + "\n"


def write_file_variables(job: Job, host_dir: Path, job_dir: str) -> dict[str, str]:
    """Write each file-type variable's value to a file named after it in ``host_dir`` (seen by the job as
    ``job_dir``, GitLab's ``${CI_PROJECT_DIR}.tmp``); the variables' new values: the files' paths. A later entry
    with the same key wins, as for every variable."""
    paths: dict[str, str] = {}
    latest = {var.key: var for var in job.variables}
    for key, var in latest.items():
        if not var.file:
            continue
        name = _UNSAFE_FILE_CHARS.sub("_", key) or "variable"
        host_dir.mkdir(mode=0o755, exist_ok=True)
        target = host_dir / name
        # The workspace above is private to the runner's user (0700); the file itself must be readable by whatever
        # user the job's image runs as.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(var.value)
        os.chmod(target, 0o644)
        paths[key] = f"{job_dir}/{name}"
    return paths


_UNSAFE_FILE_CHARS = re.compile(r"[^A-Za-z0-9._-]")


def job_environment(job: Job, project_dir: str, builds_dir: str,
                    file_paths: dict[str, str] | None = None) -> dict[str, str]:
    """The job's variables, with the two that only the runner knows: where the checkout is; file-type variables
    hold the path of their file (``file_paths``)."""
    env = {var.key: var.value for var in job.variables}
    env.update(file_paths or {})
    env["CI_PROJECT_DIR"] = project_dir
    env["CI_BUILDS_DIR"] = builds_dir
    env.setdefault("CI", "true")
    env.setdefault("CI_JOB_ID", str(job.id))
    env.setdefault("CI_JOB_NAME", job.name)
    env.setdefault("CI_COMMIT_SHA", job.git.sha)
    return env


def warning_line(log: LogSink, message: str) -> None:
    log.write(f"{YELLOW}WARNING: {message}{RESET}\n".encode())


def section(log: LogSink, message: str) -> None:
    """A line the runner writes about its own work (bold, like GitLab's section headers)."""
    log.write(f"{BOLD}{message}{RESET}\n".encode())


def error_line(log: LogSink, message: str) -> None:
    log.write(f"{RED}ERROR: {message}{RESET}\n".encode())


def finish_message(log: LogSink, result: JobResult, timeout: int) -> None:
    if result.state == "success":
        log.write(f"{GREEN}Job succeeded{RESET}\n".encode())
    elif result.failure_reason == "script_failure":
        error_line(log, f"Job failed: exit code {result.exit_code}")
    elif result.failure_reason == "job_timeout":
        error_line(log, f"Job failed: execution took longer than {timeout} seconds")
    elif result.failure_reason == "canceled":
        error_line(log, "Job canceled")
    elif result.failure_reason == "system_failure":
        error_line(log, "Job failed: the runner stopped while the job was running")
    elif result.failure_reason == "archived_failure":
        error_line(log, "Job failed: the artifacts could not be uploaded")
    else:
        error_line(log, f"Job failed: {result.failure_reason}")
