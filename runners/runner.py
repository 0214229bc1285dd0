"""``forge-runner run``: ask the forge for jobs and run up to ``concurrency`` of them at once.

Threads: a poller long-polls for a job whenever a slot is free and starts a job thread for each job; a heartbeat
thread reports the running jobs every ``HEARTBEAT_INTERVAL`` seconds (its answer may cancel some); each job has a
watch thread whose long poll learns of a cancel at once, and a log uploader thread. ``stop(abort=...)`` is
called from the signal handlers: no new jobs are taken, and with ``abort`` the running ones are killed and reported
as failed (``system_failure``) rather than left to finish.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from runners.client import FINAL_STATES, LONG_POLL_WAIT, JobClient, RunnerClient
from runners.config import RunnerConfig
from runners.errors import ClientError, JobGone, ProtocolError, Stopped, Unauthorized
from runners.executors.common import Executor, JobControl, JobResult
from runners.logs import LogUploader
from runners.payload import Job

log = logging.getLogger("forge_runner")

HEARTBEAT_INTERVAL = 10.0


@dataclass
class RunningJob:
    job: Job
    control: JobControl = field(default_factory=JobControl)
    thread: threading.Thread | None = None


class Runner:
    def __init__(self, config: RunnerConfig, executor: Executor, *, once: bool = False,
                 poll_wait: int = LONG_POLL_WAIT, heartbeat_interval: float = HEARTBEAT_INTERVAL) -> None:
        self.config = config
        self.executor = executor
        self.once = once
        self.poll_wait = poll_wait
        self.heartbeat_interval = heartbeat_interval
        self._stopping = threading.Event()  # take no new jobs
        self._http_stop = threading.Event()  # give up retrying calls (after the running jobs were reported)
        # Heartbeats go on while running jobs finish after a stop; only the job request gives up at once.
        self.client = RunnerClient(config.url, config.token, stop=self._http_stop)
        self._slots = threading.Semaphore(config.concurrency)
        self._lock = threading.Lock()
        self._running: dict[int, RunningJob] = {}
        self.error: str | None = None  # why the runner stopped on its own (a revoked token...)
        self.jobs_run = 0

    # -- control -------------------------------------------------------------------------------------------------

    def stop(self, *, abort: bool) -> None:
        """Take no new jobs; with ``abort``, also kill the running ones (they are reported as failed)."""
        self._stopping.set()
        if abort:
            with self._lock:
                running = list(self._running.values())
            for rj in running:
                rj.control.cancel("system_failure")

    @property
    def running_ids(self) -> list[int]:
        with self._lock:
            return sorted(self._running)

    # -- main loop -----------------------------------------------------------------------------------------------

    def run(self) -> int:
        """Run until stopped (or, with ``once``, until one job is done); the exit code for the command."""
        log.info("forge-runner %s (%s executor, %d at once) polling %s", self.config.name, self.executor.name,
                 self.config.concurrency, self.config.url)
        poller = threading.Thread(target=self._poll_loop, name="poller", daemon=True)
        heart = threading.Thread(target=self._heartbeat_loop, name="heartbeat", daemon=True)
        poller.start()
        heart.start()
        # The main thread only waits, so signal handlers run at once (a blocking HTTP read would delay them).
        while not self._stopping.wait(0.2):
            pass
        self._join_jobs()
        # A poll in flight may still be waiting for the forge; a job it brings now is failed at once (_start). If it
        # takes longer, the process ends without it and the forge fails that job as "runner lost".
        poller.join(timeout=1.0)
        self._join_jobs()
        self._http_stop.set()
        self.client.close()
        return 1 if self.error else 0

    def _join_jobs(self) -> None:
        with self._lock:
            running = list(self._running.values())
        for rj in running:
            if rj.thread is not None:
                rj.thread.join()

    def _poll_loop(self) -> None:
        while not self._stopping.is_set():
            # Only ask for a job when one can start at once, so a job never waits in this runner.
            if not self._slots.acquire(timeout=0.5):
                continue
            try:
                job = self.client.request_job(self.poll_wait, stop=self._stopping)
            except Stopped:
                self._slots.release()
                return
            except Unauthorized as exc:
                self._fatal(str(exc))
                self._slots.release()
                return
            except ClientError as exc:
                log.error("asking for a job failed: %s", exc)
                self._slots.release()
                self._stopping.wait(5)
                continue
            if job is None:
                self._slots.release()
                continue
            self._start(job)
            if self.once:
                return

    def _fatal(self, message: str) -> None:
        log.error("%s", message)
        self.error = message
        self._stopping.set()

    def _start(self, job: Job) -> None:
        rj = RunningJob(job)
        rj.thread = threading.Thread(target=self._job_thread, args=(rj,), name=f"job-{job.id}")
        with self._lock:
            self._running[job.id] = rj
        if self._stopping.is_set():
            # Claimed while stopping: it cannot run here; fail it at once rather than leave it to "runner lost".
            rj.control.cancel("system_failure")
        rj.thread.start()

    def _heartbeat_loop(self) -> None:
        while not self._http_stop.wait(self.heartbeat_interval):
            try:
                cancel = self.client.heartbeat(self.running_ids)
            except Unauthorized as exc:
                self._fatal(f"The forge refused this runner's token ({exc}); register the runner again.")
                continue
            except ClientError as exc:
                log.warning("heartbeat failed: %s", exc)
                continue
            with self._lock:
                targets = [self._running[i] for i in cancel if i in self._running]
            for rj in targets:
                log.info("job %s: canceled by the forge (heartbeat)", rj.job.id)
                rj.control.cancel("canceled")

    # -- one job -------------------------------------------------------------------------------------------------

    def _job_thread(self, rj: RunningJob) -> None:
        job = rj.job
        try:
            self._run_job(rj)
        except Exception:
            log.exception("job %s: the runner failed", job.id)
        finally:
            with self._lock:
                self._running.pop(job.id, None)
            self.jobs_run += 1
            self._slots.release()
            if self.once:
                self._stopping.set()

    def _run_job(self, rj: RunningJob) -> None:
        job, control = rj.job, rj.control
        log.info("job %s (%s): started", job.id, job.name)
        client = JobClient(self.config.url, job, stop=self._http_stop)
        watch_client = JobClient(self.config.url, job, stop=self._http_stop)
        # Artifacts and caches get their own connection, so a big upload never delays the log or the watch; a cancel
        # (or the runner aborting, which cancels the job) stops a transfer at once.
        files_client = JobClient(self.config.url, job, stop=control.event)
        done = threading.Event()

        def on_state(state: str) -> None:
            if state == "canceled":
                control.cancel("canceled")

        uploader = LogUploader(client, job.log_offset, on_state=on_state, on_gone=lambda: control.cancel("canceled"))
        watcher = threading.Thread(target=self._watch, args=(watch_client, control, done), name=f"watch-{job.id}",
                                   daemon=True)
        try:
            try:
                on_state(client.report_state("running"))
            except JobGone:
                control.cancel("canceled")
            except ClientError as exc:
                # The final report says it all; the job need not wait for a forge that is away right now.
                log.warning("job %s: cannot report it running: %s", job.id, exc)
            watcher.start()
            if control.is_set():
                if control.reason == "system_failure":
                    uploader.write(b"The runner was stopping when it received this job, so it did not run it.\n")
                result = control.result()
            else:
                result = self.executor.run(job, uploader, control, files_client)
        finally:
            done.set()
            uploader.close()
            files_client.close()
        self._report(client, job, result)
        client.close()
        # The watch thread's long poll ends on its own within LONG_POLL_WAIT; it closes its client then.

    def _watch(self, client: JobClient, control: JobControl, done: threading.Event) -> None:
        try:
            while not done.is_set() and not control.is_set():
                try:
                    state = client.watch(LONG_POLL_WAIT)
                except JobGone:
                    if not done.is_set():
                        control.cancel("canceled")
                    return
                except ClientError as exc:
                    if done.is_set() or isinstance(exc, Stopped):
                        return
                    log.warning("job %s: watching for a cancel failed: %s", client.job_id, exc)
                    time.sleep(1.0)
                    continue
                if state == "canceled":
                    control.cancel("canceled")
                    return
                if state in FINAL_STATES:
                    return
        finally:
            client.close()

    def _report(self, client: JobClient, job: Job, result: JobResult) -> None:
        state = result.state
        reason = result.failure_reason
        try:
            try:
                current = client.report_state(state, exit_code=result.exit_code, failure_reason=reason)
            except ProtocolError as exc:
                # A forge that predates a newer failure reason (archived_failure) refuses it with 422; the job
                # must still end failed, so report the most general reason instead.
                if exc.status != 422 or reason in (None, "system_failure"):
                    raise
                log.warning("job %s: the forge refused the failure reason %s; reporting system_failure", job.id,
                            reason)
                reason = "system_failure"
                current = client.report_state(state, exit_code=result.exit_code, failure_reason=reason)
        except JobGone:
            log.info("job %s: the forge had already ended it", job.id)
            return
        except ClientError as exc:
            log.error("job %s: cannot report the result (%s): %s", job.id, state, exc)
            return
        log.info("job %s (%s): %s%s", job.id, job.name, current, f" ({reason})" if reason else "")
