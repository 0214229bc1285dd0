"""The order of a job's steps, the same for every executor: prepare, check out, run ``before_script`` + ``script``,
run ``after_script``, decide the result, clean up.

Subclasses say how a workspace is made and how one step script runs (``_prepare``, ``_run_step``, ``_cleanup``).
The job's log is masked here, so no executor can forget it: everything the job or the runner writes passes through
``MaskingLog``.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runners import __version__
from runners.checkout import CheckoutFailed, checkout
from runners.client import Job
from runners.executors.common import (
    BOLD,
    RESET,
    JobControl,
    JobResult,
    error_line,
    finish_message,
    section,
    step_script,
)
from runners.logs import LogSink, MaskingLog
from runners.process import Outcome

log = logging.getLogger("forge_runner")

# after_script runs even when the script used up the job's time, so it gets its own limit (as in GitLab).
AFTER_SCRIPT_TIMEOUT = 300


class StepFailure(Exception):
    """The job cannot run (image missing, no git, ...): ``reason`` is the failure reason, the message goes to the
    log."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class Workspace:
    """One job's place on this host: ``root`` holds the checkout (``host_project``) and the step scripts."""

    job: Job
    log: MaskingLog
    control: JobControl
    root: Path
    host_project: Path  # the checkout on this host
    project_dir: str  # CI_PROJECT_DIR as the job sees it
    builds_dir: str  # CI_BUILDS_DIR as the job sees it
    scripts: Path
    extra: dict[str, Any] = field(default_factory=dict)  # executor-specific state (e.g. the docker client)


class StepExecutor:
    name = "base"

    def __init__(self, work_dir: str | None = None) -> None:
        self.work_dir = work_dir

    # -- what subclasses provide ---------------------------------------------------------------------------------

    def _paths(self, job: Job, root: Path) -> tuple[Path, str, str]:
        """The checkout's host path, CI_PROJECT_DIR and CI_BUILDS_DIR as the job sees them."""
        raise NotImplementedError

    def _prepare(self, ws: Workspace) -> None:
        """Make ready anything the steps need (may raise ``StepFailure``)."""

    def _run_step(self, ws: Workspace, name: str, script: Path, deadline: float) -> Outcome:
        raise NotImplementedError

    def _cleanup(self, ws: Workspace) -> None:
        """Remove what ``_prepare`` and ``_run_step`` made (always called, must not raise)."""

    def remove_leftovers(self) -> int:
        """Remove what an earlier run of this runner left behind when it could not clean up (it was killed with
        SIGKILL, or the machine lost power); called once when ``forge-runner run`` starts. Returns how many."""
        return 0

    # -- the flow ------------------------------------------------------------------------------------------------

    def run(self, job: Job, sink: LogSink, control: JobControl) -> JobResult:
        masked = MaskingLog(sink, job.masked_values())
        if self.work_dir:
            Path(self.work_dir).mkdir(parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix=f"forge-job-{job.id}-", dir=self.work_dir))
        host_project, project_dir, builds_dir = self._paths(job, root)
        ws = Workspace(job, masked, control, root, host_project, project_dir, builds_dir, root / "scripts")
        ws.scripts.mkdir()
        try:
            result = self._run(ws)
        except Exception as exc:  # a bug or an unexpected engine error: the job must still end and be cleaned up
            log.exception("job %s: the executor failed", job.id)
            error_line(masked, f"the runner failed: {exc}")
            result = JobResult("failed", None, "system_failure")
        finally:
            try:
                self._cleanup(ws)
            finally:
                shutil.rmtree(root, ignore_errors=True)
                if root.exists():
                    log.error("job %s: could not remove the workspace %s", job.id, root)
        finish_message(masked, result, job.timeout)
        masked.flush()
        return result

    def _run(self, ws: Workspace) -> JobResult:
        job, out, control = ws.job, ws.log, ws.control
        out.text(f"{BOLD}Running with forge-runner {__version__} ({self.name} executor){RESET}\n")
        deadline = time.monotonic() + max(job.timeout, 1)
        try:
            self._prepare(ws)
            outcome = checkout(job, ws.host_project, out, control, deadline)
        except StepFailure as exc:
            error_line(out, str(exc))
            return JobResult("failed", None, exc.reason)
        except CheckoutFailed as exc:
            error_line(out, str(exc))
            return JobResult("failed", None, "system_failure")
        if outcome.exit_code is None:
            return self._interrupted(outcome, control)

        main = ws.scripts / "step_script.sh"
        main.write_text(step_script(job.before_script + job.script, ws.project_dir))
        outcome = self._run_step(ws, "step_script", main, deadline)
        if outcome.exit_code is None:
            return self._interrupted(outcome, control)
        if outcome.exit_code == 0:
            result = JobResult("success", 0)
        else:
            result = JobResult("failed", outcome.exit_code, "script_failure")

        if job.after_script:
            section(out, "Running after_script")
            after = ws.scripts / "after_script.sh"
            after.write_text(step_script(job.after_script, ws.project_dir))
            after_outcome = self._run_step(ws, "after_script", after, time.monotonic() + AFTER_SCRIPT_TIMEOUT)
            if after_outcome.canceled:
                return control.result()
            # As in GitLab, after_script's own exit code does not change the job's result.
            if after_outcome.timed_out:
                out.text(f"after_script took longer than {AFTER_SCRIPT_TIMEOUT} seconds and was stopped\n")
            elif after_outcome.exit_code != 0:
                out.text(f"after_script failed with exit code {after_outcome.exit_code}; this does not change the "
                         "job's result\n")
        return result

    @staticmethod
    def _interrupted(outcome: Outcome, control: JobControl) -> JobResult:
        if outcome.canceled:
            return control.result()
        return JobResult("failed", None, "job_timeout")
