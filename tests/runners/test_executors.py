"""The docker and shell executors, run for real: the job's commit is fetched from the live forge over smart HTTP,
the docker executor runs the busybox test image on the real Docker Engine, and the assertions read the log the job
produced, the containers left on the engine and the workspace left on disk."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from runners.executors.common import GREEN, RESET, JobControl, JobResult
from runners.executors.docker import LABEL_JOB, DockerExecutor
from runners.executors.shell import ShellExecutor
from runners.logs import BufferLog
from runners.payload import Job
from tests.runners.conftest import PushedRepo, make_job

ExecutorCase = tuple[Any, str | None]


@pytest.fixture(params=["docker", "shell"])
def executor(request: pytest.FixtureRequest, work_dir: Path) -> ExecutorCase:
    """(executor, image): both executors run every test of this module that takes this fixture."""
    if request.param == "docker":
        image = request.getfixturevalue("busybox")
        return DockerExecutor(str(work_dir), runner_id=1), image
    return ShellExecutor(str(work_dir)), None


def run_job(ex: Any, job: Job, control: JobControl | None = None) -> tuple[JobResult, str]:
    log = BufferLog()
    result = ex.run(job, log, control or JobControl())
    return result, log.text()


def echoed(command: str) -> str:
    return f"{GREEN}$ {command}{RESET}\n"


def leftover_containers(job: Job) -> list[Any]:
    import docker

    client = docker.from_env()
    try:
        return list(client.containers.list(all=True, filters={"label": f"{LABEL_JOB}={job.id}"}))
    finally:
        client.close()


def running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (a killed orphan may wait for a reaper that never comes)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def assert_cleaned_up(ex: Any, job: Job, work_dir: Path) -> None:
    assert list(work_dir.iterdir()) == [], "the job's workspace was not removed"
    if isinstance(ex, DockerExecutor):
        assert leftover_containers(job) == [], "a container of the job is still there"


def test_script_output_follows_each_echoed_command(executor: ExecutorCase, pushed_repo: PushedRepo,
                                                   work_dir: Path) -> None:
    ex, image = executor
    job = make_job(pushed_repo, ["echo \"job $CI_JOB_NAME says hello\"", "cat README.md src/data.txt"],
                   before_script=["echo preparing"], image=image)
    result, log = run_job(ex, job)

    assert result == JobResult("success", 0)
    assert (echoed("echo preparing") + "preparing\n" + echoed('echo "job $CI_JOB_NAME says hello"')
            + "job test says hello\n" + echoed("cat README.md src/data.txt")
            + "hello from the repository\n42\n") in log
    assert f"Checked out {pushed_repo.sha[:8]} (main)" in log
    assert log.rstrip().endswith(f"{GREEN}Job succeeded{RESET}")
    assert_cleaned_up(ex, job, work_dir)


def test_project_dir_is_the_checkout_at_the_exact_commit(executor: ExecutorCase, pushed_repo: PushedRepo,
                                                         work_dir: Path, git: Any) -> None:
    ex, image = executor
    # A later push moves main on; the job must still get the commit it was made for.
    src = git.tmp / "checkout-src"
    git.commit(src, "README.md", "a newer readme\n", "second")
    git.run("push", git.url(f"{pushed_repo.path}.git", pushed_repo.path.split("/")[0], "correct-horse-42"), "main",
            cwd=src, check=True)
    job = make_job(pushed_repo, ['echo "dir=$CI_PROJECT_DIR pwd=$(pwd)"', "cat README.md"], image=image)
    result, log = run_job(ex, job)

    assert result.state == "success", log
    found = re.search(r"dir=(/\S+) pwd=(/\S+)", log)
    assert found and found.group(1) == found.group(2)
    if isinstance(ex, DockerExecutor):
        assert found.group(1) == f"/builds/{pushed_repo.path}"
    else:
        assert found.group(1).endswith(f"/builds/{pushed_repo.path}")
    assert "hello from the repository" in log
    assert "a newer readme" not in log


def test_failing_script_fails_with_its_exit_code_and_after_script_still_runs(
        executor: ExecutorCase, pushed_repo: PushedRepo, work_dir: Path) -> None:
    ex, image = executor
    job = make_job(pushed_repo, ["echo step one", "exit 3", "echo never printed"], image=image,
                   after_script=["echo cleaning up after $CI_JOB_NAME", "exit 9"])
    result, log = run_job(ex, job)

    assert result == JobResult("failed", 3, "script_failure")
    assert "never printed" not in log
    # after_script runs after the failure, and its own failure does not change the result.
    assert log.index("exit 3") < log.index("cleaning up after test")
    assert "after_script failed with exit code 9" in log
    assert "ERROR: Job failed: exit code 3" in log
    assert_cleaned_up(ex, job, work_dir)


def test_timeout_kills_the_job(executor: ExecutorCase, pushed_repo: PushedRepo, work_dir: Path,
                               tmp_path: Path) -> None:
    ex, image = executor
    pid_file = tmp_path / "pids"
    script = ["echo sleeping", "sleep 60"]
    if isinstance(ex, ShellExecutor):
        # A background child too: it must not outlive the job.
        script = [f"sleep 61 & echo $! > {pid_file}", *script]
    job = make_job(pushed_repo, script, image=image, timeout=3, after_script=["echo after timeout"])
    started = time.monotonic()
    result, log = run_job(ex, job)

    assert result == JobResult("failed", None, "job_timeout")
    assert time.monotonic() - started < 20
    assert "sleeping" in log
    assert "after timeout" not in log
    assert "execution took longer than 3 seconds" in log
    assert_cleaned_up(ex, job, work_dir)
    if isinstance(ex, ShellExecutor):
        assert not running(int(pid_file.read_text())), "a background process of the job outlived it"


def test_masked_values_and_the_job_token_never_reach_the_log(executor: ExecutorCase, pushed_repo: PushedRepo,
                                                             work_dir: Path) -> None:
    ex, image = executor
    secret = "s3cr3t-Value-4711"
    job = make_job(
        pushed_repo,
        [
            "echo \"the secret is $DEPLOY_KEY\"",
            # Written in two pieces with a pause, so the value reaches the runner split across reads.
            "printf 's3cr3t-'; sleep 0.5; printf 'Value-4711 ends here\\n'",
            "echo \"token: $CI_JOB_TOKEN\"",
            "echo \"plain: $PLAIN\"",
        ],
        image=image,
        variables=[{"key": "DEPLOY_KEY", "value": secret, "masked": True},
                   {"key": "PLAIN", "value": "visible-value", "masked": False}],
        after_script=["echo after: $DEPLOY_KEY"],
    )
    result, log = run_job(ex, job)

    assert result.state == "success", log
    assert secret not in log
    assert pushed_repo.token not in log
    assert "the secret is [MASKED]" in log
    assert "[MASKED] ends here" in log
    assert "token: [MASKED]" in log
    assert "after: [MASKED]" in log
    assert "plain: visible-value" in log


def test_cancel_kills_the_job_at_once(executor: ExecutorCase, pushed_repo: PushedRepo, work_dir: Path) -> None:
    ex, image = executor
    job = make_job(pushed_repo, ["echo job started", "sleep 60", "echo not reached"], image=image,
                   after_script=["echo after cancel"])
    log = BufferLog()
    control = JobControl()
    outcome: list[JobResult] = []
    thread = threading.Thread(target=lambda: outcome.append(ex.run(job, log, control)))
    thread.start()
    deadline = time.monotonic() + 60
    while "job started" not in log.text():
        assert time.monotonic() < deadline and thread.is_alive(), log.text()
        time.sleep(0.05)
    canceled_at = time.monotonic()
    control.cancel("canceled")
    thread.join(timeout=30)

    assert not thread.is_alive()
    assert time.monotonic() - canceled_at < 10
    assert outcome == [JobResult("failed", None, "canceled")]
    assert "not reached" not in log.text() and "after cancel" not in log.text()
    assert "Job canceled" in log.text()
    assert_cleaned_up(ex, job, work_dir)


def test_a_wrong_token_fails_the_checkout_without_showing_it(executor: ExecutorCase, pushed_repo: PushedRepo,
                                                             work_dir: Path) -> None:
    ex, image = executor
    bad = "forge_not-a-real-token-123"
    job = make_job(pushed_repo, ["echo should not run"], image=image, token=bad)
    result, log = run_job(ex, job)

    assert result == JobResult("failed", None, "system_failure")
    assert "git fetch failed" in log
    assert "should not run" not in log
    assert bad not in log
    assert_cleaned_up(ex, job, work_dir)


def test_docker_missing_image_is_an_image_pull_failure(busybox: str, pushed_repo: PushedRepo,
                                                       work_dir: Path) -> None:
    ex = DockerExecutor(str(work_dir))
    job = make_job(pushed_repo, ["echo hi"], image="forge-test/no-such-image:1")
    result, log = run_job(ex, job)

    assert result == JobResult("failed", None, "image_pull_failure")
    assert "the image forge-test/no-such-image:1 is not on this host and could not be pulled" in log
    assert_cleaned_up(ex, job, work_dir)


def test_docker_entrypoint_override_runs_before_the_script(busybox: str, pushed_repo: PushedRepo,
                                                           work_dir: Path) -> None:
    ex = DockerExecutor(str(work_dir))
    job = make_job(pushed_repo, ['echo "from entrypoint: $SET_BY_ENTRYPOINT"'],
                   image={"name": busybox, "entrypoint": ["env", "SET_BY_ENTRYPOINT=yes"]})
    result, log = run_job(ex, job)

    assert result.state == "success", log
    assert "from entrypoint: yes" in log


def test_docker_engine_error_still_removes_container_and_workspace(busybox: str, pushed_repo: PushedRepo,
                                                                  work_dir: Path) -> None:
    ex = DockerExecutor(str(work_dir))
    # The engine cannot start this container (no such program): an error in the middle of the job.
    job = make_job(pushed_repo, ["echo hi"], image={"name": busybox, "entrypoint": ["/no/such/program"]})
    result, log = run_job(ex, job)

    assert result == JobResult("failed", None, "system_failure")
    assert "ERROR: the runner failed" in log
    assert_cleaned_up(ex, job, work_dir)


def test_docker_job_without_image_uses_the_default_or_fails_clearly(busybox: str, pushed_repo: PushedRepo,
                                                                   work_dir: Path) -> None:
    job = make_job(pushed_repo, ["echo default image works"], image=None)
    result, log = run_job(DockerExecutor(str(work_dir)), job)
    assert result == JobResult("failed", None, "config_error")
    assert "the job names no image and this runner has no default_image" in log

    result, log = run_job(DockerExecutor(str(work_dir), default_image=busybox), job)
    assert result.state == "success", log
    assert "default image works" in log
