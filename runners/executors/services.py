"""A job's ``services`` with the docker executor: a user-defined bridge network per job, one container per service on
it, reachable by its aliases and by the names GitLab derives from the image; the job's step containers join the
same network.

As in GitLab Runner, a service gets the job's variables plus its own (its own win), its ``command`` replaces the
image's CMD and its ``entrypoint`` the image's ENTRYPOINT. Before the job's script runs, each service's exposed TCP
ports are probed for a short while (at most ``SERVICE_WAIT`` seconds per service), so a database has a moment to
start listening; a service that does not answer is a warning, not a failure, since it may not need to listen.
Everything carries the runner's labels and is removed with the job (``remove_services``); a runner that was killed
finds what it left through the labels (``DockerExecutor.remove_leftovers``).
"""

from __future__ import annotations

import logging
import re
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from docker.errors import APIError, DockerException, NotFound
from docker.utils import parse_repository_tag

from runners.executors.common import JobControl, warning_line
from runners.logs import MaskingLog
from runners.payload import Job, JobService

log = logging.getLogger("forge_runner")

SERVICE_WAIT = 30.0  # seconds, per service
_PROBE_INTERVAL = 0.25


def image_aliases(image: str) -> list[str]:
    """GitLab's host names for a service image: the tag or digest and a registry port dropped, then ``/`` written
    as ``__`` and as ``-`` (``tutum/wordpress:4`` gives ``tutum__wordpress`` and ``tutum-wordpress``)."""
    repository, _tag = parse_repository_tag(image)
    parts = repository.split("/")
    if len(parts) > 1 and ":" in parts[0]:
        parts[0] = parts[0].split(":", 1)[0]
    names = ["__".join(parts), "-".join(parts)]
    return [n for n in dict.fromkeys(names) if n]


_ALIAS = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def service_aliases(service: JobService) -> list[str]:
    """Every name the service answers to: its own aliases first, then the image-derived ones; names Docker would
    not accept are left out."""
    names = [*service.aliases, *image_aliases(service.name)]
    return [n for n in dict.fromkeys(names) if _ALIAS.fullmatch(n) and len(n) <= 253]


@dataclass
class ServiceSet:
    """What ``start_services`` made for one job, for the step containers and the clean-up."""

    network: Any = None  # docker Network
    containers: list[Any] = field(default_factory=list)

    @property
    def network_name(self) -> str | None:
        return None if self.network is None else str(self.network.name)


def start_services(client: Any, job: Job, labels: dict[str, str], environment: dict[str, str],
                   out: MaskingLog, control: JobControl, ensure_image: Callable[[str], None],
                   made: ServiceSet) -> None:
    """Create the job's network and start its services, recording each thing in ``made`` as soon as it exists so
    the clean-up finds it whatever happens next. ``ensure_image`` pulls a missing image (and raises the executor's
    failure when it cannot)."""
    name = f"forge-job-{job.id}-{secrets.token_hex(4)}"
    made.network = client.networks.create(name, driver="bridge", labels=labels, check_duplicate=True)
    for index, service in enumerate(job.services):
        if control.is_set():
            return
        aliases = service_aliases(service)
        out.text(f"Starting service {service.name} ...\n")
        ensure_image(service.name)
        env = dict(environment)
        env.update(dict(service.variables))
        networking = {name: client.api.create_endpoint_config(aliases=aliases)}
        container = client.containers.create(
            service.name,
            command=list(service.command) if service.command is not None else None,
            entrypoint=list(service.entrypoint) if service.entrypoint is not None else None,
            environment=env,
            labels={**labels, "forge-runner.step": "service", "forge-runner.service": service.name},
            name=f"forge-job-{job.id}-service-{index}-{secrets.token_hex(4)}",
            network=name,
            networking_config=networking,
            detach=True,
        )
        made.containers.append(container)
        container.start()
        out.text(f"Service {service.name} is reachable as {', '.join(aliases) or '(no valid name)'}\n")
    for service, container in zip(job.services, made.containers, strict=False):
        if control.is_set():
            return
        _wait_for(client, container, service, name, out, control)


def _exposed_ports(client: Any, image: str) -> list[int]:
    try:
        config = client.images.get(image).attrs.get("Config") or {}
    except DockerException:
        return []
    ports = []
    for spec in (config.get("ExposedPorts") or {}):
        number, _, proto = str(spec).partition("/")
        if (proto or "tcp") == "tcp" and number.isdigit():
            ports.append(int(number))
    return sorted(ports)


def _wait_for(client: Any, container: Any, service: JobService, network: str, out: MaskingLog,
              control: JobControl) -> None:
    """Probe the service's exposed TCP ports from this host until each accepts a connection (best effort)."""
    ports = _exposed_ports(client, service.name)
    if not ports:
        return
    deadline = time.monotonic() + SERVICE_WAIT
    out.text(f"Waiting for service {service.name} to be ready (ports {', '.join(map(str, ports))})...\n")
    pending = list(ports)
    while pending and time.monotonic() < deadline and not control.is_set():
        container.reload()
        if container.status in ("exited", "dead"):
            _report_dead(container, service, out)
            return
        address = (((container.attrs.get("NetworkSettings") or {}).get("Networks") or {}).get(network) or {}) \
            .get("IPAddress")
        if address:
            pending = [p for p in pending if not _answers(address, p)]
        if pending:
            control.wait(_PROBE_INTERVAL)
    if pending and not control.is_set():
        warning_line(out, f"service {service.name} did not answer on port(s) {', '.join(map(str, pending))} "
                          f"within {SERVICE_WAIT:.0f} seconds; the job starts anyway")


def _answers(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=1.0):
            return True
    except OSError:
        return False


def _report_dead(container: Any, service: JobService, out: MaskingLog) -> None:
    code = (container.attrs.get("State") or {}).get("ExitCode")
    try:
        tail = container.logs(tail=20).decode("utf-8", "replace")
    except DockerException:
        tail = ""
    message = f"service {service.name} stopped (exit code {code}) before the job started"
    if tail.strip():
        message += f"; its last output:\n{tail.rstrip()}"
    warning_line(out, message)


def remove_services(made: ServiceSet) -> None:
    """Remove the service containers, then the network (it cannot go while a container is on it)."""
    for container in made.containers:
        remove_container(container)
    if made.network is not None:
        remove_network(made.network)


def remove_container(container: Any) -> None:
    # force: a container that is somehow still running is killed first. NotFound (a subclass of APIError, so it is
    # caught first) means it is already gone.
    try:
        container.remove(force=True, v=True)
    except NotFound:
        pass
    except APIError as exc:
        if exc.status_code != 409:  # 409: removal already in progress
            log.error("cannot remove container %s: %s", container.id[:12], exc)


def remove_network(network: Any) -> None:
    for attempt in range(5):
        try:
            network.remove()
            return
        except NotFound:
            return
        except APIError as exc:
            # A container that was just removed may still be detaching from the network for a moment.
            if attempt == 4:
                log.error("cannot remove network %s: %s", network.name, exc)
                return
            time.sleep(0.2 * (attempt + 1))
        except DockerException as exc:
            log.error("cannot remove network %s: %s", network.name, exc)
            return
