"""Repository CI/CD variables with the real pieces: set on the settings page, pushed with real git, run by the real
`forge-runner` in Docker. A masked secret the script prints never reaches the job log; a protected variable
reaches the pipeline of the protected branch and not that of an unprotected one; a file variable arrives as the
path of a file holding the value."""

from __future__ import annotations

import time

import pytest
from sqlmodel import select

from ci.models import Job, Pipeline
from forge.db.engine import session_scope
from forge.repos import protection
from tests.ci_images import busybox_image
from tests.e2e.test_ci_end_to_end import DEADLINE, FINAL, StartedRunner, forge_runner, raw_log, registration_token
from tests.factories import PASSWORD, unique

PIPELINE = """\
show:
  image: {image}
  script:
    - echo "secret=$DEPLOY_SECRET"
    - echo "twice:$DEPLOY_SECRET:$DEPLOY_SECRET"
    - echo "protected=[${{PROD_ONLY:-withheld}}]"
    - echo "file-path=$SETTINGS_FILE"
    - cat "$SETTINGS_FILE"
    - test -f "$SETTINGS_FILE"
"""


@pytest.fixture
def image() -> str:
    return busybox_image()


def _add(web, base: str, **fields: str) -> None:  # type: ignore[no-untyped-def]
    data = {"description": "", "environment_scope": "*", "variable_type": "env_var", "expand": "on", **fields}
    resp = web.submit(base, base, data)
    assert resp.status_code == 303, resp.text[:500]


def _wait_pipelines(server, repo_id: int, count: int, runner: StartedRunner) -> dict[str, Pipeline]:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + DEADLINE
    seen: dict[str, Pipeline] = {}
    while time.monotonic() < deadline:
        with session_scope(server.engine) as s:
            seen = {p.ref: p for p in s.exec(select(Pipeline).where(Pipeline.repo_id == repo_id))}
        if len(seen) == count and all(p.status in FINAL for p in seen.values()):
            return seen
        if runner.process.poll() is not None:
            raise AssertionError(f"forge-runner exited {runner.process.returncode}:\n{runner.output()}")
        time.sleep(0.25)
    raise AssertionError(f"pipelines not finished: {[(r, p.status) for r, p in seen.items()]}\n{runner.output()}")


def _job(server, pipeline_id: int) -> Job:  # type: ignore[no-untyped-def]
    with session_scope(server.engine) as s:
        job = s.exec(select(Job).where(Job.pipeline_id == pipeline_id)).one()
        return job


def test_masked_protected_and_file_variables_on_a_real_runner(server, factory, git, web, tmp_path, image):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    with session_scope(server.engine) as s:
        protection.save_rule(s, owner, ref, "main")
    web.login(owner.name, PASSWORD)
    base = f"/{ref.full_name}/settings/ci/variables"
    secret = "Sup3r-" + unique("s") + "-secret"
    _add(web, base, key="DEPLOY_SECRET", value=secret, masked="on")
    _add(web, base, key="PROD_ONLY", value="production-value", protected="on")
    _add(web, base, key="SETTINGS_FILE", value="line one\nline two\n", variable_type="file")

    token = registration_token(web, ref)
    with forge_runner(server, tmp_path, token) as runner:
        work = git.new_work(f"work-{ref.repo.name}")
        work.commit({".forge-ci.yml": PIPELINE.format(image=image)}, "show variables")
        work.git("branch", "feature")
        git.push_to(work.path, ref, "main", "feature")
        pipelines = _wait_pipelines(server, ref.repo.id, 2, runner)
    assert {r: p.status for r, p in pipelines.items()} == {"main": "success", "feature": "success"}, runner.output()

    main_log = raw_log(web, ref, _job(server, pipelines["main"].id))
    feature_log = raw_log(web, ref, _job(server, pipelines["feature"].id))
    for log in (main_log, feature_log):
        assert secret not in log, log
        assert "\nsecret=[MASKED]\n" in log and "\ntwice:[MASKED]:[MASKED]\n" in log
        # The file variable is a path (not the value), and the file holds the value.
        path_line = next(line for line in log.splitlines() if line.startswith("file-path="))
        assert path_line.startswith("file-path=/") and "line one" not in path_line
        assert "\nline one\nline two\n" in log
    assert "\nprotected=[production-value]\n" in main_log  # main is protected
    assert "\nprotected=[withheld]\n" in feature_log and "production-value" not in feature_log

    # The job page (what readers see) shows the masked text too.
    page = web.get(f"/{ref.full_name}/-/jobs/{_job(server, pipelines['main'].id).id}")
    assert page.status_code == 200 and secret not in page.text and "secret=[MASKED]" in page.text
