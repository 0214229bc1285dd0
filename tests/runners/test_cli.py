"""`forge-runner` as an operator runs it: a real process talking to a real HTTP server that speaks the runner
protocol, running jobs that fetch their commit from the live forge, in the shell or in Docker containers.

The forge's own implementation of the protocol is written separately; the end-to-end test through it (push ->
pipeline -> this runner -> status) comes with it. Until then ``ProtocolServer`` hands out the jobs.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from runners.config import RunnerConfig, load, save
from runners.executors.common import JobControl
from runners.executors.docker import LABEL_JOB
from runners.executors.shell import ShellExecutor
from runners.runner import Runner
from tests.runners.conftest import PushedRepo, job_payload
from tests.runners.protocol_server import REGISTRATION_TOKEN, RUNNER_TOKEN, FakeJob, ProtocolServer

RUNNER = Path(sys.executable).with_name("forge-runner")


def runner_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FORGE_", "XDG_"))}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    return env


def forge_runner(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(RUNNER), *args], env=runner_env(tmp_path), capture_output=True, text=True,
                          timeout=120, check=False)


def write_config(tmp_path: Path, server: ProtocolServer, executor: str, *, token: str = RUNNER_TOKEN,
                 concurrency: int = 1) -> Path:
    path = tmp_path / "runner.toml"
    save(path, RunnerConfig(url=server.url, id=7, token=token, name="test-runner", executor=executor,
                            concurrency=concurrency, work_dir=str(tmp_path / "work")))
    return path


def test_register_writes_a_private_config_file(tmp_path: Path, protocol_server: ProtocolServer) -> None:
    result = forge_runner(tmp_path, "register", "--url", protocol_server.url + "/", "--token", REGISTRATION_TOKEN,
                          "--name", "build-01", "--labels", "docker, linux,docker", "--concurrency", "2",
                          "--executor", "shell")
    assert result.returncode == 0, result.stderr
    path = tmp_path / "xdg" / "forge-runner" / "config.toml"
    assert f"Registered runner 7 (build-01) with {protocol_server.url}; configuration written to {path}." \
        in result.stdout
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    config = load(path)
    assert (config.id, config.token, config.labels, config.concurrency, config.executor) == \
        (7, RUNNER_TOKEN, ["docker", "linux"], 2, "shell")
    assert protocol_server.registrations[-1]["labels"] == ["docker", "linux"]

    again = forge_runner(tmp_path, "register", "--url", protocol_server.url, "--token", REGISTRATION_TOKEN)
    assert again.returncode == 2
    assert "already exists; use --force to replace it" in again.stderr


def test_register_errors_are_one_sentence_with_the_right_exit_code(tmp_path: Path,
                                                                   protocol_server: ProtocolServer) -> None:
    wrong = forge_runner(tmp_path, "register", "--url", protocol_server.url, "--token", "frt_nope")
    assert wrong.returncode == 1
    assert wrong.stderr.strip() == ("forge-runner: The forge refused the registration token: "
                                    "The registration token is not valid.")
    assert not (tmp_path / "xdg").exists()

    bad_url = forge_runner(tmp_path, "register", "--url", "forge.example", "--token", REGISTRATION_TOKEN)
    assert bad_url.returncode == 2
    assert "must start with http:// or https://" in bad_url.stderr

    usage = forge_runner(tmp_path, "register", "--url", protocol_server.url)
    assert usage.returncode == 2
    assert "--token" in usage.stderr


def test_run_without_a_config_file_says_to_register(tmp_path: Path) -> None:
    result = forge_runner(tmp_path, "run")
    assert result.returncode == 2
    assert "does not exist; run `forge-runner register` first" in result.stderr


def test_run_with_a_revoked_token_stops_with_a_clear_error(tmp_path: Path, protocol_server: ProtocolServer) -> None:
    path = write_config(tmp_path, protocol_server, "shell", token="frn_revoked")
    result = forge_runner(tmp_path, "run", "--config", str(path))
    assert result.returncode == 1
    assert "runner was deleted or its token revoked; register it again" in result.stderr


def test_run_once_runs_a_job_and_reports_it(tmp_path: Path, protocol_server: ProtocolServer,
                                            pushed_repo: PushedRepo) -> None:
    fake = protocol_server.add_job(job_payload(pushed_repo, ["echo \"$CI_JOB_NAME on $(cat README.md)\"", "exit 4"],
                                               after_script=["echo after"]))
    path = write_config(tmp_path, protocol_server, "shell")
    result = forge_runner(tmp_path, "run", "--once", "--config", str(path))

    assert result.returncode == 0, result.stderr
    log = bytes(fake.log).decode()
    assert "test on hello from the repository" in log
    assert log.index("exit 4") < log.index("after")
    assert fake.reports == [{"state": "running"},
                            {"state": "failed", "exit_code": 4, "failure_reason": "script_failure"}]
    assert pushed_repo.token not in log
    assert list((tmp_path / "work").iterdir()) == []


def start_runner(tmp_path: Path, path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([str(RUNNER), "run", "--config", str(path)], env=runner_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop_runner(proc: subprocess.Popen[str]) -> tuple[int, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    return proc.returncode, err


def containers_of(docker_client: Any, job: FakeJob) -> list[Any]:
    return list(docker_client.containers.list(all=True, filters={"label": f"{LABEL_JOB}={job.id}"}))


def test_cancel_reaches_the_runner_at_once_and_the_container_goes(
        tmp_path: Path, protocol_server: ProtocolServer, pushed_repo: PushedRepo, busybox: str,
        docker_client: Any) -> None:
    path = write_config(tmp_path, protocol_server, "docker")
    proc = start_runner(tmp_path, path)
    try:
        fake = protocol_server.add_job(job_payload(pushed_repo, ["echo job started", "sleep 120"], image=busybox))
        protocol_server.wait_for(lambda: b"job started" in fake.log)
        assert len(containers_of(docker_client, fake)) == 1
        canceled_at = time.monotonic()
        protocol_server.cancel(fake.id)
        protocol_server.wait_for(lambda: len(fake.reports) == 2, timeout=15)
        assert time.monotonic() - canceled_at < 5
        assert fake.reports[-1] == {"state": "failed", "failure_reason": "canceled"}
        assert containers_of(docker_client, fake) == []
        assert "Job canceled" in bytes(fake.log).decode()
    finally:
        code, err = stop_runner(proc)
    assert code == 0, err


def test_sigterm_cancels_the_running_job_reports_it_and_cleans_up(
        tmp_path: Path, protocol_server: ProtocolServer, pushed_repo: PushedRepo, busybox: str,
        docker_client: Any) -> None:
    path = write_config(tmp_path, protocol_server, "docker")
    proc = start_runner(tmp_path, path)
    try:
        fake = protocol_server.add_job(job_payload(pushed_repo, ["echo job started", "sleep 120"], image=busybox))
        protocol_server.wait_for(lambda: b"job started" in fake.log)
    finally:
        stopped_at = time.monotonic()
        code, err = stop_runner(proc)
    assert code == 0, err
    assert time.monotonic() - stopped_at < 15
    assert fake.reports[-1] == {"state": "failed", "failure_reason": "system_failure"}
    assert "the runner stopped while the job was running" in bytes(fake.log).decode()
    assert containers_of(docker_client, fake) == []
    assert list((tmp_path / "work").iterdir()) == []
    assert "SIGTERM: canceling the running jobs and stopping" in err


def test_jobs_run_side_by_side_up_to_the_concurrency_and_heartbeats_cancel(
        tmp_path: Path, protocol_server: ProtocolServer, pushed_repo: PushedRepo) -> None:
    config = RunnerConfig(url=protocol_server.url, id=7, token=RUNNER_TOKEN, name="t", executor="shell",
                          concurrency=2, work_dir=str(tmp_path / "work"))
    runner = Runner(config, ShellExecutor(config.work_dir), poll_wait=1, heartbeat_interval=0.2)
    thread = threading.Thread(target=runner.run)
    thread.start()
    try:
        jobs = [protocol_server.add_job(job_payload(pushed_repo, [f"echo started {i}", "sleep 30"]))
                for i in range(3)]
        protocol_server.wait_for(lambda: b"started" in jobs[0].log and b"started" in jobs[1].log)
        # Two at once: the third waits for a free slot.
        time.sleep(0.5)
        assert jobs[2].state == "pending"
        assert sorted(runner.running_ids) == sorted([jobs[0].id, jobs[1].id])
        protocol_server.cancel_by_heartbeat = {jobs[0].id}
        protocol_server.wait_for(lambda: len(jobs[0].reports) == 2, timeout=10)
        assert jobs[0].reports[-1]["failure_reason"] == "canceled"
        # The freed slot takes the third job.
        protocol_server.wait_for(lambda: b"started 2" in jobs[2].log, timeout=10)
        assert any(set(beat) == {jobs[0].id, jobs[1].id} for beat in protocol_server.heartbeats)
    finally:
        runner.stop(abort=True)
        thread.join(timeout=30)
    assert not thread.is_alive()
    for job in jobs:
        assert job.reports[-1]["state"] == "failed"
    assert [j.reports[-1]["failure_reason"] for j in jobs[1:]] == ["system_failure", "system_failure"]


def test_a_job_the_forge_canceled_before_it_started_does_not_run(
        tmp_path: Path, protocol_server: ProtocolServer, pushed_repo: PushedRepo) -> None:
    config = RunnerConfig(url=protocol_server.url, id=7, token=RUNNER_TOKEN, name="t", executor="shell",
                          work_dir=str(tmp_path / "work"))
    fake = protocol_server.add_job(job_payload(pushed_repo, ["echo should not run"]))
    ran: list[int] = []

    class Recording(ShellExecutor):
        def run(self, job: Any, sink: Any, control: JobControl) -> Any:
            ran.append(job.id)
            return super().run(job, sink, control)

    # The forge cancels the job between handing it out and hearing "running".
    original = protocol_server.handle

    def cancel_on_running(method: str, path: str, query: dict[str, str], body: bytes, token: str) -> Any:
        if path.endswith(f"/jobs/{fake.id}/state") and b'"running"' in body:
            fake.state = "canceled"
        return original(method, path, query, body, token)

    protocol_server.handle = cancel_on_running  # type: ignore[method-assign]
    runner = Runner(config, Recording(config.work_dir), once=True, poll_wait=1)
    assert runner.run() == 0
    assert ran == []
    assert fake.state == "canceled"
    assert b"should not run" not in fake.log


def test_run_with_the_docker_executor_needs_a_reachable_engine(tmp_path: Path,
                                                              protocol_server: ProtocolServer) -> None:
    path = write_config(tmp_path, protocol_server, "docker")
    env = runner_env(tmp_path) | {"DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}
    result = subprocess.run([str(RUNNER), "run", "--config", str(path)], env=env, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 1
    assert "the Docker Engine is not reachable" in result.stderr
    assert "register a runner with --executor shell" in result.stderr
    assert protocol_server.requests == []  # no job is taken that could not run
