"""Helpers for dispatcher, runner API and log tests: pipelines and jobs made directly as rows (the way the
pipeline code leaves them: a pending job with a ``spec``), registration tokens and registered runners.

Jobs get a unique tag by default so that no runner of another test (or a leftover one) can take them, and the
runners made here carry that tag as a label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import col

from ci import dispatch, tokens
from ci.models import PENDING, Job, Pipeline
from ci.tokens import Scope
from forge.accounts.models import Account
from forge.db.engine import session_scope
from forge.db.models_base import utcnow
from forge.repos.services import RepoRef
from tests.factories import unique


def make_pipeline(engine: Engine, ref: RepoRef, sha: str = "0" * 40, branch: str = "main") -> int:
    with session_scope(engine) as s:
        assert ref.repo.id is not None
        pipeline = Pipeline(repo_id=ref.repo.id, ref=branch, sha=sha, status="running")
        s.add(pipeline)
        s.flush()
        assert pipeline.id is not None
        return pipeline.id


def job_spec(script: Sequence[str] = ("echo hello",), **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "image": {"name": "busybox:ci", "entrypoint": None},
        "before_script": [],
        "script": list(script),
        "after_script": [],
        "variables": [{"key": "CI", "value": "true", "masked": False}],
        "timeout": 3600,
    }
    spec.update(extra)
    return spec


def make_job(engine: Engine, ref: RepoRef, pipeline_id: int | None = None, *, name: str = "test",
             tags: str = "", status: str = PENDING, spec: dict[str, Any] | None = None) -> int:
    pipeline_id = pipeline_id or make_pipeline(engine, ref)
    with session_scope(engine) as s:
        assert ref.repo.id is not None
        job = Job(pipeline_id=pipeline_id, repo_id=ref.repo.id, name=name, stage="test", status=status,
                  tags=tags, spec=spec if spec is not None else job_spec(), queued_at=utcnow())
        s.add(job)
        s.flush()
        assert job.id is not None
        return job.id


def get_job(engine: Engine, job_id: int) -> Job:
    with session_scope(engine) as s:
        job = s.get(Job, job_id)
        assert job is not None
        return job


def set_job(engine: Engine, job_id: int, **values: Any) -> None:
    with session_scope(engine) as s:
        s.execute(update(Job).where(col(Job.id) == job_id).values(**values))


def backdate_contact(engine: Engine, job_id: int, seconds: float) -> None:
    past = utcnow() - timedelta(seconds=seconds)
    set_job(engine, job_id, last_contact_at=past, started_at=past)


def registration_token(engine: Engine, actor: Account, scope: Scope) -> str:
    with session_scope(engine) as s:
        _, secret = tokens.create_registration_token(s, actor, scope)
        return secret


@dataclass
class TestRunner:
    id: int
    token: str
    label: str


def register(engine: Engine, secret: str, *, labels: Sequence[str] = (), concurrency: int = 1,
             label: str | None = None) -> TestRunner:
    """Register a runner with ``labels`` plus a unique label (returned) that the test's jobs can be tagged with."""
    label = label or unique("lbl")
    with session_scope(engine) as s:
        runner, token = dispatch.register_runner(s, secret, name=unique("runner"), labels=[*labels, label],
                                                 concurrency=concurrency, executor="shell", version="test")
        assert runner.id is not None
        return TestRunner(runner.id, token, label)
