"""What every executor shares: the job's outcome, cancellation, the generated step scripts and the log lines the
runner itself writes.

A step script is ``sh -e`` text in which each command is preceded by an echo of it, in green, the way GitLab shows
``$ command``; ``before_script`` + ``script`` form the first step and ``after_script`` the second, which runs
whatever the first one's exit code.
"""

from __future__ import annotations

import shlex
import threading
from dataclasses import dataclass
from typing import Protocol

from runners.client import Job
from runners.logs import LogSink

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

    def wait(self, timeout: float | None = None) -> bool:
        return self._event.wait(timeout)

    def result(self) -> JobResult:
        return JobResult("failed", None, self.reason or "canceled")


class Executor(Protocol):
    name: str

    def run(self, job: Job, log: LogSink, control: JobControl) -> JobResult:
        """Run ``job`` to the end, writing its log to ``log``; never raises for anything the job does, and always
        removes what it made (containers, workspace)."""
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


def job_environment(job: Job, project_dir: str, builds_dir: str) -> dict[str, str]:
    """The job's variables, with the two that only the runner knows: where the checkout is."""
    env = {var.key: var.value for var in job.variables}
    env["CI_PROJECT_DIR"] = project_dir
    env["CI_BUILDS_DIR"] = builds_dir
    env.setdefault("CI", "true")
    env.setdefault("CI_JOB_ID", str(job.id))
    env.setdefault("CI_JOB_NAME", job.name)
    env.setdefault("CI_COMMIT_SHA", job.git.sha)
    return env


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
    else:
        error_line(log, f"Job failed: {result.failure_reason}")
