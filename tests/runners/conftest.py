"""Fixtures for the runner's tests: the Docker Engine and the busybox test image, a repository pushed with real git to
the live forge, job payloads pointing at it, and the in-memory protocol server."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runners.payload import Job
from tests import ci_images
from tests.runners.protocol_server import ProtocolServer

_job_ids = itertools.count(9000)


@pytest.fixture(scope="session")
def docker_client() -> Any:
    return ci_images.docker_client()


@pytest.fixture(scope="session")
def busybox(docker_client: Any) -> str:
    return ci_images.busybox_image(docker_client)


@dataclass
class PushedRepo:
    url: str  # the smart HTTP URL, no credentials
    sha: str
    token: str  # a personal access token of the owner (stands in for the job token until the server has them)
    path: str  # owner/repo


@pytest.fixture
def pushed_repo(factory: Any, git: Any) -> PushedRepo:
    """A private repository on the live forge with one pushed commit: reading it needs the token."""
    owner = factory.user()
    ref = factory.repo(owner, private=True)
    work = git.new_work("checkout-src")
    sha = work.commit({"README.md": "hello from the repository\n", "src/data.txt": "42\n"}, "first")
    git.push_to(work.path, ref)
    # The forge does not issue job tokens yet (the server side of the protocol lands separately); a read token
    # of the owner is "a password for Basic auth" just the same. The end-to-end test through the real protocol
    # comes with the server side.
    token = factory.token(owner, ["read:repo"])
    return PushedRepo(url=git.url(f"{ref.full_name}.git"), sha=sha, token=token, path=ref.full_name)


def job_payload(repo: PushedRepo, script: list[str], *, image: str | dict[str, Any] | None = None,
                before_script: list[str] | None = None, after_script: list[str] | None = None,
                variables: list[dict[str, Any]] | None = None, timeout: int = 120, job_id: int | None = None,
                token: str | None = None) -> dict[str, Any]:
    """A job payload as the forge sends it (docs/ci.md), for the commit in ``repo``."""
    job_id = job_id if job_id is not None else next(_job_ids)
    image_value: Any = {"name": image, "entrypoint": None} if isinstance(image, str) else image
    token = token or repo.token
    return {
        "id": job_id, "token": token, "name": "test", "stage": "test", "pipeline_id": 1,
        "image": image_value,
        "before_script": before_script or [], "script": script, "after_script": after_script or [],
        "variables": [
            {"key": "CI_PROJECT_PATH", "value": repo.path, "masked": False},
            {"key": "CI_JOB_TOKEN", "value": token, "masked": False},
            *(variables or []),
        ],
        "timeout": timeout,
        "git": {"url": repo.url, "sha": repo.sha, "ref": "main", "depth": 20},
        "log_offset": 0,
    }


def make_job(repo: PushedRepo, script: list[str], **kwargs: Any) -> Job:
    return Job.from_payload(job_payload(repo, script, **kwargs))


@pytest.fixture
def protocol_server() -> Iterator[ProtocolServer]:
    server = ProtocolServer().start()
    yield server
    server.stop()


@pytest.fixture
def work_dir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path
