"""The protocol client against a real HTTP server on a loopback port: long polls, retries with backoff, clear
errors for refused tokens, and the typed job payload."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from runners.client import JobClient, RunnerClient, register
from runners.errors import ProtocolError, ServerUnavailable, Stopped, Unauthorized
from runners.payload import Job
from tests.runners.protocol_server import REGISTRATION_TOKEN, RUNNER_TOKEN, ProtocolServer


def payload(job_id: int = 5, **extra: object) -> dict[str, object]:
    data: dict[str, object] = {
        "id": job_id, "token": f"fjt_{job_id}", "name": "build", "stage": "build", "pipeline_id": 3,
        "image": {"name": "busybox:ci", "entrypoint": [""]}, "before_script": ["echo a"], "script": ["make"],
        "after_script": [], "variables": [{"key": "CI_PROJECT_PATH", "value": "alice/tool", "masked": False},
                                          {"key": "PASSWORD", "value": "pw-123456", "masked": True}],
        "timeout": 600, "git": {"url": "http://forge.test/alice/tool.git", "sha": "a" * 40, "ref": "main",
                                "depth": 5},
        "log_offset": 0,
    }
    data.update(extra)
    return data


def test_register_returns_the_runner_id_and_token(protocol_server: ProtocolServer) -> None:
    runner_id, token = register(protocol_server.url, REGISTRATION_TOKEN, name="build-01", labels=["docker"],
                                concurrency=2, executor="docker")
    assert (runner_id, token) == (7, RUNNER_TOKEN)
    sent = protocol_server.registrations[-1]
    assert sent["name"] == "build-01" and sent["labels"] == ["docker"] and sent["concurrency"] == 2
    assert sent["version"]

    with pytest.raises(Unauthorized, match="refused the registration token: The registration token is not valid"):
        register(protocol_server.url, "frt_wrong", name="x", labels=[], concurrency=1, executor="shell")


def test_request_job_long_polls_and_answers_none_when_nothing_comes(protocol_server: ProtocolServer) -> None:
    client = RunnerClient(protocol_server.url, RUNNER_TOKEN)
    try:
        started = time.monotonic()
        assert client.request_job(wait=1) is None
        assert 0.9 < time.monotonic() - started < 5

        # A job added while the request waits is handed out at once.
        threading.Timer(0.5, protocol_server.add_job, args=(payload(),)).start()
        started = time.monotonic()
        job = client.request_job(wait=10)
        assert job is not None and job.id == 5
        assert time.monotonic() - started < 3
        assert client.request_job(wait=1) is None  # handed out once only
    finally:
        client.close()


def test_request_job_retries_a_forge_answering_5xx(protocol_server: ProtocolServer) -> None:
    protocol_server.add_job(payload())
    protocol_server.unavailable = 2
    client = RunnerClient(protocol_server.url, RUNNER_TOKEN)
    try:
        job = client.request_job(wait=1, retry_for=30)
    finally:
        client.close()
    assert job is not None and job.id == 5
    assert protocol_server.requests.count(("POST", "/api/v1/runners/jobs/request")) == 3


def test_unreachable_forge_gives_up_after_the_retry_time_with_a_clear_message() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound but not listening: connections are refused
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    client = RunnerClient(url, RUNNER_TOKEN)
    try:
        started = time.monotonic()
        with pytest.raises(ServerUnavailable, match=f"Cannot reach the forge at {url}"):
            client.request_job(wait=1, retry_for=2)
        assert time.monotonic() - started < 6

        stop = threading.Event()
        threading.Timer(0.3, stop.set).start()
        with pytest.raises(Stopped):
            client.request_job(wait=1, stop=stop)  # retries forever, until the runner stops
    finally:
        client.close()
        sock.close()


def test_a_revoked_runner_token_says_to_register_again(protocol_server: ProtocolServer) -> None:
    client = RunnerClient(protocol_server.url, "frn_revoked")
    try:
        with pytest.raises(Unauthorized, match="register it again"):
            client.request_job(wait=1)
    finally:
        client.close()


def test_heartbeat_returns_the_jobs_to_cancel(protocol_server: ProtocolServer) -> None:
    protocol_server.add_job(payload(5))
    protocol_server.add_job(payload(6))
    protocol_server.cancel_by_heartbeat = {6}
    client = RunnerClient(protocol_server.url, RUNNER_TOKEN)
    try:
        assert client.heartbeat([5, 6]) == [6]
        assert client.heartbeat([]) == []
    finally:
        client.close()
    assert protocol_server.heartbeats == [[5, 6], []]


def test_state_reports_and_the_watch_learn_of_a_cancel(protocol_server: ProtocolServer) -> None:
    fake = protocol_server.add_job(payload())
    fake.state = "running"
    job = Job.from_payload(payload())
    client = JobClient(protocol_server.url, job)
    try:
        assert client.report_state("running") == "running"
        assert client.watch(wait=1) == "running"  # nothing happened within the wait
        threading.Timer(0.5, protocol_server.cancel, args=(job.id,)).start()
        started = time.monotonic()
        assert client.watch(wait=20) == "canceled"
        assert time.monotonic() - started < 3
        # A result reported after the cancel changes nothing.
        assert client.report_state("success", exit_code=0) == "canceled"
        assert fake.state == "canceled" and fake.reports[-1] == {"state": "success", "exit_code": 0}
    finally:
        client.close()


def test_job_payload_is_typed_and_checked() -> None:
    job = Job.from_payload(payload())
    assert job.image is not None and job.image.entrypoint == ("",)
    assert job.git.depth == 5 and job.timeout == 600
    assert job.project_path == "alice/tool"
    assert job.masked_values() == sorted(["pw-123456", "fjt_5"])

    # Without CI_PROJECT_PATH the path comes from the git URL; anything odd in it is not used as a directory.
    bare = payload(variables=[])
    assert Job.from_payload(bare).project_path == "alice/tool"
    odd = payload(variables=[{"key": "CI_PROJECT_PATH", "value": "../../etc", "masked": False}])
    assert Job.from_payload(odd).project_path == "job-5"

    with pytest.raises(ProtocolError, match="cannot read"):
        Job.from_payload({"id": 1, "token": "t"})
    with pytest.raises(ProtocolError, match="script is not a list of strings"):
        Job.from_payload(payload(script="make"))
