"""CI delivery from end to end with the real pieces: a `.forge-ci.yml` pushed with real git, the real `forge-runner`
program (docker executor, locally built busybox image) and the forge's own runner protocol for artifacts and
caches. What is checked is what a user sees: job states and the raw logs, plus the Docker Engine holding no
container or network of the runner afterwards."""

from __future__ import annotations

import re
import time

import pytest
from sqlmodel import col, select

from ci.dispatch import FAILURE_REASONS
from ci.models import Job, Pipeline
from forge.db.engine import session_scope
from forge.repos.services import RepoRef
from tests.ci_images import busybox_image, docker_client
from tests.e2e.test_ci_end_to_end import (
    DEADLINE,
    FINAL,
    StartedRunner,
    forge_runner,
    pipeline_jobs,
    push_project,
    raw_log,
    registration_token,
    wait_pipeline,
)


@pytest.fixture
def image() -> str:
    return busybox_image()


def leftover_networks(runner_id: int) -> list[str]:
    client = docker_client()
    try:
        return [n.name for n in client.networks.list(filters={"label": f"forge-runner.runner-id={runner_id}"})]
    finally:
        client.close()


def states(server, ref: RepoRef) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {name: f"{j.status}/{j.failure_reason}" for name, j in pipeline_jobs(server, ref).items()}


def wait_pipelines(server, ref: RepoRef, runner: StartedRunner, count: int) -> list[Pipeline]:  # type: ignore[no-untyped-def]
    """The repository's pipelines once there are ``count`` and all have finished, oldest first."""
    deadline = time.monotonic() + DEADLINE
    seen: list[tuple[int | None, str]] = []
    while time.monotonic() < deadline:
        with session_scope(server.engine) as s:
            rows = list(s.exec(select(Pipeline).where(Pipeline.repo_id == ref.repo.id).order_by(col(Pipeline.id))))
        seen = [(p.id, p.status) for p in rows]
        if len(rows) == count and all(p.status in FINAL for p in rows):
            return rows
        if runner.process.poll() is not None:
            raise AssertionError(f"forge-runner exited {runner.process.returncode}:\n{runner.output()}")
        time.sleep(0.25)
    raise AssertionError(f"pipelines not finished after {DEADLINE:.0f} s: {seen}\n{runner.output()}")


def jobs_of(server, pipeline: Pipeline) -> dict[str, Job]:  # type: ignore[no-untyped-def]
    with session_scope(server.engine) as s:
        rows = s.exec(select(Job).where(Job.pipeline_id == pipeline.id).order_by(col(Job.id)))
        return {j.name: j for j in rows}


ARTIFACTS = """\
stages: [build, test]
build:
  stage: build
  image: {image}
  script:
    - mkdir -p dist/sub
    - echo "built-from-$CI_COMMIT_SHORT_SHA" > dist/app.txt
    - echo "nested" > dist/sub/deep.txt
    - echo "scratch" > dist/sub/drop.tmp
    - printf '<testsuite name="s" tests="1"><testcase name="t"/></testsuite>' > report.xml
  artifacts:
    paths: [dist/]
    exclude: ["dist/**/*.tmp"]
    expire_in: 1 week
    reports:
      junit: report.xml
test:
  stage: test
  image: {image}
  script:
    - cat dist/app.txt
    - cat dist/sub/deep.txt
    - test ! -e dist/sub/drop.tmp && echo "excluded-file-absent"
"""


def test_a_build_jobs_artifacts_reach_the_test_job(server, factory, git, web, tmp_path, image):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    secret = registration_token(web, ref)
    with forge_runner(server, tmp_path, secret) as runner:
        sha = push_project(git, ref, {".forge-ci.yml": ARTIFACTS.format(image=image)}, "artifacts")
        pipeline = wait_pipeline(server, ref, runner)
        jobs = pipeline_jobs(server, ref)
        assert pipeline.status == "success", (states(server, ref), runner.output())
        assert leftover_networks(runner.id) == []
    build_log = raw_log(web, ref, jobs["build"])
    assert "Uploading artifacts..." in build_log
    assert "dist/: found 5 matching artifact files and directories" in build_log  # dist, sub, 2 files + .tmp
    assert "dist/**/*.tmp: excluded 1 files" in build_log
    assert 'Uploading artifacts as "archive" to coordinator... 201 Created' in build_log
    assert 'Uploading artifacts as "junit" to coordinator... 201 Created  report.xml' in build_log
    test_log = raw_log(web, ref, jobs["test"])
    assert f"Downloading artifacts for build ({jobs['build'].id})..." in test_log
    assert f"\nbuilt-from-{sha[:8]}" in test_log and "\nnested" in test_log
    assert "\nexcluded-file-absent" in test_log


FAILING_WITH_ARTIFACTS = """\
build:
  image: {image}
  script:
    - echo "partial output" > log.txt
    - printf '<testsuite name="s" tests="1" failures="1">' > junit.xml
    - printf '<testcase name="t"><failure message="boom"/></testcase></testsuite>' >> junit.xml
    - exit 1
  artifacts:
    when: on_failure
    paths: [log.txt]
    reports:
      junit: junit.xml
only_success:
  image: {image}
  script:
    - echo "kept" > kept.txt
    - exit 2
  artifacts:
    paths: [kept.txt]
"""


def test_artifacts_follow_when_and_reports_are_uploaded_after_a_failure(server, factory, git, web, tmp_path,  # type: ignore[no-untyped-def]
                                                                          image):
    owner = factory.user()
    ref = factory.repo(owner)
    secret = registration_token(web, ref)
    with forge_runner(server, tmp_path, secret) as runner:
        push_project(git, ref, {".forge-ci.yml": FAILING_WITH_ARTIFACTS.format(image=image)}, "failing")
        pipeline = wait_pipeline(server, ref, runner)
        jobs = pipeline_jobs(server, ref)
    assert pipeline.status == "failed"
    assert jobs["build"].failure_reason == "script_failure" and jobs["build"].exit_code == 1
    build_log = raw_log(web, ref, jobs["build"])
    assert "Uploading artifacts for failed job" in build_log
    assert 'Uploading artifacts as "archive" to coordinator... 201 Created' in build_log
    assert 'Uploading artifacts as "junit" to coordinator... 201 Created  junit.xml' in build_log
    # artifacts:when defaults to on_success: a failed job uploads nothing (and there is no report to send).
    other = raw_log(web, ref, jobs["only_success"])
    assert "Uploading artifacts" not in other and jobs["only_success"].failure_reason == "script_failure"


CACHE = """\
build:
  image: {image}
  cache:
    key: deps-$CI_COMMIT_REF_SLUG
    paths: [deps/]
  script:
    - if [ -f deps/marker ]; then echo "restored:$(cat deps/marker)"; else echo "cold start"; fi
    - mkdir -p deps && echo "from-pipeline-$CI_PIPELINE_ID" > deps/marker
pull_only:
  image: {image}
  cache:
    key: never-written
    fallback_keys: [deps-main]
    paths: [deps/]
    policy: pull
  script:
    - if [ -f deps/marker ]; then echo "fallback:$(cat deps/marker)"; else echo "no fallback yet"; fi
"""


def test_a_cache_saved_by_one_pipeline_is_restored_by_the_next(server, factory, git, web, tmp_path, image):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    secret = registration_token(web, ref)
    work = git.new_work(f"work-{ref.repo.name}")
    with forge_runner(server, tmp_path, secret) as runner:
        work.commit({".forge-ci.yml": CACHE.format(image=image)}, "cache")
        git.push_to(work.path, ref)
        first = wait_pipelines(server, ref, runner, 1)[0]
        work.commit({"README.md": "second\n"}, "second")
        git.push_to(work.path, ref)
        second = wait_pipelines(server, ref, runner, 2)[1]
    assert first.status == "success" and second.status == "success", states(server, ref)
    one, two = jobs_of(server, first), jobs_of(server, second)

    log1 = raw_log(web, ref, one["build"])
    assert "Checking cache for deps-main..." in log1 and "No cache found for deps-main" in log1
    assert "\ncold start" in log1
    assert "Creating cache deps-main..." in log1 and "Created cache deps-main" in log1

    log2 = raw_log(web, ref, two["build"])
    assert "Successfully extracted cache deps-main" in log2
    assert f"\nrestored:from-pipeline-{first.id}" in log2

    # policy: pull never saves; its fallback key found the cache the other job saved (when it ran first).
    pull2 = raw_log(web, ref, two["pull_only"])
    assert "No cache found for never-written" in pull2
    assert "Successfully extracted cache deps-main" in pull2 and "\nfallback:from-pipeline-" in pull2
    assert "Creating cache" not in pull2


SERVICE = """\
probe:
  image: {image}
  services:
    - name: {image}
      alias: echo-server
      command:
        - sh
        - -c
        - mkdir -p /www && echo "pong-$SERVICE_WORD" > /www/index.html && httpd -f -p 8080 -h /www
      variables:
        SERVICE_WORD: from-service
    - name: {image}
      alias: tcp-echo
      command: ["nc", "-ll", "-p", "7000", "-e", "cat"]
  script:
    - for i in $(seq 1 50); do wget -q -O - http://echo-server:8080/ && break; sleep 0.2; done
    - >-
      for i in $(seq 1 50); do
      out=$(echo ping-over-tcp | nc -w 2 tcp-echo 7000) && [ -n "$out" ] && break; sleep 0.2; done
    - echo "echoed:$out"
"""


def test_a_service_is_reachable_by_its_alias(server, factory, git, web, tmp_path, image):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    secret = registration_token(web, ref)
    with forge_runner(server, tmp_path, secret) as runner:
        push_project(git, ref, {".forge-ci.yml": SERVICE.format(image=image)}, "service")
        pipeline = wait_pipeline(server, ref, runner)
        assert pipeline.status == "success", (states(server, ref), runner.output())
        assert leftover_networks(runner.id) == []
    log = raw_log(web, ref, pipeline_jobs(server, ref)["probe"])
    assert f"Starting service {image} ..." in log
    assert "\npong-from-service" in log and "\nechoed:ping-over-tcp" in log


MATRIX = """\
test:
  image: {image}
  parallel:
    matrix:
      - PROVIDER: [aws, gcp]
        STACK: [web, db]
  script:
    - echo "running $PROVIDER/$STACK as $CI_NODE_INDEX of $CI_NODE_TOTAL"
"""


def test_a_two_by_two_matrix_runs_four_jobs_each_with_its_variables(server, factory, git, web, tmp_path,  # type: ignore[no-untyped-def]
                                                                     image):
    owner = factory.user()
    ref = factory.repo(owner)
    secret = registration_token(web, ref)
    with forge_runner(server, tmp_path, secret) as runner:
        push_project(git, ref, {".forge-ci.yml": MATRIX.format(image=image)}, "matrix")
        pipeline = wait_pipeline(server, ref, runner)
        jobs = pipeline_jobs(server, ref)
    assert pipeline.status == "success", states(server, ref)
    assert sorted(jobs) == ["test: [aws, db]", "test: [aws, web]", "test: [gcp, db]", "test: [gcp, web]"]
    indexes = set()
    for name, job in jobs.items():
        provider, stack = re.fullmatch(r"test: \[(\w+), (\w+)\]", name).groups()  # type: ignore[union-attr]
        found = re.search(rf"\nrunning {provider}/{stack} as (\d) of 4\n", raw_log(web, ref, job))
        assert found, raw_log(web, ref, job)
        indexes.add(found.group(1))
    assert indexes == {"1", "2", "3", "4"}



TOO_BIG = """\
build:
  image: {image}
  script:
    - head -c {size} /dev/urandom > big.bin
    - echo "script done"
  artifacts:
    paths: [big.bin]
"""


def test_artifacts_the_forge_refuses_fail_the_job(server, factory, git, web, tmp_path, image):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    secret = registration_token(web, ref)
    size = (server.settings.ci_artifact_max_mb + 1) * 1024 * 1024  # random bytes: the zip is no smaller
    with forge_runner(server, tmp_path, secret) as runner:
        push_project(git, ref, {".forge-ci.yml": TOO_BIG.format(image=image, size=size)}, "too big")
        started = time.monotonic()
        pipeline = wait_pipeline(server, ref, runner)
        took = time.monotonic() - started
    build = pipeline_jobs(server, ref)["build"]
    assert pipeline.status == "failed" and build.status == "failed"
    # GitLab's reason; a forge that does not know it yet gets the general one (the runner retries with it).
    expected = "archived_failure" if "archived_failure" in FAILURE_REASONS else "system_failure"
    assert build.failure_reason == expected
    log = raw_log(web, ref, build)
    assert "\nscript done" in log
    assert 'Uploading artifacts as "archive" to coordinator... failed' in log and "413" in log
    assert "Job failed: " in log
    assert took < 60  # a refusal is not retried
