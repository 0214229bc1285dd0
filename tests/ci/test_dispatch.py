"""The dispatcher against the real database: registration tokens and scopes, handing out jobs exactly once (also to
racing threads), label and scope matching, concurrency, the long poll, state reports, heartbeats, and the reapers
for lost runners and overdue jobs."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from ci import dispatch, tokens
from ci.models import CANCELED, FAILED, PENDING, RUNNING, SUCCESS, Job, Pipeline, RegistrationToken, Runner
from ci.tokens import Scope
from forge.db.engine import session_scope
from forge.errors import AuthenticationRequired, InvalidInput, NotFound, PermissionDenied
from forge.settings import Settings
from tests.ci.runner_helpers import (
    backdate_contact,
    get_job,
    make_job,
    make_pipeline,
    register,
    registration_token,
    set_job,
)

URL = "http://forge.test"

T = TypeVar("T")


def _run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on a fresh event loop in its own thread: the browser tests' Playwright keeps an event loop
    running in the main thread for the whole session, where ``asyncio.run`` refuses to start."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _claim(server, runner):  # type: ignore[no-untyped-def]
    return dispatch.try_claim(server.engine, runner.id, URL)


def _repo_runner(server, factory, **kwargs):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    runner = register(server.engine, registration_token(server.engine, owner, Scope.repo(ref.repo)), **kwargs)
    return owner, ref, runner


# --- registration tokens -----------------------------------------------------------------------------------


def test_registration_tokens_are_stored_hashed_and_made_by_the_scope_admin(server, factory):  # type: ignore[no-untyped-def]
    e = server.engine
    admin = factory.user(admin=True)
    owner = factory.user()
    stranger = factory.user()
    org = factory.org(owner)
    ref = factory.repo(owner)
    secrets = {
        "instance": registration_token(e, admin, Scope.instance()),
        "org": registration_token(e, owner, Scope.org(org)),
        "repo": registration_token(e, owner, Scope.repo(ref.repo)),
    }
    with session_scope(e) as s:
        for kind, secret in secrets.items():
            assert secret.startswith("frt_") and len(secret) > 40
            row = tokens.find_registration_token(s, secret)
            assert row is not None and row.scope == kind
            assert row.token_hash == tokens.hash_token(secret) and secret not in row.token_hash
            assert row.token_prefix == secret[:8]
    for scope in (Scope.instance(), Scope.org(org), Scope.repo(ref.repo)):
        with session_scope(e) as s, pytest.raises(PermissionDenied):
            tokens.create_registration_token(s, stranger, scope)
    # An organisation owner may not make instance tokens.
    with session_scope(e) as s, pytest.raises(PermissionDenied):
        tokens.create_registration_token(s, owner, Scope.instance())


def test_register_gives_a_runner_of_the_token_scope(server, factory):  # type: ignore[no-untyped-def]
    e = server.engine
    admin = factory.user(admin=True)
    owner = factory.user()
    org = factory.org(owner)
    ref = factory.repo(owner)
    cases = [(Scope.instance(), admin), (Scope.org(org), owner), (Scope.repo(ref.repo), owner)]
    for scope, actor in cases:
        runner = register(e, registration_token(e, actor, scope), labels=["docker", "linux"], concurrency=3)
        assert runner.token.startswith("frn_")
        with session_scope(e) as s:
            row = s.get(Runner, runner.id)
            assert row is not None
            assert (row.scope, row.owner_id, row.repo_id) == (scope.kind, scope.owner_id, scope.repo_id)
            assert row.labels.split()[:2] == ["docker", "linux"] and row.concurrency == 3
            assert row.token_hash == tokens.hash_token(runner.token)
            assert dispatch.authenticate_runner(s, runner.token).id == runner.id


def test_revoked_or_unknown_registration_token_is_refused(server, factory):  # type: ignore[no-untyped-def]
    e = server.engine
    owner = factory.user()
    ref = factory.repo(owner)
    secret = registration_token(e, owner, Scope.repo(ref.repo))
    runner = register(e, secret)
    with session_scope(e) as s:
        row = tokens.find_registration_token(s, secret)
        assert row is not None and row.id is not None
        tokens.revoke_registration_token(s, owner, Scope.repo(ref.repo), row.id)
    with pytest.raises(AuthenticationRequired):
        register(e, secret)
    with pytest.raises(AuthenticationRequired):
        register(e, "frt_not-a-token")
    # Revoking a token does not unregister the runners made with it.
    with session_scope(e) as s:
        assert dispatch.authenticate_runner(s, runner.token).id == runner.id
        # Another scope's admin cannot revoke it (it does not exist for them), nor revoke twice.
        with pytest.raises(NotFound):
            tokens.revoke_registration_token(s, owner, Scope.repo(ref.repo), row.id)
        assert s.get(RegistrationToken, row.id).revoked_at is not None  # type: ignore[union-attr]


@pytest.mark.parametrize("fields", [
    {"name": ""}, {"name": "x" * 300}, {"concurrency": 0}, {"concurrency": "2"}, {"concurrency": True},
    {"executor": "kubernetes"}, {"labels": ["ok", "bad label"]}, {"labels": "a,b"}, {"labels": [1]},
])
def test_register_checks_its_input(server, factory, fields):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    secret = registration_token(server.engine, owner, Scope.repo(ref.repo))
    args = {"name": "r1", "labels": ["docker"], "concurrency": 1, "executor": "docker", **fields}
    if fields == {"labels": "a,b"}:  # a string is accepted too (forms), split on commas and spaces
        with session_scope(server.engine) as s:
            runner, _ = dispatch.register_runner(s, secret, **args)
            assert runner.labels == "a b"
        return
    with session_scope(server.engine) as s, pytest.raises(InvalidInput):
        dispatch.register_runner(s, secret, **args)


# --- matching ----------------------------------------------------------------------------------------------


def test_scope_matching(server, factory):  # type: ignore[no-untyped-def]
    e = server.engine
    admin = factory.user(admin=True)
    owner = factory.user()
    org = factory.org(owner)
    org_repo = factory.repo(org, actor=owner)
    user_repo = factory.repo(owner)
    other_org_repo = factory.repo(factory.org(owner), actor=owner)
    label = "scope-" + str(org_repo.repo.id)
    org_runner = register(e, registration_token(e, owner, Scope.org(org)), label=label, concurrency=10)
    repo_runner = register(e, registration_token(e, owner, Scope.repo(user_repo.repo)), label=label, concurrency=10)
    instance_runner = register(e, registration_token(e, admin, Scope.instance()), label=label, concurrency=64)
    in_org = make_job(e, org_repo, tags=label)
    in_user = make_job(e, user_repo, tags=label)
    in_other_org = make_job(e, other_org_repo, tags=label)

    # The organisation runner takes the organisation's job only; the repository runner its repository's.
    assert _claim(server, org_runner)["id"] == in_org
    assert _claim(server, org_runner) is None
    assert _claim(server, repo_runner)["id"] == in_user
    assert _claim(server, repo_runner) is None
    # The instance runner takes any repository's job (others' leftover untagged jobs too: claim until ours).
    with session_scope(e) as s:
        runner = s.get(Runner, instance_runner.id)
        assert runner is not None
        assert in_other_org in dispatch._matching_pending(s, runner)
    got = []
    while (payload := _claim(server, instance_runner)) is not None and payload["id"] != in_other_org:
        got.append(payload["id"])
        set_job(e, payload["id"], status=SUCCESS)  # keep the runner below its concurrency
    assert payload is not None and payload["id"] == in_other_org


def test_job_tags_must_all_be_runner_labels(server, factory):  # type: ignore[no-untyped-def]
    e = server.engine
    owner, ref, runner = _repo_runner(server, factory, labels=["docker", "linux"], concurrency=10)
    needs_gpu = make_job(e, ref, tags="docker gpu")
    needs_docker = make_job(e, ref, tags=f"docker {runner.label}")
    untagged = make_job(e, ref, tags="")
    assert _claim(server, runner)["id"] == needs_docker
    assert _claim(server, runner)["id"] == untagged
    assert _claim(server, runner) is None
    assert get_job(e, needs_gpu).status == PENDING
    gpu_runner = register(e, registration_token(e, owner, Scope.repo(ref.repo)), labels=["docker", "gpu"])
    assert _claim(server, gpu_runner)["id"] == needs_gpu


def test_oldest_pending_first_and_concurrency_limit(server, factory):  # type: ignore[no-untyped-def]
    e = server.engine
    _, ref, runner = _repo_runner(server, factory, concurrency=2)
    jobs = [make_job(e, ref, tags=runner.label) for _ in range(4)]
    assert _claim(server, runner)["id"] == jobs[0]
    assert _claim(server, runner)["id"] == jobs[1]
    assert _claim(server, runner) is None  # two running: full
    set_job(e, jobs[0], status=SUCCESS)
    assert _claim(server, runner)["id"] == jobs[2]


def test_paused_runner_gets_nothing_and_canceled_jobs_are_not_handed_out(server, factory):  # type: ignore[no-untyped-def]
    e = server.engine
    _, ref, runner = _repo_runner(server, factory)
    job = make_job(e, ref, tags=runner.label)
    with session_scope(e) as s:
        row = s.get(Runner, runner.id)
        assert row is not None
        row.is_active = False
    assert _claim(server, runner) is None
    with session_scope(e) as s:
        row = s.get(Runner, runner.id)
        assert row is not None
        row.is_active = True
    set_job(e, job, cancel_requested=True)
    assert _claim(server, runner) is None


def test_racing_runners_never_get_the_same_job(server, factory):  # type: ignore[no-untyped-def]
    e = server.engine
    owner = factory.user()
    ref = factory.repo(owner)
    secret = registration_token(e, owner, Scope.repo(ref.repo))
    label = "race-" + str(ref.repo.id)
    runners = [register(e, secret, label=label, concurrency=64) for _ in range(4)]
    jobs = {make_job(e, ref, tags=label) for _ in range(40)}
    got: dict[int, list[int]] = {r.id: [] for r in runners}
    start = threading.Barrier(len(runners))
    errors: list[BaseException] = []

    def work(runner) -> None:  # type: ignore[no-untyped-def]
        try:
            start.wait()
            while (payload := _claim(server, runner)) is not None:
                got[runner.id].append(payload["id"])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(r,)) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    claimed = [job_id for ids in got.values() for job_id in ids]
    assert sorted(claimed) == sorted(jobs)  # every job once, none twice
    for runner_id, ids in got.items():
        for job_id in ids:
            job = get_job(e, job_id)
            assert (job.status, job.runner_id) == (RUNNING, runner_id)


# --- the payload -------------------------------------------------------------------------------------------


def test_payload_has_the_spec_and_a_masked_job_token(server, factory):  # type: ignore[no-untyped-def]
    e = server.engine
    _, ref, runner = _repo_runner(server, factory)
    pipeline_id = make_pipeline(e, ref, sha="a" * 40, branch="feature/x")
    spec = {
        "image": "alpine:3", "before_script": ["b"], "script": ["s1", "s2"], "after_script": ["a"],
        "variables": [{"key": "SECRET", "value": "hunter22", "masked": True}, {"key": "CI_JOB_TOKEN", "value": "x"}],
        "timeout": 120, "git_depth": 5,
    }
    job_id = make_job(e, ref, pipeline_id, name="build", tags=runner.label, spec=spec)
    payload = _claim(server, runner)
    assert payload is not None
    token = payload["token"]
    assert token.startswith("fjt_")
    assert payload["image"] == {"name": "alpine:3", "entrypoint": None}
    assert (payload["id"], payload["name"], payload["stage"], payload["pipeline_id"]) == (
        job_id, "build", "test", pipeline_id)
    assert (payload["before_script"], payload["script"], payload["after_script"]) == (["b"], ["s1", "s2"], ["a"])
    assert payload["timeout"] == 120 and payload["log_offset"] == 0
    assert payload["git"] == {"url": f"{URL}/{ref.full_name}.git", "sha": "a" * 40, "ref": "feature/x", "depth": 5}
    assert payload["variables"] == [
        {"key": "SECRET", "value": "hunter22", "masked": True, "file": False},
        {"key": "CI_JOB_TOKEN", "value": token, "masked": True, "file": False},
    ]
    job = get_job(e, job_id)
    assert job.token_hash == tokens.hash_token(token) and job.runner_id == runner.id and job.started_at
    with session_scope(e) as s:
        assert tokens.running_job_repo(s, token) == ref.repo.id


# --- the long poll -----------------------------------------------------------------------------------------


def test_request_job_waits_then_gives_nothing(server, factory):  # type: ignore[no-untyped-def]
    _, _, runner = _repo_runner(server, factory)
    started = time.monotonic()
    payload = _run_async(dispatch.request_job(server.engine, runner.id, URL, 0.6))
    assert payload is None
    assert 0.55 <= time.monotonic() - started < 3


def test_request_job_wakes_as_soon_as_a_job_is_pending(server, factory):  # type: ignore[no-untyped-def]
    e = server.engine
    _, ref, runner = _repo_runner(server, factory)
    made: dict[str, float] = {}

    def later() -> None:
        time.sleep(0.3)
        made["at"] = time.monotonic()
        made["id"] = make_job(e, ref, tags=runner.label)

    async def main():  # type: ignore[no-untyped-def]
        threading.Thread(target=later).start()
        payload = await dispatch.request_job(e, runner.id, URL, 10)
        return payload, time.monotonic()

    payload, got_at = _run_async(main())
    assert payload is not None and payload["id"] == made["id"]
    assert got_at - made["at"] < 1.0


def test_request_job_stops_when_the_runner_hangs_up(server, factory):  # type: ignore[no-untyped-def]
    e = server.engine
    _, ref, runner = _repo_runner(server, factory)

    async def gone() -> bool:
        return True

    job_id = make_job(e, ref, tags=runner.label)
    assert _run_async(dispatch.request_job(e, runner.id, URL, 5, gone=gone)) is None
    assert get_job(e, job_id).status == PENDING  # not handed to a connection nobody reads


# --- state reports -----------------------------------------------------------------------------------------


def _running(server, factory):  # type: ignore[no-untyped-def]
    e = server.engine
    _, ref, runner = _repo_runner(server, factory, concurrency=5)
    pipeline_id = make_pipeline(e, ref)
    job_id = make_job(e, ref, pipeline_id, tags=runner.label)
    payload = _claim(server, runner)
    assert payload is not None and payload["id"] == job_id
    return ref, runner, pipeline_id, job_id, payload["token"]


def _report(server, job_id, token, state, **kwargs):  # type: ignore[no-untyped-def]
    with session_scope(server.engine) as s:
        job = dispatch.authenticate_job(s, job_id, token)
        return dispatch.report_state(s, job, state, kwargs.get("exit_code"), kwargs.get("failure_reason"))


def test_state_reports_finish_the_job_and_the_pipeline(server, factory):  # type: ignore[no-untyped-def]
    e = server.engine
    _, _, pipeline_id, job_id, token = _running(server, factory)
    assert _report(server, job_id, token, "running") == RUNNING
    assert _report(server, job_id, token, "success", exit_code=0) == SUCCESS
    job = get_job(e, job_id)
    assert (job.status, job.exit_code, job.failure_reason) == (SUCCESS, 0, "")
    assert job.finished_at is not None
    with session_scope(e) as s:
        pipeline = s.get(Pipeline, pipeline_id)
        assert pipeline is not None and pipeline.status == SUCCESS  # on_job_finished ran
    # A finished job stays as it is, and its job token no longer reads the repository.
    assert _report(server, job_id, token, "failed", exit_code=1) == SUCCESS
    with session_scope(e) as s:
        assert tokens.running_job_repo(s, token) is None


def test_failed_report_keeps_exit_code_and_reason(server, factory):  # type: ignore[no-untyped-def]
    e = server.engine
    _, _, _, job_id, token = _running(server, factory)
    with pytest.raises(InvalidInput):
        _report(server, job_id, token, "failed", exit_code=2, failure_reason="bogus")
    with pytest.raises(InvalidInput):
        _report(server, job_id, token, "exploded")
    with pytest.raises(InvalidInput):
        _report(server, job_id, token, "canceled")  # only after a cancel was asked for
    assert _report(server, job_id, token, "failed", exit_code=2, failure_reason="image_pull_failure") == FAILED
    job = get_job(e, job_id)
    assert (job.status, job.exit_code, job.failure_reason) == (FAILED, 2, "image_pull_failure")
    _, _, _, job_id, token = _running(server, factory)
    assert _report(server, job_id, token, "failed", exit_code=1) == FAILED
    assert get_job(e, job_id).failure_reason == "script_failure"


def test_a_canceled_job_answers_canceled(server, factory):  # type: ignore[no-untyped-def]
    e = server.engine
    _, _, _, job_id, token = _running(server, factory)
    set_job(e, job_id, cancel_requested=True)
    assert _report(server, job_id, token, "running") == CANCELED
    job = get_job(e, job_id)
    assert (job.status, job.failure_reason) == (CANCELED, "canceled")
    assert _report(server, job_id, token, "success", exit_code=0) == CANCELED
    assert get_job(e, job_id).status == CANCELED


def test_job_token_only_authenticates_its_own_job(server, factory):  # type: ignore[no-untyped-def]
    _, runner, _, job_id, token = _running(server, factory)
    _, _, _, other_id, _ = _running(server, factory)
    with session_scope(server.engine) as s:
        with pytest.raises(AuthenticationRequired):
            dispatch.authenticate_job(s, other_id, token)
        with pytest.raises(AuthenticationRequired):
            dispatch.authenticate_job(s, job_id, runner.token)  # the runner token is not a job token
        with pytest.raises(AuthenticationRequired):
            dispatch.authenticate_job(s, job_id, "fjt_wrong")


def test_watch_answers_at_once_on_cancel(server, factory):  # type: ignore[no-untyped-def]
    e = server.engine
    _, _, _, job_id, _ = _running(server, factory)
    started = time.monotonic()
    assert _run_async(dispatch.watch(e, job_id, 0.4)) == RUNNING
    assert time.monotonic() - started >= 0.35
    canceled: dict[str, float] = {}

    def cancel_later() -> None:
        time.sleep(0.3)
        canceled["at"] = time.monotonic()
        with session_scope(e) as s:
            job = s.get(Job, job_id)
            assert job is not None
            job.cancel_requested = True  # an ORM change: ci.notify wakes the watch in this process

    async def main():  # type: ignore[no-untyped-def]
        threading.Thread(target=cancel_later).start()
        return await dispatch.watch(e, job_id, 10), time.monotonic()

    state, at = _run_async(main())
    assert state == CANCELED and at - canceled["at"] < 0.5


def test_heartbeat_names_jobs_to_stop_and_keeps_jobs_alive(server, factory):  # type: ignore[no-untyped-def]
    e = server.engine
    _, runner, _, job_id, _ = _running(server, factory)
    _, _, _, foreign_id, _ = _running(server, factory)
    backdate_contact(e, job_id, 100)
    with session_scope(e) as s:
        row = s.get(Runner, runner.id)
        assert row is not None
        assert dispatch.heartbeat(s, row, [job_id, foreign_id, 999_999_999]) == [foreign_id, 999_999_999]
        with pytest.raises(InvalidInput):
            dispatch.heartbeat(s, row, "42")
    assert job_id not in dispatch.reap_lost_jobs(e, Settings(ci_runner_lost_after=30))
    assert get_job(e, job_id).status == RUNNING
    # A canceled job the runner stopped listing ends canceled at once.
    set_job(e, job_id, cancel_requested=True)
    with session_scope(e) as s:
        row = s.get(Runner, runner.id)
        assert row is not None
        assert dispatch.heartbeat(s, row, []) == []
    assert get_job(e, job_id).status == CANCELED


# --- reapers -----------------------------------------------------------------------------------------------


def test_lost_runner_fails_its_job(server, factory):  # type: ignore[no-untyped-def]
    e = server.engine
    _, _, pipeline_id, lost, _ = _running(server, factory)
    _, _, _, alive, _ = _running(server, factory)
    _, _, _, stopping, _ = _running(server, factory)
    backdate_contact(e, lost, 45)
    backdate_contact(e, stopping, 45)
    set_job(e, stopping, cancel_requested=True)
    backdate_contact(e, alive, 15)  # a live runner's last heartbeat can be this old
    reaped = dispatch.reap_lost_jobs(e, Settings(ci_runner_lost_after=30))
    assert lost in reaped and stopping in reaped and alive not in reaped
    job = get_job(e, lost)
    assert (job.status, job.failure_reason) == (FAILED, "runner_lost")
    assert (get_job(e, stopping).status, get_job(e, stopping).failure_reason) == (CANCELED, "canceled")
    assert get_job(e, alive).status == RUNNING
    with session_scope(e) as s:
        pipeline = s.get(Pipeline, pipeline_id)
        assert pipeline is not None and pipeline.status == FAILED


def test_overdue_job_is_failed_with_job_timeout(server, factory):  # type: ignore[no-untyped-def]
    e = server.engine
    _, _, _, overdue, _ = _running(server, factory)
    _, _, _, in_time, _ = _running(server, factory)
    set_job(e, overdue, spec={"script": ["sleep 1000"], "timeout": 30})
    set_job(e, in_time, spec={"script": ["sleep 1000"], "timeout": 3600})
    backdate_contact(e, overdue, 30 + dispatch.TIMEOUT_GRACE + 5)
    backdate_contact(e, in_time, 30 + dispatch.TIMEOUT_GRACE + 5)
    set_job(e, overdue, last_contact_at=get_job(e, in_time).started_at)
    reaped = dispatch.reap_timed_out_jobs(e, Settings(ci_runner_lost_after=3600))
    assert overdue in reaped and in_time not in reaped
    job = get_job(e, overdue)
    assert (job.status, job.failure_reason) == (FAILED, "job_timeout")
    assert get_job(e, in_time).status == RUNNING
