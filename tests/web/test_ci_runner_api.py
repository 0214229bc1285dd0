"""The runner API over real HTTP against the live server (docs/ci.md, "Runner protocol"): registration, the long
poll, logs by offset, state reports, the cancel watch, heartbeats, errors, and job tokens for ``git clone``."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from ci.models import CANCELED, PENDING, RUNNING, SUCCESS
from ci.tokens import Scope
from tests.ci.runner_helpers import get_job, make_job, make_pipeline, registration_token, set_job
from tests.factories import PASSWORD, unique

API = "/api/v1/runners"


def _client(server, token: str | None = None) -> httpx.Client:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=server.url + API, headers=headers, timeout=60)


def _register(server, secret: str, labels=None, concurrency: int = 1):  # type: ignore[no-untyped-def]
    label = unique("lbl")
    with _client(server) as c:
        resp = c.post("/register", json={"registration_token": secret, "name": unique("r"),
                                         "labels": [*(labels or []), label], "concurrency": concurrency,
                                         "executor": "docker", "version": "0.1.0"})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    return body["id"], body["token"], label


def _repo_runner(server, factory, *, private: bool = False, concurrency: int = 1):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner, private=private)
    runner_id, token, label = _register(server, registration_token(server.engine, owner, Scope.repo(ref.repo)),
                                        concurrency=concurrency)
    return owner, ref, runner_id, token, label


def _take(server, token: str, wait: float = 5):  # type: ignore[no-untyped-def]
    with _client(server, token) as c:
        resp = c.post("/jobs/request", json={"wait": wait})
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_register_with_each_scope_and_bad_tokens(server, factory):  # type: ignore[no-untyped-def]
    e = server.engine
    admin = factory.user(admin=True)
    owner = factory.user()
    org = factory.org(owner)
    ref = factory.repo(owner)
    for actor, scope in ((admin, Scope.instance()), (owner, Scope.org(org)), (owner, Scope.repo(ref.repo))):
        runner_id, token, _ = _register(server, registration_token(e, actor, scope))
        assert isinstance(runner_id, int) and token.startswith("frn_")
    with _client(server) as c:
        resp = c.post("/register", json={"registration_token": "frt_nope", "name": "x"})
        assert resp.status_code == 401 and "registration token" in resp.json()["error"]
        good = registration_token(e, owner, Scope.repo(ref.repo))
        resp = c.post("/register", json={"registration_token": good, "name": "x", "executor": "vm"})
        assert resp.status_code == 422 and "executor" in resp.json()["error"]
        resp = c.post("/register", content=b"{not json", headers={"Content-Type": "application/json"})
        assert resp.status_code == 422 and resp.json()["error"] == "The request body is not valid JSON."
        resp = c.post("/register", json=[1, 2])
        assert resp.status_code == 422


def test_calls_without_a_valid_token_are_401(server, factory):  # type: ignore[no-untyped-def]
    with _client(server) as c:
        resp = c.post("/jobs/request", json={"wait": 0})
        assert resp.status_code == 401 and "Bearer" in resp.json()["error"]
    with _client(server, "frn_unknown") as c:
        assert c.post("/jobs/request", json={"wait": 0}).status_code == 401
        assert c.post("/heartbeat", json={"jobs": []}).status_code == 401
        assert c.put("/jobs/1/log?offset=0", content=b"x").status_code == 401
        assert c.post("/jobs/1/state", json={"state": "running"}).status_code == 401
        assert c.get("/jobs/1/watch?wait=0").status_code == 401


def test_request_answers_204_after_wait(server, factory):  # type: ignore[no-untyped-def]
    _, _, _, token, _ = _repo_runner(server, factory)
    with _client(server, token) as c:
        started = time.monotonic()
        resp = c.post("/jobs/request", json={"wait": 0.5})
        assert resp.status_code == 204 and resp.content == b""
        assert 0.45 <= time.monotonic() - started < 3
        assert c.post("/jobs/request", json={"wait": "soon"}).status_code == 422
        assert c.post("/jobs/request", json={"wait": -1}).status_code == 422


def test_request_gets_a_job_made_while_waiting(server, factory):  # type: ignore[no-untyped-def]
    e = server.engine
    _, ref, _, token, label = _repo_runner(server, factory)
    made: dict[str, float | int] = {}

    def later() -> None:
        time.sleep(0.3)
        made["at"] = time.monotonic()
        made["id"] = make_job(e, ref, tags=label)

    threading.Thread(target=later).start()
    job = _take(server, token, wait=10)
    assert job["id"] == made["id"]
    assert time.monotonic() - float(made["at"]) < 1.0
    assert job["git"]["url"] == f"{server.url}/{ref.full_name}.git"


def test_racing_requests_over_http_never_share_a_job(server, factory):  # type: ignore[no-untyped-def]
    e = server.engine
    owner = factory.user()
    ref = factory.repo(owner)
    secret = registration_token(e, owner, Scope.repo(ref.repo))
    label = unique("race")
    runners = [_register(server, secret, labels=[label], concurrency=64)[1] for _ in range(3)]
    jobs = {make_job(e, ref, tags=label) for _ in range(24)}
    got: list[int] = []
    lock = threading.Lock()

    def work(token: str) -> None:
        with _client(server, token) as c:
            while True:
                resp = c.post("/jobs/request", json={"wait": 0})
                if resp.status_code == 204:
                    return
                with lock:
                    got.append(resp.json()["id"])

    threads = [threading.Thread(target=work, args=(t,)) for t in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(got) == sorted(jobs)


def test_log_offsets_masking_and_state(server, factory):  # type: ignore[no-untyped-def]
    e = server.engine
    _, ref, _, token, label = _repo_runner(server, factory)
    spec = {"script": ["echo $SECRET"], "variables": [{"key": "SECRET", "value": "s3cr3t-value", "masked": True}]}
    job_id = make_job(e, ref, tags=label, spec=spec)
    job = _take(server, token)
    assert job["id"] == job_id
    with _client(server, job["token"]) as c:
        url = f"/jobs/{job_id}/log"
        assert c.post(f"/jobs/{job_id}/state", json={"state": "running"}).json() == {"state": RUNNING}
        resp = c.put(url, params={"offset": 0}, content=b"$ echo $SECRET\ns3cr")
        assert resp.json() == {"length": 19, "state": RUNNING}
        assert c.put(url, params={"offset": 0}, content=b"$ echo $SECRET\ns3cr").json()["length"] == 19
        gap = c.put(url, params={"offset": 40}, content=b"lost")
        assert gap.status_code == 416 and gap.json()["length"] == 19
        tail = b"3t-value\n" + job["token"].encode() + b"\n"
        assert c.put(url, params={"offset": 19}, content=tail).json()["length"] == 19 + len(tail)
        assert c.put(url, params={"offset": "x"}, content=b"").status_code == 422
        resp = c.post(f"/jobs/{job_id}/state", json={"state": "success", "exit_code": 0})
        assert resp.json() == {"state": SUCCESS}
        # The job token keeps working for the job's own calls once it ended, and reports change nothing.
        assert c.post(f"/jobs/{job_id}/state", json={"state": "failed", "exit_code": 1}).json() == {"state": SUCCESS}
    raw = httpx.get(f"{server.url}/{ref.full_name}/-/jobs/{job_id}/log")
    assert raw.status_code == 200
    assert raw.text == "$ echo $SECRET\n[MASKED]\n[MASKED]\n"
    assert get_job(e, job_id).status == SUCCESS


def test_watch_learns_of_a_cancel_at_once(server, factory, web):  # type: ignore[no-untyped-def]
    e = server.engine
    owner, ref, _, token, label = _repo_runner(server, factory)
    pipeline_id = make_pipeline(e, ref)
    job_id = make_job(e, ref, pipeline_id, tags=label)
    job = _take(server, token)
    with _client(server, job["token"]) as c:
        started = time.monotonic()
        assert c.get(f"/jobs/{job_id}/watch", params={"wait": 0.3}).json() == {"state": RUNNING}
        assert time.monotonic() - started >= 0.25
        answer: dict[str, object] = {}

        def watch() -> None:
            resp = c.get(f"/jobs/{job_id}/watch", params={"wait": 20})
            answer["state"] = resp.json()["state"]
            answer["at"] = time.monotonic()

        watcher = threading.Thread(target=watch)
        watcher.start()
        time.sleep(0.3)
        # The owner cancels the job on its page, as a person would.
        web.login(owner.name, PASSWORD)
        page = f"/{ref.full_name}/-/jobs/{job_id}"
        resp = web.submit(page, f"/{ref.full_name}/-/jobs/{job_id}/cancel", {})
        canceled_at = time.monotonic()
        assert resp.status_code in (302, 303), resp.text[:300]
        watcher.join(10)
        assert answer["state"] == CANCELED
        assert float(answer["at"]) - canceled_at < 0.5  # type: ignore[arg-type]
        # The runner stops the job and reports; the job ends canceled, whatever it says.
        resp = c.post(f"/jobs/{job_id}/state", json={"state": "failed", "exit_code": 137})
        assert resp.json() == {"state": CANCELED}
    final = get_job(e, job_id)
    assert (final.status, final.failure_reason) == (CANCELED, "canceled")


def test_heartbeat(server, factory):  # type: ignore[no-untyped-def]
    e = server.engine
    _, ref, _, token, label = _repo_runner(server, factory, concurrency=2)
    first = make_job(e, ref, tags=label)
    second = make_job(e, ref, tags=label)
    _take(server, token)
    _take(server, token)
    set_job(e, second, cancel_requested=True)
    with _client(server, token) as c:
        resp = c.post("/heartbeat", json={"jobs": [first, second]})
        assert resp.json() == {"cancel": [second]}
        assert c.post("/heartbeat", json={"jobs": "all"}).status_code == 422
        assert c.post("/heartbeat", json={}).json() == {"cancel": []}
    assert get_job(e, first).status == RUNNING
    assert get_job(e, second).status == CANCELED  # no longer listed after the cancel: it has stopped


def test_paused_runner_gets_204_and_deleted_runner_401(server, factory, web):  # type: ignore[no-untyped-def]
    e = server.engine
    owner, ref, runner_id, token, label = _repo_runner(server, factory)
    job_id = make_job(e, ref, tags=label)
    web.login(owner.name, PASSWORD)
    base = f"/{ref.full_name}/settings/runners"
    assert web.submit(base, f"{base}/{runner_id}/pause", {}).status_code == 303
    with _client(server, token) as c:
        assert c.post("/jobs/request", json={"wait": 0.2}).status_code == 204
    assert get_job(e, job_id).status == PENDING
    assert web.submit(base, f"{base}/{runner_id}/resume", {}).status_code == 303
    assert _take(server, token)["id"] == job_id
    assert web.submit(base, f"{base}/{runner_id}/delete", {}).status_code == 303
    with _client(server, token) as c:
        assert c.post("/jobs/request", json={"wait": 0}).status_code == 401


@pytest.mark.parametrize("private", [True, False])
def test_job_token_clones_its_repository_while_the_job_runs(server, factory, git, private):  # type: ignore[no-untyped-def]
    e = server.engine
    owner, ref, _, token, label = _repo_runner(server, factory, private=private)
    other = factory.repo(owner, private=True)
    work = git.init_repo("src", {"README.md": "# hello\n"})
    git.push_to(work, ref)
    git.push_to(work, other)
    sha = git.run("rev-parse", "HEAD", cwd=work, check=True).out.strip()
    job_id = make_job(e, ref, make_pipeline(e, ref, sha=sha), tags=label)
    job = _take(server, token)
    assert job["id"] == job_id
    clone_url = git.url(f"{ref.full_name}.git", "gitlab-ci-token", job["token"])
    res = git.run("clone", "-q", clone_url, "clone1")
    assert res.ok, res.err
    assert (git.tmp / "clone1" / "README.md").read_text() == "# hello\n"
    assert git.run("rev-parse", "HEAD", cwd=git.tmp / "clone1").out.strip() == sha
    # Only reading, and only this repository.
    git.commit(git.tmp / "clone1", "x.txt", "x\n", "try to push")
    push = git.run("push", clone_url, "HEAD:main", cwd=git.tmp / "clone1")
    assert not push.ok and "can only clone and fetch" in push.err
    other_url = git.url(f"{other.full_name}.git", "ci", job["token"])
    res = git.run("clone", "-q", other_url, "clone2")
    assert not res.ok and "not found" in res.err.lower()
    # Once the job ended, the token no longer opens anything.
    with _client(server, job["token"]) as c:
        assert c.post(f"/jobs/{job_id}/state", json={"state": "success", "exit_code": 0}).status_code == 200
    res = git.run("clone", "-q", clone_url, "clone3")
    if private:
        assert not res.ok and "Incorrect user name, password or token" in res.err, res.err
    else:
        assert res.ok  # git reads a public repository without sending the credentials at all


def test_numbers_out_of_range_are_input_errors_not_server_errors(server, factory, web):  # type: ignore[no-untyped-def]
    e = server.engine
    owner, ref, runner_id, token, label = _repo_runner(server, factory)
    job_id = make_job(e, ref, tags=label)
    job = _take(server, token)
    huge = 2**40
    with _client(server, token) as c:
        assert c.post("/heartbeat", json={"jobs": [job_id, huge]}).json() == {"cancel": [huge]}
    with _client(server, job["token"]) as c:
        assert c.put(f"/jobs/{huge}/log", params={"offset": 0}, content=b"x").status_code == 401
        assert c.post(f"/jobs/{job_id}/state", json={"state": "failed", "exit_code": huge}).status_code == 422
        assert c.post(f"/jobs/{job_id}/state", json={"state": "failed", "exit_code": "1"}).status_code == 422
    assert web.get(f"/{ref.full_name}/-/jobs/{huge}/log").status_code == 404
    assert web.get(f"/{ref.full_name}/-/jobs/{huge}/log/stream").status_code == 404
    web.login(owner.name, PASSWORD)
    base = f"/{ref.full_name}/settings/runners"
    assert web.post(f"{base}/{huge}/pause").status_code == 404
    assert web.post(f"{base}/tokens/{huge}/revoke").status_code == 404
    assert web.post(f"{base}/{runner_id}/explode").status_code == 404
