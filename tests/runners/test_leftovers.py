"""A runner killed with SIGKILL cannot remove its containers; the next `forge-runner run` does, and only its own."""

from __future__ import annotations

import contextlib
from typing import Any

from runners.executors.docker import LABEL_RUNNER, DockerExecutor
from runners.executors.shell import ShellExecutor


def _container(client: Any, image: str, runner_id: int) -> Any:
    return client.containers.run(image, ["sleep", "60"], detach=True, labels={LABEL_RUNNER: str(runner_id)})


def test_the_next_run_removes_only_its_own_leftover_containers(docker_client: Any, busybox: str) -> None:
    mine = [_container(docker_client, busybox, 990_001) for _ in range(2)]
    other = _container(docker_client, busybox, 990_002)
    try:
        assert DockerExecutor(runner_id=990_001).remove_leftovers() == 2
        left = {c.id for c in docker_client.containers.list(all=True, filters={"label": LABEL_RUNNER})}
        assert not left & {c.id for c in mine}
        assert other.id in left  # another runner's container on the same engine is not touched
        assert DockerExecutor(runner_id=990_001).remove_leftovers() == 0
    finally:
        for container in [*mine, other]:
            with contextlib.suppress(Exception):  # already removed by the runner under test
                container.remove(force=True)


def test_the_shell_executor_has_nothing_to_remove() -> None:
    assert ShellExecutor().remove_leftovers() == 0
