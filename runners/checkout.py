"""Fetching a job's commit onto this host with the ``git`` binary, through the forge's smart HTTP.

The checkout is made here rather than in the job's container because the job image may have no git at all
(busybox has none); the docker executor then bind-mounts the directory at ``CI_PROJECT_DIR``. The job token is the
password of HTTP Basic auth and travels in an ``http.extraHeader`` given to git through ``GIT_CONFIG_*``
environment variables: it is never on a command line (visible in ``ps``), in ``.git/config``, or in the log.
"""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

from runners.executors.common import JobControl, error_line, section
from runners.logs import BufferLog, LogSink
from runners.payload import Job
from runners.process import Outcome, run_streaming


class CheckoutFailed(Exception):
    """The commit could not be fetched; the message is for the job log."""


def git_environment(token: str, home: Path) -> dict[str, str]:
    """A clean environment for git: no user or system configuration, no prompts, the job token as a header."""
    basic = base64.b64encode(f"forge-runner:{token}".encode()).decode()
    return {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "",
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
    }


def checkout(job: Job, dest: Path, log: LogSink, control: JobControl, deadline: float) -> Outcome:
    """Make ``dest`` a checkout of ``job.git.sha``. Returns the outcome of the first step that did not succeed (a
    cancel or timeout included), or a successful ``Outcome(0)``; a git failure raises ``CheckoutFailed``."""
    if shutil.which("git") is None:
        raise CheckoutFailed("git is not installed on the runner's host; install it to run jobs")
    home = dest.parent / ".git-home"
    home.mkdir(parents=True, exist_ok=True)
    env = git_environment(job.token, home)
    depth = ["--depth", str(job.git.depth)] if job.git.depth > 0 else []
    shown_depth = f"depth {job.git.depth}" if job.git.depth > 0 else "full history"
    section(log, f"Fetching {job.git.url} at {job.git.sha} ({shown_depth})")

    def git(*args: str, sink: LogSink = log) -> Outcome:
        return run_streaming(["git", *args], cwd=dest, env=env, log=sink, control=control, deadline=deadline)

    dest.mkdir(parents=True, exist_ok=True)
    for step in (("init", "-q", "."), ("remote", "add", "origin", job.git.url)):
        outcome = git(*step)
        if outcome.exit_code != 0:
            return _fail(outcome, log, "git " + step[0])
    # Fetching the exact commit needs protocol v2 (or a server allowing any reachable sha); when that is refused,
    # fetching the ref and finding the commit in it works with any smart HTTP server.
    first_try = BufferLog()
    outcome = git("fetch", "-q", "--no-tags", *depth, "origin", job.git.sha, sink=first_try)
    if outcome.exit_code not in (0, None):
        if job.git.ref:
            outcome = git("fetch", "-q", "--no-tags", *depth, "origin", job.git.ref)
            found = outcome.exit_code == 0 and git("cat-file", "-e", f"{job.git.sha}^{{commit}}",
                                                    sink=BufferLog()).exit_code == 0
            if outcome.exit_code == 0 and not found:
                raise CheckoutFailed(f"commit {job.git.sha} is not in {job.git.ref} any more (was it force-pushed?)")
        else:
            log.write(first_try.getvalue())
    if outcome.exit_code != 0:
        return _fail(outcome, log, "git fetch")
    outcome = git("-c", "advice.detachedHead=false", "checkout", "-q", "--detach", job.git.sha)
    if outcome.exit_code != 0:
        return _fail(outcome, log, "git checkout")
    section(log, f"Checked out {job.git.sha[:8]}" + (f" ({job.git.ref})" if job.git.ref else ""))
    return outcome


def _fail(outcome: Outcome, log: LogSink, what: str) -> Outcome:
    if outcome.exit_code is None:
        return outcome
    error_line(log, f"{what} failed with exit code {outcome.exit_code}")
    raise CheckoutFailed(f"cannot fetch the repository ({what} failed)")
