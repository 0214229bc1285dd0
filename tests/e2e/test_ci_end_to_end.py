"""CI from end to end with the real pieces: a push with real git to the live server makes a pipeline, the real
`forge-runner` program (registered through the real API with a token made on the repository's "Runners" settings
page) runs its jobs in Docker containers of the locally built busybox image, and what a user then sees — the
pipelines list, the job page and raw log, the commit list and commit page — tells the outcome.

The runner is a repository runner, so it never takes jobs of other tests sharing the server; it is always stopped
(SIGTERM, then SIGKILL) and no container it made may be left behind.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlmodel import col, select

from ci.models import Job, Pipeline
from forge.db.engine import session_scope
from forge.repos.services import RepoRef
from tests.ci_images import busybox_image, docker_client
from tests.factories import PASSWORD
from tests.gitclient import GitClient

RUNNER = Path(sys.executable).parent / "forge-runner"
DEADLINE = 90.0
FINAL = ("success", "failed", "canceled", "skipped", "config_error")
_TOKEN_RE = re.compile(r'<code class="runner-token">(frt_[A-Za-z0-9_-]+)</code>')


@dataclass
class StartedRunner:
    id: int
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def registration_token(web, ref: RepoRef) -> str:  # type: ignore[no-untyped-def]
    """A repository registration token, made the way its administrator does: on the repository's Runners page."""
    web.login(ref.owner.name, PASSWORD)
    base = f"/{ref.full_name}/settings/runners"
    made = web.submit(base, f"{base}/tokens", {})
    assert made.status_code == 200, made.text[:500]
    match = _TOKEN_RE.search(made.text)
    assert match is not None, "the Runners page did not show the new registration token"
    return match.group(1)


def leftover_containers(runner_id: int) -> list[str]:
    client = docker_client()
    try:
        found = client.containers.list(all=True, filters={"label": f"forge-runner.runner-id={runner_id}"})
        return [f"{c.name} ({c.status})" for c in found]
    finally:
        client.close()


@contextmanager
def forge_runner(server, tmp_path: Path, secret: str) -> Iterator[StartedRunner]:  # type: ignore[no-untyped-def]
    """Register `forge-runner` with ``secret`` and run it (docker executor) until the block ends."""
    config = tmp_path / "runner" / "config.toml"
    work_dir = tmp_path / "runner-work"
    work_dir.mkdir()
    reg = subprocess.run(
        [str(RUNNER), "register", "--url", server.url, "--token", secret, "--executor", "docker",
         "--name", f"e2e-{tmp_path.name}", "--work-dir", str(work_dir), "--config", str(config)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert reg.returncode == 0, f"forge-runner register failed ({reg.returncode}):\n{reg.stdout}\n{reg.stderr}"
    assert "Registered runner" in reg.stdout
    runner_id = tomllib.loads(config.read_text())["id"]
    assert isinstance(runner_id, int) and runner_id > 0
    log = tmp_path / "runner.log"
    with log.open("wb") as out:
        process = subprocess.Popen([str(RUNNER), "run", "--config", str(config)], stdout=out,
                                   stderr=subprocess.STDOUT)
    started = StartedRunner(runner_id, process, log)
    try:
        yield started
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        # The runner's own log stays clean: a healthy run reports no errors.
        assert " ERROR " not in started.output(), started.output()
        leftovers = leftover_containers(runner_id)
        assert not leftovers, f"containers left by runner {runner_id}: {leftovers}\n{started.output()}"
        workspaces = sorted(p.name for p in work_dir.iterdir())
        assert not workspaces, f"workspaces left in {work_dir}: {workspaces}"
    # Stopped by SIGTERM with no job running: a clean exit.
    assert process.returncode == 0, f"forge-runner run exited {process.returncode}:\n{started.output()}"


def push_project(git: GitClient, ref: RepoRef, files: dict[str, str], message: str) -> str:
    work = git.new_work(f"work-{ref.repo.name}")
    sha = work.commit(files, message)
    git.push_to(work.path, ref)
    return sha


def wait_pipeline(server, ref: RepoRef, runner: StartedRunner) -> Pipeline:  # type: ignore[no-untyped-def]
    """The repository's one pipeline once it has finished, failing with the runner's output after DEADLINE."""
    deadline = time.monotonic() + DEADLINE
    seen: list[tuple[int | None, str]] = []
    while time.monotonic() < deadline:
        with session_scope(server.engine) as s:
            rows = list(s.exec(select(Pipeline).where(Pipeline.repo_id == ref.repo.id)))
        seen = [(p.id, p.status) for p in rows]
        if len(rows) > 1:
            raise AssertionError(f"one push made several pipelines: {seen}")
        if rows and rows[0].status in FINAL:
            return rows[0]
        if runner.process.poll() is not None:
            raise AssertionError(f"forge-runner exited {runner.process.returncode}:\n{runner.output()}")
        time.sleep(0.25)
    raise AssertionError(f"no finished pipeline after {DEADLINE:.0f} s (pipelines: {seen}; jobs: "
                         f"{_job_states(server, ref)})\nrunner output:\n{runner.output()}")


def _job_states(server, ref: RepoRef) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {j.name: f"{j.status}/{j.failure_reason}" for j in pipeline_jobs(server, ref).values()}


def pipeline_jobs(server, ref: RepoRef) -> dict[str, Job]:  # type: ignore[no-untyped-def]
    with session_scope(server.engine) as s:
        rows = s.exec(select(Job).where(Job.repo_id == ref.repo.id).order_by(col(Job.id)))
        return {j.name: j for j in rows}


def _icon_state(html: str, url: str) -> str | None:
    """The state of the CI icon linking to ``url`` (the combined status in commit lists, a check on a commit)."""
    m = re.search(r'class="ci-icon ci-(\w+)" href="' + re.escape(url) + '"', html)
    return m.group(1) if m else None


def _assert_user_sees(web, ref: RepoRef, sha: str, pipeline_id: int, state: str, badge: str) -> None:  # type: ignore[no-untyped-def]
    base = f"/{ref.full_name}"
    pipeline_url = f"{base}/-/pipelines/{pipeline_id}"
    listing = web.get(f"{base}/-/pipelines")
    assert listing.status_code == 200, listing.text[:500]
    row = listing.text.split(f'href="{pipeline_url}"', 1)[1].split("</tr>", 1)[0]
    assert f'class="ci-badge ci-{state}"' in row and badge in row, row
    assert sha[:8] in listing.text

    page = web.get(pipeline_url)
    assert page.status_code == 200 and f"ci-badge ci-{state}" in page.text

    commits = web.get(f"{base}/commits/main")
    assert commits.status_code == 200
    assert _icon_state(commits.text, pipeline_url) == state, "the commit list does not show the pipeline's status"

    commit = web.get(f"{base}/commit/{sha}")
    assert commit.status_code == 200
    checks = commit.text.split('class="ci-checks"', 1)
    assert len(checks) == 2, "the commit page has no Checks section"
    assert "ci/forge" in checks[1] and f"Pipeline #{pipeline_id}" in checks[1]
    assert _icon_state(checks[1], pipeline_url) == state


def raw_log(web, ref: RepoRef, job: Job) -> str:  # type: ignore[no-untyped-def]
    resp = web.get(f"/{ref.full_name}/-/jobs/{job.id}/log")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain"), resp.text[:300]
    return resp.text


@pytest.fixture
def image() -> str:
    return busybox_image()


TWO_STAGES = """\
stages: [build, test]
build:
  stage: build
  image: {image}
  script:
    - cat README.md
    - echo "artifact of $CI_JOB_NAME" > out.txt
    - cat out.txt
    - echo "sha=$CI_COMMIT_SHA"
    - echo "marker-$((6 * 7))"
test:
  stage: test
  image: {image}
  needs: [build]
  script:
    - test -f README.md
    - echo "tested-$((1 + 1))"
"""


def test_push_runs_a_two_stage_pipeline_on_a_real_runner(server, factory, git, web, tmp_path, image):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    secret = registration_token(web, ref)
    with forge_runner(server, tmp_path, secret) as runner:
        sha = push_project(git, ref, {".forge-ci.yml": TWO_STAGES.format(image=image),
                               "README.md": "hello from the checkout\n"}, "add pipeline")
        pipeline = wait_pipeline(server, ref, runner)
        jobs = pipeline_jobs(server, ref)
        assert pipeline.status == "success", (_job_states(server, ref), runner.output())
    assert pipeline.sha == sha and pipeline.ref == "main"
    assert {name: j.status for name, j in jobs.items()} == {"build": "success", "test": "success"}
    assert all(j.runner_id == runner.id and j.exit_code == 0 for j in jobs.values())
    # `needs` was honoured: the test job started only after the build job finished.
    build, test = jobs["build"], jobs["test"]
    assert build.finished_at is not None and test.started_at is not None and test.started_at >= build.finished_at

    _assert_user_sees(web, ref, sha, pipeline.id, "success", "passed")

    log = raw_log(web, ref, build)
    assert "$ cat README.md" in log and "hello from the checkout" in log  # checked out on the host
    assert '$ echo "marker-$((6 * 7))"' in log and "\nmarker-42" in log  # the command, then its output
    assert "artifact of build" in log and f"sha={sha}" in log
    assert "tested-2" not in log
    test_log = raw_log(web, ref, test)
    assert "$ test -f README.md" in test_log and "tested-2" in test_log

    job_page = web.get(f"/{ref.full_name}/-/jobs/{build.id}")
    assert job_page.status_code == 200 and "ci-badge ci-success" in job_page.text
    assert "marker-42" in job_page.text  # the log rendered on the server, for readers without JavaScript


FAILING = """\
stages: [build, test]
build:
  stage: build
  image: {image}
  script:
    - echo "about to fail"
    - exit 3
    - echo "never-$((1 + 1))"
test:
  stage: test
  image: {image}
  script:
    - echo "should not run"
"""


def test_a_failing_script_fails_the_pipeline_and_the_commit(server, factory, git, web, tmp_path, image):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    secret = registration_token(web, ref)
    with forge_runner(server, tmp_path, secret) as runner:
        sha = push_project(git, ref, {".forge-ci.yml": FAILING.format(image=image)}, "break the build")
        pipeline = wait_pipeline(server, ref, runner)
        jobs = pipeline_jobs(server, ref)
    assert pipeline.status == "failed", _job_states(server, ref)
    build = jobs["build"]
    assert build.status == "failed" and build.failure_reason == "script_failure" and build.exit_code == 3
    assert jobs["test"].status == "skipped" and jobs["test"].runner_id is None

    _assert_user_sees(web, ref, sha, pipeline.id, "failed", "failed")
    log = raw_log(web, ref, build)
    assert "$ exit 3" in log and "\nabout to fail" in log
    assert "never-2" not in log and "never-" not in log  # sh -e stopped at the failing command
    assert "should not run" not in raw_log(web, ref, jobs["test"])


GITLAB_ONLY = """\
hello:
  image: {image}
  script:
    - echo "gitlab-$((20 + 3))"
"""


def test_a_gitlab_ci_file_alone_runs_too(server, factory, git, web, tmp_path, image):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    secret = registration_token(web, ref)
    with forge_runner(server, tmp_path, secret) as runner:
        sha = push_project(git, ref, {".gitlab-ci.yml": GITLAB_ONLY.format(image=image)}, "gitlab file")
        pipeline = wait_pipeline(server, ref, runner)
    assert pipeline.status == "success", _job_states(server, ref)
    assert pipeline.config_path == ".gitlab-ci.yml"
    hello = pipeline_jobs(server, ref)["hello"]
    assert hello.stage == "test"  # GitLab's default stage
    _assert_user_sees(web, ref, sha, pipeline.id, "success", "passed")
    assert "\ngitlab-23" in raw_log(web, ref, hello)
