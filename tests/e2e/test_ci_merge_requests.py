"""A pull request from a fork, end to end with the real `forge-runner` (shell executor: no Docker needed): the merge
request pipeline runs in the base repository, the runner fetches the fork's commit from the base's
``refs/pull/<n>/head`` with its job token, the job sees the CI_MERGE_REQUEST_* variables and none of the base
repository's secrets, and the raw job log a reader fetches says so."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlmodel import select

from ci.models import Job
from ci.project_variables import Place, VariableInput, create_variable
from ci.tokens import Scope
from forge.db.engine import session_scope
from forge.repos import services as repos
from tests.ci.merge_request_helpers import handled, mr_pipelines, open_pull, push_branch, start_repo
from tests.ci.runner_helpers import registration_token
from tests.factories import unique

RUNNER = Path(sys.executable).parent / "forge-runner"

PIPELINE = """\
show:
  tags: [{tag}]
  only: [merge_requests]
  script:
    - echo "source=$CI_PIPELINE_SOURCE iid=$CI_MERGE_REQUEST_IID from=$CI_MERGE_REQUEST_SOURCE_PROJECT_PATH"
    - echo "secret=${{DEPLOY_TOKEN:-none}}"
    - cat out.txt
"""


def test_a_fork_pull_request_runs_on_the_real_runner_without_secrets(server, factory, git, tmp_path):  # type: ignore[no-untyped-def]
    owner = factory.user()
    contributor = factory.user()
    base = factory.repo(owner)
    tag = unique("t")
    work = start_repo(git, base, tag, pipeline=PIPELINE)
    with session_scope(server.engine) as s:
        create_variable(s, owner, Place.of_repo(base), VariableInput(key="DEPLOY_TOKEN", value="base-secret-value"))
        fork = repos.fork_repository(s, server.settings.repos_dir, server.settings.git_bin, contributor, base)
    head = push_branch(git, work, fork, "patch", {"out.txt": "from the fork\n"}, "Patch", user=contributor)
    pull_id, number, opened = open_pull(server, base, fork, "patch", contributor)
    handled(server, opened)
    [pipeline] = mr_pipelines(server, pull_id)

    config = tmp_path / "runner.toml"
    work_dir = tmp_path / "runner-work"
    work_dir.mkdir()
    secret = registration_token(server.engine, owner, Scope.repo(base.repo))
    reg = subprocess.run([str(RUNNER), "register", "--url", server.url, "--token", secret, "--executor", "shell",
                          "--labels", tag, "--name", unique("mr"), "--work-dir", str(work_dir), "--config",
                          str(config)], capture_output=True, text=True, timeout=60, check=False)
    assert reg.returncode == 0, reg.stdout + reg.stderr
    run = subprocess.run([str(RUNNER), "run", "--once", "--config", str(config)], capture_output=True, text=True,
                         timeout=120, check=False)
    assert run.returncode == 0, run.stdout + run.stderr

    deadline = time.monotonic() + 30
    while True:
        with session_scope(server.engine) as s:
            job = s.exec(select(Job).where(Job.pipeline_id == pipeline.id)).one()
        if job.status in ("success", "failed"):
            break
        assert time.monotonic() < deadline, f"job still {job.status}"
        time.sleep(0.2)
    text = httpx.get(f"{server.url}/{base.full_name}/-/jobs/{job.id}/log", timeout=30).text
    assert job.status == "success", text
    assert f"source=merge_request_event iid={number} from={fork.full_name}" in text
    assert "secret=none" in text and "base-secret-value" not in text
    assert "from the fork" in text
    assert head[:8] in text  # "Checked out <sha>"
