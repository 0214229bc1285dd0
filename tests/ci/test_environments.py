"""Environments and deployments recorded by the dispatcher: jobs made as rows (the way the pipeline code leaves
them, with ``environment`` in the spec and the column), claimed and finished through ``ci.dispatch`` exactly as a
runner's calls do, so the job hooks run in the dispatcher's own transactions."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from ci import dispatch, environments
from ci.config import envnames
from ci.models import MANUAL, SUCCESS, Job, Pipeline
from ci.models.environments import Deployment, Environment
from ci.tokens import Scope
from forge.db.engine import session_scope
from forge.db.models_base import utcnow
from forge.errors import InvalidInput, NotFound, PermissionDenied
from forge.repos import services as repos
from tests.ci.runner_helpers import job_spec, make_job, register, registration_token

URL = "http://forge.test"


def _env_spec(name: str, **extra: Any) -> dict[str, Any]:
    env: dict[str, Any] = {"name": name, "url": "", "action": "start", "on_stop": "", "deployment_tier": "",
                           "auto_stop_in": None}
    env.update(extra)
    return env


def _deploy_job(server, ref, runner, env_name: str, *, job_name: str = "deploy", sha: str = "a" * 40,  # type: ignore[no-untyped-def]
                pipeline_id: int | None = None, status: str = "pending", user_id: int | None = None,
                **env: Any) -> tuple[int, int]:
    """A pipeline (unless given) with a job ``job_name`` whose environment is ``env_name``; (pipeline id, job
    id)."""
    with session_scope(server.engine) as s:
        if pipeline_id is None:
            pipeline = Pipeline(repo_id=ref.repo.id, ref="main", sha=sha, status="running", triggered_by_id=user_id)
            s.add(pipeline)
            s.flush()
            pipeline_id = pipeline.id
    assert pipeline_id is not None
    spec = job_spec(environment=_env_spec(env_name, **env))
    job_id = make_job(server.engine, ref, pipeline_id, name=job_name, tags=runner.label, spec=spec, status=status)
    with session_scope(server.engine) as s:
        s.execute(update(Job).where(col(Job.id) == job_id).values(environment=env_name))
    return pipeline_id, job_id


def _claim(server, runner, expected: int) -> None:  # type: ignore[no-untyped-def]
    payload = dispatch.try_claim(server.engine, runner.id, URL)
    assert payload is not None and payload["id"] == expected, payload


def _report(server, job_id: int, state: str) -> None:  # type: ignore[no-untyped-def]
    with session_scope(server.engine) as s:
        job = s.get(Job, job_id)
        assert job is not None
        dispatch.report_state(s, job, state, 0 if state == SUCCESS else 1)


def _runner(server, factory):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    return owner, ref, register(server.engine, registration_token(server.engine, owner, Scope.repo(ref.repo)))


def _environment(server, repo_id: int, name: str) -> Environment | None:  # type: ignore[no-untyped-def]
    with session_scope(server.engine) as s:
        return s.exec(select(Environment).where(Environment.repo_id == repo_id, Environment.name == name)).first()


def _deployments(server, repo_id: int) -> list[Deployment]:  # type: ignore[no-untyped-def]
    with session_scope(server.engine) as s:
        return list(s.exec(select(Deployment).where(Deployment.repo_id == repo_id).order_by(col(Deployment.iid))))


# --- names ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "tier"), [
    ("production", "production"), ("PRODUCTION", "production"), ("prd-eu", "production"), ("live", "production"),
    ("staging", "staging"), ("pre-prod", "staging"), ("demo", "staging"), ("model", "staging"),
    ("test", "testing"), ("qa-2", "testing"), ("integration", "testing"), ("acceptance", "testing"),
    ("dev", "development"), ("review/feature-x", "development"), ("trunk", "development"),
    ("customer-portal", "other"), ("gprd", "production"),
    # GitLab's order: the first pattern that matches wins ("nonprod" is staging, "dev-prod" development).
    ("nonprod", "staging"), ("dev-prod", "development"),
])
def test_tier_is_guessed_from_the_name_as_gitlab_does(name: str, tier: str) -> None:
    assert envnames.environment_tier(name) == tier


def test_the_slug_is_the_one_jobs_get_as_ci_environment_slug() -> None:
    # One implementation (ci.config.envnames) for the variable and the environment row: they must never differ.
    for name in ("production", "review/feature-x", "PRODUCTION", "1/foo", "a" * 40):
        slug = envnames.environment_slug(name)
        assert len(slug) <= 24 and re.fullmatch(r"[a-z][a-z0-9-]*[a-z0-9]", slug), slug
    assert envnames.environment_slug("production") == "production"
    assert envnames.environment_slug("review/a.b") != envnames.environment_slug("review/a-b")


# --- deployments through the dispatcher ------------------------------------------------------------------------




def test_a_deploy_job_records_a_running_then_successful_deployment(server, factory):  # type: ignore[no-untyped-def]
    owner, ref, runner = _runner(server, factory)
    pipeline_id, job_id = _deploy_job(server, ref, runner, "production", url="https://example.com/app",
                                      on_stop="stop production", user_id=owner.id)
    assert _environment(server, ref.repo.id, "production") is None  # nothing until a runner takes the job

    _claim(server, runner, job_id)
    env = _environment(server, ref.repo.id, "production")
    assert env is not None and env.state == "available" and env.tier == "production" and env.slug == "production"
    [deployment] = _deployments(server, ref.repo.id)
    assert (deployment.iid, deployment.status, deployment.job_id, deployment.pipeline_id) == (1, "running", job_id,
                                                                                               pipeline_id)
    assert (deployment.sha, deployment.ref, deployment.user_id, deployment.on_stop) == ("a" * 40, "main", owner.id,
                                                                                         "stop production")
    assert deployment.started_at is not None and deployment.finished_at is None

    _report(server, job_id, SUCCESS)
    [deployment] = _deployments(server, ref.repo.id)
    assert deployment.status == "success" and deployment.finished_at is not None
    env = _environment(server, ref.repo.id, "production")
    assert env is not None and env.external_url == "https://example.com/app"
    with session_scope(server.engine) as s:
        current = environments.current_deployment(s, env)
        assert current is not None and current.iid == 1
        job = s.get(Job, job_id)
        assert job is not None
        facts = environments.job_page_facts(s, job)["env_block"]
        assert facts["name"] == "production" and facts["deployment"].iid == 1 and facts["url"].endswith("/app")


def test_a_failed_deployment_leaves_the_last_successful_one_current(server, factory):  # type: ignore[no-untyped-def]
    _, ref, runner = _runner(server, factory)
    _, first = _deploy_job(server, ref, runner, "staging", sha="1" * 40)
    _claim(server, runner, first)
    _report(server, first, SUCCESS)
    _, second = _deploy_job(server, ref, runner, "staging", sha="2" * 40)
    _claim(server, runner, second)
    _report(server, second, "failed")
    assert [(d.iid, d.status, d.sha[0]) for d in _deployments(server, ref.repo.id)] == [(1, "success", "1"),
                                                                                       (2, "failed", "2")]
    env = _environment(server, ref.repo.id, "staging")
    assert env is not None and env.tier == "staging"
    with session_scope(server.engine) as s:
        current = environments.current_deployment(s, env)
        assert current is not None and current.sha == "1" * 40


def test_canceled_deploy_job_cancels_its_deployment(server, factory):  # type: ignore[no-untyped-def]
    _, ref, runner = _runner(server, factory)
    _, job_id = _deploy_job(server, ref, runner, "review/fix-1")
    _claim(server, runner, job_id)
    with session_scope(server.engine) as s:
        s.execute(update(Job).where(col(Job.id) == job_id).values(cancel_requested=True))
    _report(server, job_id, "failed")
    [deployment] = _deployments(server, ref.repo.id)
    assert deployment.status == "canceled"
    env = _environment(server, ref.repo.id, "review/fix-1")
    assert env is not None and env.tier == "development" and env.slug == envnames.environment_slug("review/fix-1")


@pytest.mark.parametrize("action", ["prepare", "verify", "access"])
def test_prepare_verify_and_access_jobs_record_no_deployment(server, factory, action):  # type: ignore[no-untyped-def]
    _, ref, runner = _runner(server, factory)
    _, job_id = _deploy_job(server, ref, runner, "production", action=action)
    _claim(server, runner, job_id)
    _report(server, job_id, SUCCESS)
    assert _deployments(server, ref.repo.id) == []
    env = _environment(server, ref.repo.id, "production")
    assert env is not None and env.state == "available"


def test_deployment_tier_given_in_the_file_wins_over_the_guess(server, factory):  # type: ignore[no-untyped-def]
    _, ref, runner = _runner(server, factory)
    _, job_id = _deploy_job(server, ref, runner, "customer-portal", deployment_tier="production")
    _claim(server, runner, job_id)
    env = _environment(server, ref.repo.id, "customer-portal")
    assert env is not None and env.tier == "production"


def test_an_unsafe_url_is_not_kept(server, factory):  # type: ignore[no-untyped-def]
    _, ref, runner = _runner(server, factory)
    _, job_id = _deploy_job(server, ref, runner, "production", url="javascript:alert(1)")
    _claim(server, runner, job_id)
    _report(server, job_id, SUCCESS)
    env = _environment(server, ref.repo.id, "production")
    assert env is not None and env.external_url == ""


def test_a_stop_job_stops_the_environment_when_it_succeeds(server, factory):  # type: ignore[no-untyped-def]
    _, ref, runner = _runner(server, factory)
    pipeline_id, deploy = _deploy_job(server, ref, runner, "review/x", on_stop="stop review")
    _claim(server, runner, deploy)
    _report(server, deploy, SUCCESS)

    _, failing = _deploy_job(server, ref, runner, "review/x", job_name="stop review", pipeline_id=pipeline_id,
                             action="stop")
    _claim(server, runner, failing)
    env = _environment(server, ref.repo.id, "review/x")
    assert env is not None and env.state == "stopping"
    _report(server, failing, "failed")
    env = _environment(server, ref.repo.id, "review/x")
    assert env is not None and env.state == "available"  # a failed stop leaves it running

    _, stopping = _deploy_job(server, ref, runner, "review/x", job_name="stop review 2", pipeline_id=pipeline_id,
                              action="stop")
    _claim(server, runner, stopping)
    _report(server, stopping, SUCCESS)
    env = _environment(server, ref.repo.id, "review/x")
    assert env is not None and env.state == "stopped"
    assert len(_deployments(server, ref.repo.id)) == 1  # stop jobs are not deployments


def test_deployment_numbers_are_per_repository_and_unique_under_concurrent_claims(server, factory):  # type: ignore[no-untyped-def]
    owner, ref, _ = _runner(server, factory)
    secret = registration_token(server.engine, owner, Scope.repo(ref.repo))
    runners = [register(server.engine, secret, label=f"envrace{ref.repo.id}") for _ in range(4)]
    jobs = [_deploy_job(server, ref, runners[0], name)[1] for name in ("production", "staging", "production", "qa")]
    barrier = threading.Barrier(len(runners))
    errors: list[BaseException] = []

    def claim(runner_id: int) -> None:
        try:
            barrier.wait()
            assert dispatch.try_claim(server.engine, runner_id, URL) is not None
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=(r.id,)) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    deployments = _deployments(server, ref.repo.id)
    assert sorted(d.iid for d in deployments) == [1, 2, 3, 4]
    assert sorted(d.job_id or 0 for d in deployments) == sorted(jobs)
    with session_scope(server.engine) as s:
        names = s.exec(select(Environment.name).where(Environment.repo_id == ref.repo.id)).all()
    assert sorted(names) == ["production", "qa", "staging"]
    # Another repository starts again at #1.
    _, other_ref, other_runner = _runner(server, factory)
    _, other_job = _deploy_job(server, other_ref, other_runner, "production")
    _claim(server, other_runner, other_job)
    assert [d.iid for d in _deployments(server, other_ref.repo.id)] == [1]


def test_redeploy_runs_the_old_job_again_and_makes_its_commit_current(server, factory):  # type: ignore[no-untyped-def]
    owner, ref, runner = _runner(server, factory)
    _, first = _deploy_job(server, ref, runner, "production", sha="1" * 40, user_id=owner.id)
    _claim(server, runner, first)
    _report(server, first, SUCCESS)
    _, second = _deploy_job(server, ref, runner, "production", sha="2" * 40, user_id=owner.id)
    _claim(server, runner, second)
    _report(server, second, SUCCESS)
    maintainer = factory.user()
    with session_scope(server.engine) as s:
        repos.set_collaborator(s, owner, ref, maintainer, "write")
    env = _environment(server, ref.repo.id, "production")
    assert env is not None
    with session_scope(server.engine) as s:
        new_job = environments.redeploy(s, maintainer, env, 1)
        assert new_job.retry_of_id == first and new_job.status == "pending"
        new_id = new_job.id
    assert new_id is not None
    created = _deployments(server, ref.repo.id)[-1]
    assert (created.iid, created.status, created.user_id, created.sha) == (3, "created", maintainer.id, "1" * 40)
    _claim(server, runner, new_id)
    _report(server, new_id, SUCCESS)
    with session_scope(server.engine) as s:
        current = environments.current_deployment(s, env)
        assert current is not None and (current.iid, current.sha, current.user_id) == (3, "1" * 40, maintainer.id)
        rows, _ = environments.deployments_page(s, env, 1, 20)
        assert [(r.deployment.iid, r.redeploy_of_iid) for r in rows] == [(3, 1), (2, None), (1, None)]
    # A stranger may not; a number that is not one of this environment's deployments is not found.
    stranger = factory.user()
    with session_scope(server.engine) as s, pytest.raises(PermissionDenied):
        environments.redeploy(s, stranger, env, 1)
    with session_scope(server.engine) as s, pytest.raises(NotFound):
        environments.redeploy(s, maintainer, env, 99)


def test_only_a_successful_deployment_can_be_deployed_again(server, factory):  # type: ignore[no-untyped-def]
    owner, ref, runner = _runner(server, factory)
    _, job_id = _deploy_job(server, ref, runner, "production")
    _claim(server, runner, job_id)
    _report(server, job_id, "failed")
    env = _environment(server, ref.repo.id, "production")
    assert env is not None
    with session_scope(server.engine) as s, pytest.raises(InvalidInput):
        environments.redeploy(s, owner, env, 1)
    assert len(_deployments(server, ref.repo.id)) == 1


def test_auto_stop_plays_the_stop_job_or_stops_the_environment(server, factory):  # type: ignore[no-untyped-def]
    owner, ref, runner = _runner(server, factory)
    pipeline_id, deploy = _deploy_job(server, ref, runner, "review/auto", on_stop="stop review", auto_stop_in=3600,
                                      user_id=owner.id)
    _, stop_job = _deploy_job(server, ref, runner, "review/auto", job_name="stop review", pipeline_id=pipeline_id,
                              action="stop", status=MANUAL)
    _, plain = _deploy_job(server, ref, runner, "review/plain", auto_stop_in=60)
    for job_id in (deploy, plain):
        _claim(server, runner, job_id)
        _report(server, job_id, SUCCESS)
    env = _environment(server, ref.repo.id, "review/auto")
    assert env is not None and env.auto_stop_at is not None
    assert timedelta(minutes=59) < env.auto_stop_at - utcnow() <= timedelta(hours=1)
    environments.auto_stop(server.engine, server.settings)  # not due yet: nothing happens
    assert _environment(server, ref.repo.id, "review/auto").state == "available"  # type: ignore[union-attr]

    with session_scope(server.engine) as s:
        s.execute(update(Environment).where(col(Environment.repo_id) == ref.repo.id)
                  .values(auto_stop_at=utcnow() - timedelta(seconds=1)))
    environments.auto_stop(server.engine, server.settings)
    auto = _environment(server, ref.repo.id, "review/auto")
    assert auto is not None and auto.state == "stopping" and auto.auto_stop_at is None
    with session_scope(server.engine) as s:
        job = s.get(Job, stop_job)
        assert job is not None and job.status == "pending"  # played as the deployment's user
    plain_env = _environment(server, ref.repo.id, "review/plain")
    assert plain_env is not None and plain_env.state == "stopped"  # no stop job: just stopped
    _claim(server, runner, stop_job)
    _report(server, stop_job, SUCCESS)
    assert _environment(server, ref.repo.id, "review/auto").state == "stopped"  # type: ignore[union-attr]


def test_deployments_and_environments_are_paginated_newest_first(server, factory):  # type: ignore[no-untyped-def]
    _, ref, runner = _runner(server, factory)
    for n, name in enumerate(("production", "production", "production", "review/a", "review/b")):
        _, job_id = _deploy_job(server, ref, runner, name, sha=str(n) * 40)
        _claim(server, runner, job_id)
        _report(server, job_id, SUCCESS)
    env = _environment(server, ref.repo.id, "production")
    assert env is not None
    with session_scope(server.engine) as s:
        first, older = environments.deployments_page(s, env, 1, 2)
        assert [r.deployment.iid for r in first] == [3, 2] and older
        last, older = environments.deployments_page(s, env, 2, 2)
        assert [r.deployment.iid for r in last] == [1] and not older

        page1 = environments.list_environments(s, ref.repo.id, False, 1, 2)
        assert page1.has_more and page1.counts == {"available": 3, "stopped": 0}
        row, folder = page1.items
        assert isinstance(row, environments.EnvironmentRow) and row.environment.name == "production"
        assert row.latest is not None and row.latest.iid == 3 and row.status == "success"
        assert isinstance(folder, environments.Folder) and folder.name == "review"
        assert [r.environment.name for r in folder.rows] == ["review/a"]
        page2 = environments.list_environments(s, ref.repo.id, False, 2, 2)
        assert not page2.has_more and [r.environment.name for r in page2.items[0].rows] == ["review/b"]  # type: ignore[union-attr]
        assert environments.list_environments(s, ref.repo.id, True).items == []
