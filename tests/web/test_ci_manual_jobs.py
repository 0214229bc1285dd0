"""Manual, delayed, resource-group and automatically retried jobs as people see them on the job page: a
maintainer (write access) plays a manual deploy job; a reader gets no button and is refused; delayed jobs show when
they start with "Start now" and "Unschedule"."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from sqlmodel import col

from ci import dispatch, pipelines
from ci.models import Job
from forge.db.engine import session_scope
from forge.db.models_base import utcnow
from forge.repos import services as repos
from tests.ci.pipeline_helpers import finish_job, jobs_by_name, only_pipeline, push_files, wait_seen
from tests.factories import PASSWORD

CONFIG = """\
stages: [build, deploy, verify]
build:
  stage: build
  script: [make]
deploy:
  stage: deploy
  when: manual
  allow_failure: false
  resource_group: production
  script: [ship]
canary:
  stage: deploy
  when: delayed
  start_in: 10 minutes
  script: [canary]
smoke:
  stage: verify
  script: [check]
"""


def _setup(server, factory, git):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    push_files(git, ref, {".forge-ci.yml": CONFIG}, name=f"work-{ref.repo.name}")
    wait_seen(server.engine, ref.repo.id)
    pipeline = only_pipeline(server.engine, ref.repo.id)
    assert pipeline.id is not None
    with session_scope(server.engine) as s:  # the planner stores start_in in the spec (600 s here)
        canary = s.get(Job, jobs_by_name(server.engine, pipeline.id)["canary"].id)
        assert canary is not None
        canary.spec = {**canary.spec, "start_in": 600}
        s.add(canary)
    finish_job(server.engine, pipeline.id, "build", "success")
    maintainer, reader = factory.user(), factory.user()
    with session_scope(server.engine) as s:
        repos.set_collaborator(s, owner, ref, maintainer, "write")
        repos.set_collaborator(s, owner, ref, reader, "read")
    return ref, pipeline.id, maintainer, reader


def test_manual_deploy_is_played_by_a_maintainer_and_refused_to_a_reader(server, factory, git, web):  # type: ignore[no-untyped-def]
    ref, pid, maintainer, reader = _setup(server, factory, git)
    e = server.engine
    deploy = jobs_by_name(e, pid)["deploy"]
    base = f"/{ref.full_name}/-"
    play = f'action="{base}/jobs/{deploy.id}/play"'
    with web.as_user(reader.name, PASSWORD) as other:
        page = other.get(f"{base}/jobs/{deploy.id}")
        assert page.status_code == 200 and "ci-badge ci-manual" in page.text and play not in page.text
        assert "Later jobs wait until this manual job has run successfully" in page.text
        refused = other.post(f"{base}/jobs/{deploy.id}/play")
        assert refused.status_code == 403
        assert "You do not have permission to do this in this repository." in refused.text
    assert web.post(f"{base}/jobs/{deploy.id}/play").status_code == 401  # anonymous: sign in first
    assert jobs_by_name(e, pid)["deploy"].status == "manual"  # nothing changed

    web.login(maintainer.name, PASSWORD)
    page = web.get(f"{base}/jobs/{deploy.id}")
    assert play in page.text
    resp = web.submit(f"{base}/jobs/{deploy.id}", f"{base}/jobs/{deploy.id}/play", {})
    assert resp.status_code == 303 and resp.headers["location"] == f"{base}/jobs/{deploy.id}"
    assert "The job was started." in web.follow(resp).text
    assert jobs_by_name(e, pid)["deploy"].status == "pending"
    # Playing it again explains itself.
    again = web.post(f"{base}/jobs/{deploy.id}/play")
    assert again.status_code == 303 and "is not waiting to be started by hand" in web.follow(again).text


def test_delayed_job_page_start_now_and_unschedule(server, factory, git, web):  # type: ignore[no-untyped-def]
    ref, pid, maintainer, reader = _setup(server, factory, git)
    e = server.engine
    canary = jobs_by_name(e, pid)["canary"]
    base = f"/{ref.full_name}/-"
    start_now = f'action="{base}/jobs/{canary.id}/start-now"'
    unschedule = f'action="{base}/jobs/{canary.id}/unschedule"'
    with web.as_user(reader.name, PASSWORD) as other:
        page = other.get(f"{base}/jobs/{canary.id}")
        assert "This job will start in 9 min" in page.text or "This job will start in 10 min" in page.text
        assert start_now not in page.text and unschedule not in page.text
        assert other.post(f"{base}/jobs/{canary.id}/start-now").status_code == 403
    assert jobs_by_name(e, pid)["canary"].status == "scheduled"
    web.login(maintainer.name, PASSWORD)
    page = web.get(f"{base}/jobs/{canary.id}")
    assert start_now in page.text and unschedule in page.text and "ci-badge ci-scheduled" in page.text
    resp = web.submit(f"{base}/jobs/{canary.id}", f"{base}/jobs/{canary.id}/unschedule", {})
    assert resp.status_code == 303
    page = web.follow(resp)
    assert "The job was unscheduled" in page.text and f'action="{base}/jobs/{canary.id}/play"' in page.text
    assert start_now not in page.text
    assert jobs_by_name(e, pid)["canary"].status == "manual"
    gone = web.post(f"{base}/jobs/{canary.id}/start-now")
    assert gone.status_code == 303 and "is not waiting for its delayed start" in web.follow(gone).text

    # Another pipeline: "Start now" queues the delayed job at once.
    with session_scope(e) as s:
        other_pid = pipelines.run_pipeline(s, server.settings, ref, maintainer, "main", {}).id
    assert other_pid is not None
    with session_scope(e) as s:
        job = s.get(Job, jobs_by_name(e, other_pid)["canary"].id)
        assert job is not None
        job.spec = {**job.spec, "start_in": 600}
        s.add(job)
    finish_job(e, other_pid, "build", "success")
    other_canary = jobs_by_name(e, other_pid)["canary"]
    assert other_canary.status == "scheduled"
    resp = web.submit(f"{base}/jobs/{other_canary.id}", f"{base}/jobs/{other_canary.id}/start-now", {})
    assert "The delayed job was started." in web.follow(resp).text
    assert jobs_by_name(e, other_pid)["canary"].status == "pending"


def test_waiting_for_resource_and_automatic_retry_are_explained(server, factory, git, web):  # type: ignore[no-untyped-def]
    ref, pid, maintainer, _ = _setup(server, factory, git)
    e = server.engine
    base = f"/{ref.full_name}/-"
    with session_scope(e) as s:
        second = pipelines.run_pipeline(s, server.settings, ref, maintainer, "main", {}).id
    assert second is not None
    finish_job(e, second, "build", "success")
    web.login(maintainer.name, PASSWORD)
    for p in (pid, second):
        deploy = jobs_by_name(e, p)["deploy"]
        web.submit(f"{base}/jobs/{deploy.id}", f"{base}/jobs/{deploy.id}/play", {})
    holder, waiting = jobs_by_name(e, pid)["deploy"], jobs_by_name(e, second)["deploy"]
    assert (holder.status, waiting.status) == ("pending", "waiting_for_resource")
    page = web.get(f"{base}/jobs/{waiting.id}")
    assert "Waiting for resource production." in page.text and f'href="{base}/jobs/{holder.id}"' in page.text
    assert "ci-badge ci-waiting_for_resource" in page.text

    # The holder fails; its retry keyword makes a new attempt, which the page explains.
    with session_scope(e) as s:
        job = s.get(Job, holder.id)
        assert job is not None
        job.spec = {**job.spec, "retry": {"max": 1, "when": ["always"], "exit_codes": []}}
        s.add(job)
        s.execute(update(Job).where(col(Job.id) == holder.id).values(status="running", started_at=utcnow()))
    with session_scope(e) as s:
        assert dispatch._finish(s, holder.id or 0, "failed", reason="script_failure", exit_code=1) is not None
    retried = jobs_by_name(e, pid)["deploy"]
    assert retried.id != holder.id and retried.retry_of_id == holder.id
    # The group went to the job that waited; the new attempt waits in turn.
    assert (jobs_by_name(e, second)["deploy"].status, retried.status) == ("pending", "waiting_for_resource")
    page = web.get(f"{base}/jobs/{retried.id}")
    assert "Retried automatically (attempt 2 of 2)" in page.text and f'href="{base}/jobs/{holder.id}"' in page.text
    assert (utcnow() - timedelta(minutes=5)) < (retried.queued_at or utcnow())
