"""The shell executor: a job's steps run with ``sh -e`` in a temporary directory on this host.

Opt-in, for hosts without Docker: the job runs as the runner's user with the runner's environment, so only trusted
code should be run this way. Artifacts, caches and file-type variables work as with docker; ``services`` need
containers, so they are ignored with a warning. The checkout is ``<workspace>/builds/<owner>/<repo>`` and is
removed after the job.
"""

from __future__ import annotations

import os
from pathlib import Path

from runners.executors.base import StepExecutor, Workspace
from runners.executors.common import warning_line
from runners.payload import Job
from runners.process import Outcome, run_streaming


class ShellExecutor(StepExecutor):
    name = "shell"

    def _paths(self, job: Job, root: Path) -> tuple[Path, str, str]:
        builds = root / "builds"
        project = builds / job.project_path
        return project, str(project), str(builds)

    def _tmp_paths(self, ws: Workspace) -> tuple[Path, str]:
        tmp = ws.host_project.parent / f"{ws.host_project.name}.tmp"
        return tmp, str(tmp)

    def _prepare(self, ws: Workspace) -> None:
        if ws.job.services:
            names = ", ".join(s.name for s in ws.job.services)
            warning_line(ws.log, f"the shell executor cannot run services; ignored: {names}")

    def _run_step(self, ws: Workspace, name: str, script: Path, deadline: float) -> Outcome:
        env = {**os.environ, **ws.environment()}
        return run_streaming(["sh", "-e", str(script)], cwd=ws.host_project, env=env, log=ws.log,
                             control=ws.control, deadline=deadline)
