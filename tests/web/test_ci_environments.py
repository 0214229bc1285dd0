"""Environments pages over the live server: pipelines made by real pushes of a file with deploy and stop jobs, the
jobs run through the runner protocol's dispatcher calls (claim, state report) so deployments are recorded the way
a runner makes them; then what a person sees and does: the list, an environment's deployments, re-deploy of an
earlier deployment (rollback), Stop through ``on_stop``, and who may do what."""

from __future__ import annotations

import re

from ci import dispatch, pipelines
from ci.models import SUCCESS, Job
from ci.tokens import Scope
from forge.db.engine import session_scope
from forge.repos import services as repos
from tests.ci import runner_helpers
from tests.ci.pipeline_helpers import jobs_by_name, repo_pipelines, wait_seen
from tests.ci.runner_helpers import register, registration_token
from tests.factories import PASSWORD, unique


def _config(label: str) -> str:
    return f"""\
stages: [build, deploy]
default:
  tags: [{label}]
build:
  stage: build
  script: [make]
deploy:
  stage: deploy
  script: [./deploy.sh]
  environment:
    name: production
    url: https://prod.example.com/
    on_stop: stop production
stop production:
  stage: deploy
  script: [./undeploy.sh]
  when: manual
  environment:
    name: production
    action: stop
review:
  stage: deploy
  script: [./review.sh]
  environment:
    name: review/$CI_COMMIT_REF_NAME
"""


def _setup(server, factory, git, private=False):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner, private=private)
    label = unique("envlbl")
    runner = register(server.engine, registration_token(server.engine, owner, Scope.repo(ref.repo)), label=label)
    work = git.new_work(f"work-{ref.repo.name}")
    return owner, ref, runner, work, label


def _push(server, git, ref, work, label, count, text):  # type: ignore[no-untyped-def]
    """Commit a change (and the pipeline file) and push it; the new pipeline's id and the commit's sha."""
    sha = work.commit({".forge-ci.yml": _config(label), "version.txt": text}, f"release {text}")
    git.push_to(work.path, ref)
    wait_seen(server.engine, ref.repo.id, count)
    return repo_pipelines(server.engine, ref.repo.id)[-1].id, sha


def _run(server, runner: runner_helpers.TestRunner, job_id: int, state: str = SUCCESS) -> None:  # type: ignore[no-untyped-def]
    """What a runner does with a job: take it (the dispatcher's claim) and report how it ended."""
    payload = dispatch.try_claim(server.engine, runner.id, server.url)
    assert payload is not None and payload["id"] == job_id, payload
    with session_scope(server.engine) as s:
        job = s.get(Job, job_id)
        assert job is not None
        dispatch.report_state(s, job, state, 0 if state == SUCCESS else 1)


def _deploy_pipeline(server, runner, pipeline_id: int) -> None:  # type: ignore[no-untyped-def]
    jobs = jobs_by_name(server.engine, pipeline_id)
    _run(server, runner, jobs["build"].id)  # type: ignore[arg-type]
    jobs = jobs_by_name(server.engine, pipeline_id)
    _run(server, runner, jobs["deploy"].id)  # type: ignore[arg-type]
    _run(server, runner, jobs["review"].id)  # type: ignore[arg-type]


def _env_id(html: str, base: str, name: str) -> int:
    m = re.search(re.escape(base) + r'/-/environments/(\d+)">' + re.escape(name) + "<", html)
    assert m, html[:3000]
    return int(m.group(1))


def _current_sha(html: str) -> str:
    m = re.search(r'<code class="env-current-sha">([0-9a-f]+)</code>', html)
    assert m, html[:3000]
    return m.group(1)


def test_deployments_are_listed_rolled_back_and_stopped(server, factory, git, web):  # type: ignore[no-untyped-def]
    owner, ref, runner, work, label = _setup(server, factory, git)
    base = f"/{ref.full_name}"
    first_pipeline, first_sha = _push(server, git, ref, work, label, 1, "1")
    _deploy_pipeline(server, runner, first_pipeline)

    listing = web.get(f"{base}/-/environments")
    assert listing.status_code == 200, listing.text[:500]
    env_id = _env_id(listing.text, base, "production")
    assert first_sha[:8] in listing.text and owner.name in listing.text and "#1" in listing.text
    assert 'href="https://prod.example.com/"' in listing.text
    # review/main is shown inside the "review/" folder, by its short name.
    assert 'class="env-folder-name">review/</span>' in listing.text
    assert re.search(r'/-/environments/\d+">main</a>', listing.text)

    # The environment's slug is the CI_ENVIRONMENT_SLUG the job was given.
    review_id = _env_id(listing.text, base, "main")
    review_job = jobs_by_name(server.engine, first_pipeline)["review"]
    review_vars = {v["key"]: v["value"] for v in review_job.spec["variables"]}
    assert review_vars["CI_ENVIRONMENT_NAME"] == "review/main"
    assert f"<code>{review_vars['CI_ENVIRONMENT_SLUG']}</code>" in web.get(f"{base}/-/environments/{review_id}").text

    second_pipeline, second_sha = _push(server, git, ref, work, label, 2, "2")
    _deploy_pipeline(server, runner, second_pipeline)
    page = web.get(f"{base}/-/environments/{env_id}")
    assert page.status_code == 200
    assert _current_sha(page.text) == second_sha[:8]
    rows = re.findall(r'<tr id="deployment-(\d+)"', page.text)
    assert [int(r) for r in rows] == sorted((int(r) for r in rows), reverse=True)  # newest first
    assert "/redeploy" not in page.text and "/stop" not in page.text  # a reader (not signed in) gets no buttons

    web.login(owner.name, PASSWORD)
    page = web.get(f"{base}/-/environments/{env_id}")
    m = re.search(r'href="(' + re.escape(base) + r'/-/environments/\d+/deployments/(\d+)/redeploy)">Roll back<',
                  page.text)
    assert m, page.text[:4000]
    confirm = web.get(m.group(1))
    assert confirm.status_code == 200 and "Roll back production?" in confirm.text and first_sha[:8] in confirm.text
    done = web.submit(m.group(1), m.group(1), {})
    assert done.status_code == 303, done.text[:500]
    new_job_id = int(done.headers["location"].rsplit("/", 1)[1])
    with session_scope(server.engine) as s:
        new_job = s.get(Job, new_job_id)
        assert new_job is not None and new_job.pipeline_id == first_pipeline and new_job.name == "deploy"
    job_page = web.follow(done)
    assert "This job deploys to" in job_page.text and f'/-/environments/{env_id}">production</a>' in job_page.text
    _run(server, runner, new_job_id)

    # Rolled back: the first commit is what production runs, deployed by the person who pressed the button.
    page = web.get(f"{base}/-/environments/{env_id}")
    assert _current_sha(page.text) == first_sha[:8]
    assert f"re-deploy of #{m.group(2)}" in page.text
    listing = web.get(f"{base}/-/environments")
    row = re.search(r'/-/environments/' + str(env_id) + r'">production</a>.*?</tr>', listing.text, re.S)
    assert row and first_sha[:8] in row.group(0) and second_sha[:8] not in row.group(0)
    job_page = web.get(f"{base}/-/jobs/{new_job_id}")
    assert "This job deployed to" in job_page.text and "https://prod.example.com/" in job_page.text

    # Stop plays "stop production" of the pipeline of the current deployment (the first one).
    stopped = web.follow(web.submit(f"{base}/-/environments/{env_id}", f"{base}/-/environments/{env_id}/stop", {}))
    assert stopped.status_code == 200 and "Stopping environment production." in stopped.text
    assert "env-state-stopping" in stopped.text
    stop_job = jobs_by_name(server.engine, first_pipeline)["stop production"]
    assert stop_job.status == "pending"
    _run(server, runner, stop_job.id)  # type: ignore[arg-type]
    listing = web.get(f"{base}/-/environments?scope=stopped")
    assert f'/-/environments/{env_id}">production</a>' in listing.text
    assert f'/-/environments/{env_id}">production</a>' not in web.get(f"{base}/-/environments").text
    job_page = web.get(f"{base}/-/jobs/{stop_job.id}")
    assert "This job stops the environment" in job_page.text

    # Stopping again is refused with a message; a stopped environment can be deleted.
    again = web.post(f"{base}/-/environments/{env_id}/stop", {}, follow=True)
    assert "is already stopped" in again.text
    gone = web.follow(web.submit(f"{base}/-/environments/{env_id}", f"{base}/-/environments/{env_id}/delete", {}))
    assert gone.status_code == 200 and "Environment production was deleted." in gone.text
    assert web.get(f"{base}/-/environments/{env_id}").status_code == 404


def test_a_reader_sees_a_public_environment_but_may_not_act(server, factory, git, web):  # type: ignore[no-untyped-def]
    owner, ref, runner, work, label = _setup(server, factory, git)
    base = f"/{ref.full_name}"
    pipeline_id, _ = _push(server, git, ref, work, label, 1, "1")
    _deploy_pipeline(server, runner, pipeline_id)
    env_id = _env_id(web.get(f"{base}/-/environments").text, base, "production")
    reader = factory.user()
    web.login(reader.name, PASSWORD)
    page = web.get(f"{base}/-/environments/{env_id}")
    assert page.status_code == 200 and "production" in page.text
    assert "/redeploy" not in page.text and "/stop" not in page.text and "/delete" not in page.text
    assert web.get(f"{base}/-/environments/{env_id}/deployments/1/redeploy").status_code in (403, 404)
    for action in ("stop", "deployments/1/redeploy"):
        refused = web.post(f"{base}/-/environments/{env_id}/{action}", {}, follow=False)
        assert refused.status_code == 403, (action, refused.status_code)
    # Nothing changed: still available, no new job.
    page = web.get(f"{base}/-/environments/{env_id}")
    assert "env-state-available" in page.text
    with session_scope(server.engine) as s:
        assert len(pipelines.jobs_of(s, pipeline_id)) == 4
    # A writer (collaborator) gets the buttons.
    with session_scope(server.engine) as s:
        repos.set_collaborator(s, owner, ref, reader, "write")
    page = web.get(f"{base}/-/environments/{env_id}")
    assert f"{base}/-/environments/{env_id}/stop" in page.text and "/deployments/1/redeploy" in page.text


def test_a_stranger_gets_404_on_a_private_repository(server, factory, git, web):  # type: ignore[no-untyped-def]
    owner, ref, runner, work, label = _setup(server, factory, git, private=True)
    base = f"/{ref.full_name}"
    pipeline_id, _ = _push(server, git, ref, work, label, 1, "1")
    _deploy_pipeline(server, runner, pipeline_id)
    with web.as_user(owner.name, PASSWORD) as owner_web:
        env_id = _env_id(owner_web.get(f"{base}/-/environments").text, base, "production")
    assert web.get(f"{base}/-/environments").status_code == 404  # not signed in
    stranger = factory.user()
    web.login(stranger.name, PASSWORD)
    assert web.get(f"{base}/-/environments").status_code == 404
    assert web.get(f"{base}/-/environments/{env_id}").status_code == 404
    assert web.post(f"{base}/-/environments/{env_id}/stop", {}, follow=False).status_code == 404
    assert web.post(f"{base}/-/environments/{env_id}/deployments/1/redeploy", {}, follow=False).status_code == 404


def test_empty_list_explains_environments(server, factory, web):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    page = web.get(f"/{ref.full_name}/-/environments")
    assert page.status_code == 200 and "No environments yet." in page.text
    assert 'class="active">Environments</a>' in page.text
    assert web.get(f"/{ref.full_name}/-/environments/999999").status_code == 404
