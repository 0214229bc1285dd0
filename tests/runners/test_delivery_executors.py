"""Services and file-type variables, run for real: the job's commit comes from the live forge, the docker executor
runs the busybox test image on the real Docker Engine with service containers on a per-job network, and the
assertions read the job's log and what is left on the engine afterwards."""

from __future__ import annotations

import contextlib
import io
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from runners.executors import services as services_module
from runners.executors.common import JobControl, JobResult
from runners.executors.docker import LABEL_JOB, LABEL_RUNNER, DockerExecutor
from runners.executors.shell import ShellExecutor
from runners.logs import BufferLog
from runners.payload import Job
from tests.runners.conftest import PushedRepo, job_payload

RUNNER_ID = 990_100

HTTPD = "mkdir -p /www && echo \"served-$GREETING-$JOB_LEVEL\" > /www/index.html && httpd -f -p 8080 -h /www"
# busybox's wget has no retry option; a service may take a moment to listen (no EXPOSE in this image, so the runner
# does not wait for it).
FETCH = "for i in $(seq 1 50); do wget -q -O - http://{host}:8080/ && break; sleep 0.2; done"


def make(repo: PushedRepo, script: list[str], **extra: Any) -> Job:
    variables = extra.pop("variables", None)
    image = extra.pop("image", None)
    return Job.from_payload({**job_payload(repo, script, image=image, variables=variables), **extra})


def run(ex: Any, job: Job, control: JobControl | None = None) -> tuple[JobResult, str]:
    log = BufferLog()
    result = ex.run(job, log, control or JobControl())
    return result, log.text()


def engine_leftovers(docker_client: Any, job: Job) -> list[str]:
    selector = {"label": f"{LABEL_JOB}={job.id}"}
    return ([c.name for c in docker_client.containers.list(all=True, filters=selector)]
            + [n.name for n in docker_client.networks.list(filters=selector)])


def test_services_are_reachable_by_alias_and_image_name_and_removed_after(
        busybox: str, docker_client: Any, pushed_repo: PushedRepo, work_dir: Path) -> None:
    derived = busybox.split(":")[0].replace("/", "-")  # forge-test-busybox
    job = make(pushed_repo, [FETCH.format(host="web"), FETCH.format(host=derived), "cat /etc/hostname"],
               image=busybox, variables=[{"key": "JOB_LEVEL", "value": "from-job", "masked": False}],
               services=[{"name": busybox, "alias": ["web"], "command": ["sh", "-c", HTTPD], "entrypoint": None,
                          "variables": [{"key": "GREETING", "value": "hello"}]}])
    seen_network: list[str] = []

    def watch() -> None:  # while the job runs, its network exists and carries the runner's labels
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not seen_network:
            found = docker_client.networks.list(filters={"label": f"{LABEL_JOB}={job.id}"})
            seen_network.extend(n.attrs["Labels"].get(LABEL_RUNNER, "") for n in found)
            time.sleep(0.1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    result, log = run(DockerExecutor(str(work_dir), runner_id=RUNNER_ID), job)
    watcher.join()

    assert result == JobResult("success", 0), log
    assert f"Starting service {busybox} ..." in log
    assert f"reachable as web, {busybox.split(':')[0].replace('/', '__')}, {derived}" in log
    # Twice: by its own alias and by the image-derived name; its own and the job's variables reached it.
    assert log.count("served-hello-from-job") == 2
    assert seen_network == [str(RUNNER_ID)]
    assert engine_leftovers(docker_client, job) == []
    assert list(work_dir.iterdir()) == []


@pytest.fixture(scope="module")
def exposed_image(busybox: str, docker_client: Any) -> Any:
    """The busybox image with ``EXPOSE 8080``, so the runner waits for the service's port."""
    tag = f"forge-test/busybox-exposed:{busybox.split(':')[1]}"
    dockerfile = f"FROM {busybox}\nEXPOSE 8080\n".encode()
    docker_client.images.build(fileobj=io.BytesIO(dockerfile), tag=tag, rm=True, pull=False)
    yield tag
    with contextlib.suppress(Exception):
        docker_client.images.remove(tag)


def test_the_runner_waits_for_an_exposed_port(exposed_image: str, busybox: str, docker_client: Any,
                                              pushed_repo: PushedRepo, work_dir: Path) -> None:
    slow = f"sleep 2; {HTTPD}"
    # One try only: it can succeed only because the runner waited for the port.
    job = make(pushed_repo, ["wget -q -O - http://slow:8080/"], image=busybox,
               services=[{"name": exposed_image, "alias": ["slow"], "command": ["sh", "-c", slow],
                          "variables": [{"key": "GREETING", "value": "late"}]}])
    result, log = run(DockerExecutor(str(work_dir), runner_id=RUNNER_ID), job)
    assert result.state == "success", log
    assert "Waiting for service" in log and "(ports 8080)" in log
    assert "served-late-" in log
    assert engine_leftovers(docker_client, job) == []


def test_a_service_that_never_answers_is_a_warning(exposed_image: str, busybox: str, docker_client: Any,
                                                   pushed_repo: PushedRepo, work_dir: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services_module, "SERVICE_WAIT", 1.5)
    job = make(pushed_repo, ["echo the job ran"], image=busybox,
               services=[{"name": exposed_image, "alias": ["mute"], "command": ["sleep", "60"]},
                         {"name": exposed_image, "alias": ["dies"], "command": ["sh", "-c", "echo bye; exit 4"]}])
    result, log = run(DockerExecutor(str(work_dir), runner_id=RUNNER_ID), job)
    assert result.state == "success", log
    assert "did not answer on port(s) 8080 within 2 seconds; the job starts anyway" in log
    assert "stopped (exit code 4) before the job started; its last output:\nbye" in log
    assert "the job ran" in log
    assert engine_leftovers(docker_client, job) == []


def test_a_missing_service_image_is_an_image_pull_failure_and_nothing_is_left(
        busybox: str, docker_client: Any, pushed_repo: PushedRepo, work_dir: Path) -> None:
    job = make(pushed_repo, ["echo never"], image=busybox,
               services=[{"name": busybox, "alias": ["fine"], "command": ["sleep", "60"]},
                         {"name": "forge-test/no-such-service:1"}])
    result, log = run(DockerExecutor(str(work_dir), runner_id=RUNNER_ID), job)
    assert result == JobResult("failed", None, "image_pull_failure")
    assert "the image forge-test/no-such-service:1 is not on this host and could not be pulled" in log
    assert "never" not in log.split("Checked out")[-1]
    assert engine_leftovers(docker_client, job) == []


def test_cancel_while_a_service_runs_removes_everything(busybox: str, docker_client: Any, pushed_repo: PushedRepo,
                                                        work_dir: Path) -> None:
    job = make(pushed_repo, ["echo job started", "sleep 60"], image=busybox,
               services=[{"name": busybox, "alias": ["idle"], "command": ["sleep", "120"]}])
    log = BufferLog()
    control = JobControl()
    outcome: list[JobResult] = []
    thread = threading.Thread(target=lambda: outcome.append(
        DockerExecutor(str(work_dir), runner_id=RUNNER_ID).run(job, log, control)))
    thread.start()
    deadline = time.monotonic() + 60
    while "job started" not in log.text():
        assert time.monotonic() < deadline and thread.is_alive(), log.text()
        time.sleep(0.05)
    control.cancel("canceled")
    thread.join(timeout=30)
    assert outcome == [JobResult("failed", None, "canceled")]
    assert engine_leftovers(docker_client, job) == []


def test_leftover_networks_and_service_containers_of_this_runner_are_removed(
        busybox: str, docker_client: Any) -> None:
    mine = {LABEL_RUNNER: "990101", LABEL_JOB: "1"}
    network = docker_client.networks.create("forge-job-1-leftover-test", labels=mine)
    other = docker_client.networks.create("forge-job-2-other-runner", labels={LABEL_RUNNER: "990102"})
    container = docker_client.containers.run(busybox, ["sleep", "60"], detach=True, labels=mine,
                                             network=network.name)
    try:
        assert DockerExecutor(runner_id=990_101).remove_leftovers() == 2
        assert docker_client.networks.list(filters={"label": f"{LABEL_RUNNER}=990101"}) == []
        assert docker_client.containers.list(all=True, filters={"label": f"{LABEL_RUNNER}=990101"}) == []
        assert [n.name for n in docker_client.networks.list(filters={"label": f"{LABEL_RUNNER}=990102"})] \
            == ["forge-job-2-other-runner"]
    finally:
        for thing in (container, network, other):
            with contextlib.suppress(Exception):
                thing.remove(**({"force": True} if thing is container else {}))


def test_the_shell_executor_ignores_services_with_a_warning(pushed_repo: PushedRepo, work_dir: Path) -> None:
    job = make(pushed_repo, ["echo shell ran"], services=[{"name": "postgres:16", "alias": ["db"]}])
    result, log = run(ShellExecutor(str(work_dir)), job)
    assert result.state == "success", log
    assert "WARNING: the shell executor cannot run services; ignored: postgres:16" in log


@pytest.fixture(params=["docker", "shell"])
def executor(request: pytest.FixtureRequest, work_dir: Path) -> tuple[Any, str | None]:
    if request.param == "docker":
        return DockerExecutor(str(work_dir), runner_id=RUNNER_ID), request.getfixturevalue("busybox")
    return ShellExecutor(str(work_dir)), None


def test_file_variables_are_files_next_to_the_project(executor: tuple[Any, str | None], pushed_repo: PushedRepo,
                                                      work_dir: Path) -> None:
    ex, image = executor
    job = make(pushed_repo, ['echo "path=$KUBECONFIG"', 'cat "$KUBECONFIG"', 'cat "$DEPLOY_KEY"',
                             'test "$KUBECONFIG" = "${CI_PROJECT_DIR}.tmp/KUBECONFIG" && echo at-gitlab-path'],
               image=image,
               variables=[{"key": "KUBECONFIG", "value": "apiVersion: v1\nkind: Config\n", "masked": False,
                           "file": True},
                          {"key": "DEPLOY_KEY", "value": "very-secret-key-123", "masked": True, "file": True}])
    result, log = run(ex, job)
    assert result.state == "success", log
    assert "apiVersion: v1\nkind: Config\n" in log
    assert "at-gitlab-path" in log
    assert "very-secret-key-123" not in log and "[MASKED]" in log
    assert list(work_dir.iterdir()) == []  # the files went with the workspace
