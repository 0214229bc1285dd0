"""The order of a job's steps, the same for every executor, as in GitLab Runner: prepare (services), check out,
restore caches, download the artifacts of earlier jobs, run ``before_script`` + ``script``, run ``after_script``,
save caches, upload artifacts, decide the result, clean up.

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

from runners import __version__, delivery
from runners.checkout import CheckoutFailed, checkout
from runners.errors import JobGone
from runners.executors.common import (
    BOLD,
    RESET,
    FileTransport,
    JobControl,
    JobResult,
    error_line,
    finish_message,
    job_environment,
    section,
    step_script,
    write_file_variables,
)
from runners.logs import LogSink, MaskingLog
from runners.payload import Job
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
    files: FileTransport | None = None
    # File-type variables: written to ``tmp_host``, seen by the job at ``tmp_dir`` (GitLab's CI_PROJECT_DIR.tmp).
    tmp_host: Path | None = None
    tmp_dir: str = ""
    file_paths: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # executor-specific state (e.g. the docker client)

    def environment(self) -> dict[str, str]:
        """The job's variables as its steps see them."""
        return job_environment(self.job, self.project_dir, self.builds_dir, self.file_paths)


class StepExecutor:
    name = "base"

    def __init__(self, work_dir: str | None = None) -> None:
        self.work_dir = work_dir

    # -- what subclasses provide ---------------------------------------------------------------------------------

    def _paths(self, job: Job, root: Path) -> tuple[Path, str, str]:
        """The checkout's host path, CI_PROJECT_DIR and CI_BUILDS_DIR as the job sees them."""
        raise NotImplementedError

    def _tmp_paths(self, ws: Workspace) -> tuple[Path, str]:
        """Where file-type variables go on this host, and that directory as the job sees it."""
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

    def run(self, job: Job, sink: LogSink, control: JobControl, files: FileTransport | None = None) -> JobResult:
        masked = MaskingLog(sink, job.masked_values())
        if self.work_dir:
            Path(self.work_dir).mkdir(parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix=f"forge-job-{job.id}-", dir=self.work_dir))
        host_project, project_dir, builds_dir = self._paths(job, root)
        ws = Workspace(job, masked, control, root, host_project, project_dir, builds_dir, root / "scripts",
                       files=files)
        ws.tmp_host, ws.tmp_dir = self._tmp_paths(ws)
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

        assert ws.tmp_host is not None
        ws.file_paths = write_file_variables(job, ws.tmp_host, ws.tmp_dir)
        ctx = delivery.Context(out, ws.files, control, ws.host_project, ws.project_dir, ws.environment(),
                               ws.root / "archives")
        try:
            # GitLab's order: caches first, so an earlier job's artifacts win where both have a file.
            delivery.restore_caches(ctx, job.cache)
            delivery.download_dependencies(ctx, tuple((d.job_id, d.name) for d in job.dependencies))
        except delivery.DeliveryFailure as exc:
            if control.is_set():  # the transfer failed because the job was canceled
                return control.result()
            error_line(out, str(exc))
            return JobResult("failed", None, exc.reason)
        except JobGone:
            control.cancel("canceled")
        if control.is_set():
            return control.result()
        result = self._scripts(ws, deadline)
        if result.failure_reason in ("job_timeout", "canceled", "system_failure") or control.is_set():
            return result
        return self._deliver(job, ctx, result)

    @staticmethod
    def _deliver(job: Job, ctx: delivery.Context, result: JobResult) -> JobResult:
        """Save caches and upload artifacts after the scripts; an upload the forge does not take fails the job
        (``archived_failure``) unless it has failed already."""
        succeeded = result.state == "success"
        try:
            delivery.save_caches(ctx, job.cache, succeeded)
            if job.artifacts is not None:
                a = job.artifacts
                delivery.upload_artifacts(ctx, a.paths, a.exclude, a.untracked, a.when, a.expire_in, a.junit,
                                          succeeded)
        except delivery.DeliveryFailure as exc:
            if ctx.control.is_set():
                return ctx.control.result()
            error_line(ctx.out, str(exc))
            return JobResult("failed", result.exit_code, exc.reason) if succeeded else result
        except JobGone:
            ctx.control.cancel("canceled")
        if ctx.control.is_set():
            return ctx.control.result()
        return result

    def _scripts(self, ws: Workspace, deadline: float) -> JobResult:
        job, out, control = ws.job, ws.log, ws.control
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
