"""Helpers for artifact and cache tests: running jobs claimed over the real runner API (so each has a real job
token), zip archives built in memory (including hostile ones), and the runner's file calls."""

from __future__ import annotations

import io
import stat
import zipfile
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import update
from sqlmodel import col

from ci.models import Pipeline
from ci.tokens import Scope
from forge.accounts.models import Account
from forge.db.engine import session_scope
from forge.repos.services import RepoRef
from tests.ci.runner_helpers import TestRunner, job_spec, make_job, make_pipeline, register, registration_token

API = "/api/v1/runners"


def zip_bytes(files: dict[str, bytes | str], links: dict[str, str] | None = None) -> bytes:
    """A zip of ``files`` (name → content; a name ending in "/" is a directory entry) and symbolic ``links``
    (name → target), written the way Info-ZIP stores symlinks (Unix mode bits in the external attributes)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            zf.writestr(name, content.encode() if isinstance(content, str) else content)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return buf.getvalue()


def runner_client(server: Any, token: str) -> httpx.Client:
    return httpx.Client(base_url=server.url + API, headers={"Authorization": f"Bearer {token}"}, timeout=60)


@dataclass
class Project:
    """A repository with a registered runner (taking up to 8 jobs at once) and one pipeline."""

    owner: Account
    ref: RepoRef
    runner: TestRunner
    pipeline_id: int


@dataclass
class RunningJob:
    id: int
    token: str
    payload: dict[str, Any]


def project(server: Any, factory: Any, *, private: bool = False, branch: str = "main",
            ref_kind: str = "branch") -> Project:
    owner = factory.user()
    ref = factory.repo(owner, private=private)
    runner = register(server.engine, registration_token(server.engine, owner, Scope.repo(ref.repo)), concurrency=8)
    pipeline_id = make_pipeline(server.engine, ref, branch=branch)
    if ref_kind != "branch":
        with session_scope(server.engine) as s:
            s.execute(update(Pipeline).where(col(Pipeline.id) == pipeline_id).values(ref_kind=ref_kind))
    return Project(owner, ref, runner, pipeline_id)


def new_pipeline(server: Any, proj: Project, branch: str = "main") -> int:
    return make_pipeline(server.engine, proj.ref, branch=branch)


def start_job(server: Any, proj: Project, name: str = "build", pipeline_id: int | None = None,
              **spec: Any) -> RunningJob:
    """Make a pending job and claim it over HTTP with the project's runner: the job runs and has a token."""
    job_id = make_job(server.engine, proj.ref, pipeline_id or proj.pipeline_id, name=name, tags=proj.runner.label,
                      spec=job_spec(**spec))
    with runner_client(server, proj.runner.token) as c:
        resp = c.post("/jobs/request", json={"wait": 5})
    assert resp.status_code == 200, resp.text
    payload = resp.json()
    assert payload["id"] == job_id
    return RunningJob(job_id, payload["token"], payload)


def upload(server: Any, job: RunningJob, content: bytes, **params: str) -> httpx.Response:
    query = {"type": "archive", "filename": "artifacts.zip", "expire_in": "", **params}
    with runner_client(server, job.token) as c:
        return c.put(f"/jobs/{job.id}/artifacts", params=query, content=content)


def download(server: Any, job: RunningJob, other_id: int) -> httpx.Response:
    with runner_client(server, job.token) as c:
        return c.get(f"/jobs/{job.id}/artifacts/{other_id}")


def finish(server: Any, job: RunningJob, state: str = "success") -> None:
    with runner_client(server, job.token) as c:
        resp = c.post(f"/jobs/{job.id}/state", json={"state": state, "exit_code": 0 if state == "success" else 1})
    assert resp.status_code == 200, resp.text
