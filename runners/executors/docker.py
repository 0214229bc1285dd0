"""The docker executor: each step of a job runs in a fresh container of the job's image (docker SDK).

A job with ``services`` gets its own bridge network with the service containers on it (``services.py``); the step
containers join it. File-type variables are written on the host and mounted at ``${CI_PROJECT_DIR}.tmp``.

The image is used when it is on this host and pulled otherwise (no registry is assumed; a failed pull ends the job
with ``image_pull_failure``). The checkout is made on the host (``runners.checkout``) and bind-mounted at
``/builds/<owner>/<repo>``; the step scripts are mounted read-only at ``/forge-runner``. ``before_script`` +
``script`` run in one container and ``after_script`` in a second one with the same checkout. A container's output
is streamed to the log as it comes. Cancel and timeout kill the container at once; every container carries the
labels ``forge-runner.job-id``/``forge-runner.runner-id`` and is removed when its step ends, whatever happened.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.utils import parse_repository_tag

from runners.executors.base import StepExecutor, StepFailure, Workspace
from runners.executors.common import BUILDS_DIR, section
from runners.executors.services import ServiceSet, remove_container, remove_network, remove_services, start_services
from runners.payload import Job
from runners.process import Outcome

log = logging.getLogger("forge_runner")

SCRIPTS_MOUNT = "/forge-runner"
LABEL_JOB = "forge-runner.job-id"
LABEL_RUNNER = "forge-runner.runner-id"
# Runner ids are only unique within one forge: two forges' runners may share an engine (staging and production,
# or test sessions), so what a runner cleans up is also chosen by the forge it serves.
LABEL_FORGE = "forge-runner.forge"
_POLL = 0.05


class DockerExecutor(StepExecutor):
    name = "docker"

    def __init__(self, work_dir: str | None = None, *, default_image: str = "", runner_id: int = 0,
                 forge_url: str = "") -> None:
        super().__init__(work_dir)
        self.default_image = default_image
        self.runner_id = runner_id
        self.forge = hashlib.sha256(forge_url.rstrip("/").encode()).hexdigest()[:16] if forge_url else ""

    def _paths(self, job: Job, root: Path) -> tuple[Path, str, str]:
        return root / "project", f"{BUILDS_DIR}/{job.project_path}", BUILDS_DIR

    def _tmp_paths(self, ws: Workspace) -> tuple[Path, str]:
        return ws.root / "project.tmp", f"{ws.project_dir}.tmp"

    def _labels(self, job: Job) -> dict[str, str]:
        labels = {LABEL_JOB: str(job.id), LABEL_RUNNER: str(self.runner_id)}
        if self.forge:
            labels[LABEL_FORGE] = self.forge
        return labels

    def remove_leftovers(self) -> int:
        # Only this runner's containers and networks: several runners may share one Docker Engine.
        if not self.runner_id:
            return 0
        try:
            client = docker.from_env()
        except DockerException:
            return 0
        selector = {"label": [f"{LABEL_RUNNER}={self.runner_id}"] + ([f"{LABEL_FORGE}={self.forge}"]
                                                                     if self.forge else [])}
        try:
            found = client.containers.list(all=True, filters=selector)
            for container in found:
                remove_container(container)
            # Networks last: one cannot be removed while a container is still on it.
            networks = client.networks.list(filters=selector)
            for network in networks:
                remove_network(network)
            return len(found) + len(networks)
        except DockerException as exc:
            log.error("cannot list the containers an earlier run left: %s", exc)
            return 0
        finally:
            with contextlib.suppress(Exception):
                client.close()

    def _prepare(self, ws: Workspace) -> None:
        job = ws.job
        image = job.image.name if job.image else self.default_image
        if not image:
            raise StepFailure("config_error", "the job names no image and this runner has no default_image")
        try:
            client = docker.from_env()
            client.ping()
        except DockerException as exc:
            raise StepFailure("system_failure", f"the Docker Engine is not reachable: {exc}") from None
        ws.extra["client"] = client
        ws.extra["image"] = image
        ws.extra["containers"] = []
        ws.extra["services"] = ServiceSet()
        section(ws.log, f"Using docker image {image}")
        self._ensure_image(ws, image)
        if job.services:
            section(ws.log, "Starting services")
            try:
                start_services(client, job, self._labels(job), ws.environment(), ws.log, ws.control,
                               lambda name: self._ensure_image(ws, name), ws.extra["services"])
            except DockerException as exc:
                raise StepFailure("system_failure", f"cannot start the job's services: "
                                                    f"{getattr(exc, 'explanation', None) or exc}") from None

    def _ensure_image(self, ws: Workspace, image: str) -> None:
        """Use ``image`` from this host, or pull it; ``StepFailure`` (``image_pull_failure``) when it cannot."""
        client = ws.extra["client"]
        try:
            client.images.get(image)
            return
        except ImageNotFound:
            pass
        except APIError as exc:
            raise StepFailure("system_failure", f"cannot look up the image {image}: {exc.explanation or exc}") \
                from None
        section(ws.log, f"Pulling docker image {image}")
        repository, tag = parse_repository_tag(image)
        try:
            # A digest ("name@sha256:...") comes back as the tag part; the engine accepts it the same way.
            client.images.pull(repository, tag=tag or "latest")
        except DockerException as exc:
            detail = getattr(exc, "explanation", None) or str(exc)
            raise StepFailure(
                "image_pull_failure", f"the image {image} is not on this host and could not be pulled: {detail}"
            ) from None

    def _run_step(self, ws: Workspace, name: str, script: Path, deadline: float) -> Outcome:
        client = ws.extra["client"]
        job = ws.job
        entrypoint = list(job.image.entrypoint) if job.image and job.image.entrypoint is not None else None
        labels = {**self._labels(job), "forge-runner.step": name}
        volumes = {
            str(ws.host_project): {"bind": ws.project_dir, "mode": "rw"},
            str(ws.scripts): {"bind": SCRIPTS_MOUNT, "mode": "ro"},
        }
        if ws.file_paths and ws.tmp_host is not None:
            volumes[str(ws.tmp_host)] = {"bind": ws.tmp_dir, "mode": "rw"}
        network = ws.extra["services"].network_name
        container = client.containers.create(
            ws.extra["image"],
            command=["sh", "-e", f"{SCRIPTS_MOUNT}/{script.name}"],
            entrypoint=entrypoint,
            working_dir=ws.project_dir,
            environment=ws.environment(),
            labels=labels,
            volumes=volumes,
            name=f"forge-job-{job.id}-{name.replace('_', '-')}-{secrets.token_hex(4)}",
            detach=True,
            stdin_open=False,
            tty=False,
            **({"network": network} if network else {}),
        )
        ws.extra["containers"].append(container)
        try:
            return self._follow(ws, container, deadline)
        finally:
            remove_container(container)

    def _follow(self, ws: Workspace, container: Any, deadline: float) -> Outcome:
        container.start()
        stream = container.logs(stream=True, follow=True, stdout=True, stderr=True)

        def pump() -> None:
            # The stream ends when the container stops (or is killed); each chunk is what the job just wrote.
            with contextlib.suppress(Exception):
                for chunk in stream:
                    ws.log.write(chunk)

        reader = threading.Thread(target=pump, name=f"docker-log-{ws.job.id}", daemon=True)
        reader.start()
        timed_out = canceled = False
        while True:
            reader.join(_POLL)
            # The log stream normally ends when the container stops; should it break off earlier, the
            # container's own state says when the step is over.
            if not reader.is_alive() and _exited(container):
                break
            if ws.control.is_set():
                canceled = True
            elif time.monotonic() >= deadline:
                timed_out = True
            else:
                continue
            _kill(container)
            break
        reader.join(timeout=10)
        with contextlib.suppress(Exception):
            stream.close()
        if timed_out or canceled:
            return Outcome(None, timed_out=timed_out, canceled=canceled)
        return Outcome(int(container.attrs["State"]["ExitCode"]))

    def _cleanup(self, ws: Workspace) -> None:
        client = ws.extra.get("client")
        if client is None:
            return
        for container in ws.extra.get("containers", []):
            remove_container(container)
        if "services" in ws.extra:
            remove_services(ws.extra["services"])
        # Files a job made as root in the bind-mounted checkout cannot be removed by a runner that is not root:
        # remove them from a container (as root) before the workspace itself is removed.
        shutil.rmtree(ws.host_project, ignore_errors=True)
        if ws.host_project.exists() and os.geteuid() != 0:
            self._remove_as_root(ws, client)
        with contextlib.suppress(Exception):
            client.close()

    def _remove_as_root(self, ws: Workspace, client: Any) -> None:
        try:
            client.containers.run(
                ws.extra["image"], entrypoint=["rm"], command=["-rf", "/workspace/project"], user="0",
                volumes={str(ws.root): {"bind": "/workspace", "mode": "rw"}}, remove=True,
                labels={**self._labels(ws.job), "forge-runner.step": "cleanup"},
            )
        except DockerException as exc:
            log.error("job %s: cannot remove the checkout %s: %s", ws.job.id, ws.host_project, exc)


def _exited(container: Any) -> bool:
    container.reload()
    return container.status in ("exited", "dead")


def _kill(container: Any) -> None:
    with contextlib.suppress(NotFound, APIError):
        container.kill()
