"""Executors: where a job's steps run. ``docker`` (a fresh container per step from the job's image) and ``shell``
(a temporary directory on this host, opt-in). ``make_executor`` picks one by its configured name."""

from __future__ import annotations

from runners.config import RunnerConfig
from runners.executors.common import Executor


def make_executor(config: RunnerConfig) -> Executor:
    if config.executor == "shell":
        from runners.executors.shell import ShellExecutor

        return ShellExecutor(work_dir=config.work_dir or None)
    from runners.executors.docker import DockerExecutor

    return DockerExecutor(work_dir=config.work_dir or None, default_image=config.default_image, runner_id=config.id,
                          forge_url=config.url)
