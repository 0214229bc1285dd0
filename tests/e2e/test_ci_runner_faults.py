"""CI when things go wrong, from end to end with the real pieces: a user cancels a running job from its page, a job
runs past its ``timeout``, the runner is killed (SIGKILL) in the middle of a job and the server's reaper notices, and
a pipeline file with an unknown key is pushed. Real git pushes to the live server, the real `forge-runner` program
with the Docker executor and the locally built busybox image, as in ``test_ci_end_to_end`` (whose helpers are used).

Every test checks that the job's container is gone afterwards: a cancel or a timeout must kill it at once, and the
container a killed runner leaves behind is removed by the test itself (nobody else could).
"""

from __future__ import annotations

import html
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from ci.dispatch import reap_lost_jobs
from ci.models import Job, Pipeline
from forge.db.engine import session_scope
from forge.repos.services import RepoRef
from tests.ci_images import busybox_image, docker_client
from tests.e2e.test_ci_end_to_end import (
    StartedRunner,
    forge_runner,
    leftover_containers,
    pipeline_jobs,
    push_project,
    raw_log,
    registration_token,
    wait_pipeline,
)

T = TypeVar("T")

# A cancel or a timeout must take effect within this many seconds.
PROMPT = 15.0
# Waiting for a job to start: the image is local, but the first job of a session may take a while.
START_DEADLINE = 60.0


@pytest.fixture
def image() -> str:
    return busybox_image()


def _until(what: str, probe: Callable[[], T | None], deadline: float, runner: StartedRunner | None = None) -> T:
    """Poll ``probe`` until it returns something, failing with ``what`` (and the runner's output) after ``deadline``."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        found = probe()
        if found is not None:
            return found
        if runner is not None and runner.process.poll() is not None:
            raise AssertionError(f"forge-runner exited {runner.process.returncode} while waiting for {what}:\n"
                                 f"{runner.output()}")
        time.sleep(0.2)
    output = f"\nrunner output:\n{runner.output()}" if runner is not None else ""
    raise AssertionError(f"{what}: not within {deadline:.0f} s{output}")


def _job(server, job_id: int) -> Job:  # type: ignore[no-untyped-def]
    with session_scope(server.engine) as s:
        job = s.get(Job, job_id)
        assert job is not None
        return job


def _pipeline(server, pipeline_id: int) -> Pipeline:  # type: ignore[no-untyped-def]
    with session_scope(server.engine) as s:
        pipeline = s.get(Pipeline, pipeline_id)
        assert pipeline is not None
        return pipeline


def _started_job(server, web, ref: RepoRef, name: str, runner: StartedRunner) -> Job:  # type: ignore[no-untyped-def]
    """The job ``name`` once it runs and its raw log (as a user reads it) shows the script's "started" line."""
    def probe() -> Job | None:
        job = pipeline_jobs(server, ref).get(name)
        if job is None or job.status != "running":
            return None
        return job if "\nstarted" in raw_log(web, ref, job) else None

    return _until(f"job {name} running and logging 'started'", probe, START_DEADLINE, runner)


def _finished(server, job_id: int, runner: StartedRunner | None, deadline: float) -> Job:  # type: ignore[no-untyped-def]
    def probe() -> Job | None:
        job = _job(server, job_id)
        return job if job.status not in ("created", "pending", "running") else None

    return _until(f"job #{job_id} finished", probe, deadline, runner)


def _no_containers(runner_id: int, deadline: float) -> None:
    _until(f"the containers of runner {runner_id} removed",
           lambda: True if not leftover_containers(runner_id) else None, deadline)


SLEEPER = """\
sleeper:
  image: {image}
  script:
    - echo started
    - sleep 60
    - echo never-reached
"""


def test_canceling_a_running_job_from_its_page_stops_it(server, factory, git, web, tmp_path, image):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    secret = registration_token(web, ref)  # also signs the owner in
    with forge_runner(server, tmp_path, secret) as runner:
        push_project(git, ref, {".forge-ci.yml": SLEEPER.format(image=image)}, "a long job")
        job = _started_job(server, web, ref, "sleeper", runner)
        assert leftover_containers(runner.id), "the running job has no container"

        page = f"/{ref.full_name}/-/jobs/{job.id}"
        canceled = web.submit(page, f"{page}/cancel", {})
        assert canceled.status_code in (200, 303), canceled.text[:500]
        asked = time.monotonic()

        done = _finished(server, job.id, runner, PROMPT)
        assert done.status == "canceled" and done.failure_reason == "canceled", (done.status, done.failure_reason)
        _no_containers(runner.id, PROMPT - (time.monotonic() - asked))
        assert time.monotonic() - asked < PROMPT
        pipeline = wait_pipeline(server, ref, runner)
    assert pipeline.status == "canceled"
    assert "never-reached" not in raw_log(web, ref, done)
    shown = web.get(page)
    assert shown.status_code == 200 and "ci-badge ci-canceled" in shown.text
    assert f'action="{page}/cancel"' not in shown.text  # nothing left to cancel


TIMEOUT = """\
slow:
  image: {image}
  timeout: 5s
  script:
    - echo started
    - sleep 60
    - echo never-reached
"""


def test_a_job_past_its_timeout_fails_and_its_container_goes(server, factory, git, web, tmp_path, image):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    secret = registration_token(web, ref)
    with forge_runner(server, tmp_path, secret) as runner:
        push_project(git, ref, {".forge-ci.yml": TIMEOUT.format(image=image)}, "a job that is too slow")
        job = _started_job(server, web, ref, "slow", runner)
        assert job.spec is not None and job.spec.get("timeout") == 5, job.spec
        assert job.started_at is not None
        done = _finished(server, job.id, runner, 5 + PROMPT)
        assert done.status == "failed" and done.failure_reason == "job_timeout", (done.status, done.failure_reason)
        assert done.finished_at is not None
        took = (done.finished_at - job.started_at).total_seconds()
        assert 5 <= took < 5 + PROMPT, took  # ended by its timeout, not by the end of `sleep 60`
        _no_containers(runner.id, PROMPT)
        pipeline = wait_pipeline(server, ref, runner)
    assert pipeline.status == "failed"
    assert "never-reached" not in raw_log(web, ref, done)


def _remove_orphans(runner_id: int, work_dir: Path) -> None:
    """What a SIGKILL-ed runner could not clean up: its containers and its job workspaces."""
    client = docker_client()
    try:
        for container in client.containers.list(all=True, filters={"label": f"forge-runner.runner-id={runner_id}"}):
            container.remove(force=True, v=True)
    finally:
        client.close()
    if work_dir.exists():
        for entry in work_dir.iterdir():
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def test_a_killed_runner_s_job_fails_as_runner_lost(server, factory, git, web, tmp_path, image):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    secret = registration_token(web, ref)
    # The live server reaps every 10 s with the default 60 s; here the reaper is called at once with a short limit.
    # (model_copy does not validate, so the limit may be below the setting's lower bound of 5 s.)
    quick = server.settings.model_copy(update={"ci_runner_lost_after": 2})
    checked = False
    try:
        with forge_runner(server, tmp_path, secret) as runner:
            try:
                push_project(git, ref, {".forge-ci.yml": SLEEPER.format(image=image)}, "a job whose runner dies")
                job = _started_job(server, web, ref, "sleeper", runner)
                assert leftover_containers(runner.id), "the running job has no container"

                runner.process.send_signal(signal.SIGKILL)
                runner.process.wait(timeout=10)
                # The container lives on: nobody is left to stop it.
                assert leftover_containers(runner.id), "a SIGKILL-ed runner's container vanished by itself"

                # The server is shared: earlier tests may have left running jobs of their own behind, which this
                # short limit reaps too; only this job matters here.
                _until("the reaper failing the job",
                       lambda: True if job.id in reap_lost_jobs(server.engine, quick) else None, PROMPT)
                done = _job(server, job.id)
                # Not before the job was silent for the limit (its last contact is stored only every few seconds).
                last_contact = done.last_contact_at or done.started_at
                assert done.finished_at is not None and last_contact is not None
                assert (done.finished_at - last_contact).total_seconds() >= 2, (last_contact, done.finished_at)
                assert done.status == "failed" and done.failure_reason == "runner_lost", (done.status,
                                                                                           done.failure_reason)
                assert done.pipeline_id is not None
                assert _pipeline(server, done.pipeline_id).status == "failed"
                assert job.id not in reap_lost_jobs(server.engine, quick)  # reaped once only
            finally:
                _remove_orphans(runner.id, tmp_path / "runner-work")
            checked = True
    except AssertionError as exc:
        # forge_runner's own last check is that the runner exited cleanly; here it was killed on purpose.
        if not checked or "forge-runner run exited -9" not in str(exc):
            raise
    else:
        raise AssertionError("forge_runner did not notice that the runner was killed")
    job_page = web.get(f"/{ref.full_name}/-/jobs/{job.id}")
    assert job_page.status_code == 200 and "ci-badge ci-failed" in job_page.text


UNKNOWN_KEY = """\
build:
  image: {image}
  script:
    - echo "never-$((1 + 1))"
  colour: blue
"""


def test_a_pipeline_file_with_an_unknown_key_shows_its_error_and_runs_nothing(server, factory, git, web, tmp_path,  # type: ignore[no-untyped-def]
                                                                             image):
    owner = factory.user()
    ref = factory.repo(owner)
    secret = registration_token(web, ref)
    with forge_runner(server, tmp_path, secret) as runner:
        sha = push_project(git, ref, {".forge-ci.yml": UNKNOWN_KEY.format(image=image)}, "a typo in the pipeline")
        pipeline = wait_pipeline(server, ref, runner)
        # Give the runner a moment in which it could (wrongly) have taken a job.
        time.sleep(1.0)
        assert pipeline_jobs(server, ref) == {}
    assert pipeline.status == "config_error" and pipeline.config_path == ".forge-ci.yml"

    commit = web.get(f"/{ref.full_name}/commit/{sha}")
    assert commit.status_code == 200
    checks = commit.text.split('class="ci-checks"', 1)
    assert len(checks) == 2, "the commit page has no Checks section"
    errors = checks[1].split('class="flash flash-error ci-config-errors"', 1)
    assert len(errors) == 2, "the commit page does not show the pipeline file's errors"
    box = html.unescape(errors[1].split("</div>", 1)[0])
    assert "The pipeline file .forge-ci.yml has errors; no job was run." in box
    assert f'href="/{ref.full_name}/blob/{sha}/.forge-ci.yml#L5">line 5</a>' in box, box
    assert "unknown key “colour”" in box, box
