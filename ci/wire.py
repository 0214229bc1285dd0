"""Pipelines and jobs as the REST API and webhook payloads show them (see ``forge.wire`` for the conventions).

Field names follow GitLab's pipeline and job objects where they make sense here (``status``, ``ref``, ``sha``,
``source``, ``duration``, ``failure_reason``, ``allow_failure``...), with forge's ``html_url`` and ``user``
(a :class:`forge.wire.users.UserBrief`). ``duration`` is in seconds and absent until the pipeline or job has both
started and finished. ``base`` is the forge's public URL.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import func
from sqlmodel import Session, col, select

from ci.models import Job, Pipeline, Runner
from ci.models.artifacts import Artifact
from forge.accounts.models import Account
from forge.repos.services import RepoRef
from forge.wire.users import UserBrief, user_brief


class PipelineOut(BaseModel):
    id: int = Field(description="The pipeline's number, as in its web address.")
    status: str = Field(description="created, pending, running, success, failed, canceled, skipped, manual, "
                                    "scheduled, waiting_for_resource or config_error.")
    ref: str = Field(description="Branch or tag name (the head branch of a merge request pipeline).")
    ref_kind: str = Field(description="branch, tag or pull.")
    sha: str
    before_sha: str = Field(description="The branch's previous commit for a push pipeline; empty otherwise.")
    source: str = Field(description="push, web, api, schedule, trigger or merge_request_event.")
    commit_title: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration: int | None = Field(description="Seconds from start to finish; null until finished.")
    user: UserBrief | None = Field(description="Who triggered it; null for a push by an unknown pusher.")
    jobs_count: int = Field(description="Jobs of the pipeline, counting only each job's latest attempt.")
    html_url: str


class RunnerRef(BaseModel):
    id: int
    description: str


class ArtifactOut(BaseModel):
    file_type: str = Field(description="archive (the artifacts zip) or junit (a test report).")
    filename: str
    size: int
    expire_at: datetime | None


class JobOut(BaseModel):
    id: int
    name: str
    stage: str
    status: str
    when: str = Field(description="on_success, on_failure, always, manual or delayed.")
    allow_failure: bool
    ref: str
    sha: str
    pipeline_id: int
    runner: RunnerRef | None
    user: UserBrief | None = Field(description="Who the job runs for (the trigger user, or who played/retried "
                                               "it).")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration: float | None = Field(description="Seconds from start to finish; null until finished.")
    failure_reason: str = Field(description="Why it failed (script_failure, runner_system_failure...); empty "
                                            "otherwise.")
    exit_code: int | None
    retry_of_id: int | None = Field(description="The attempt this one retries, if any.")
    coverage: float | None = Field(description="Percent, from the job's coverage regular expression.")
    artifacts: list[ArtifactOut]
    html_url: str


def _seconds(started: datetime | None, finished: datetime | None) -> float | None:
    if started is None or finished is None:
        return None
    return max((finished - started).total_seconds(), 0.0)


def _user(session: Session, account_id: int | None, base: str) -> UserBrief | None:
    account = session.get(Account, account_id) if account_id is not None else None
    return user_brief(account, base) if account is not None else None


def pipeline_html_url(base: str, ref: RepoRef, pipeline_id: int | None) -> str:
    return f"{base}/{ref.full_name}/-/pipelines/{pipeline_id}"


def job_html_url(base: str, ref: RepoRef, job_id: int | None) -> str:
    return f"{base}/{ref.full_name}/-/jobs/{job_id}"


def _jobs_count(session: Session, pipeline_id: int) -> int:
    # A retried job keeps its name: count names, so the number matches the jobs the pipeline page shows.
    stmt = select(func.count(func.distinct(Job.name))).where(Job.pipeline_id == pipeline_id)
    return int(session.exec(stmt).one())


def pipeline_json(session: Session, base: str, ref: RepoRef, pipeline: Pipeline) -> PipelineOut:
    assert pipeline.id is not None
    seconds = _seconds(pipeline.started_at, pipeline.finished_at)
    return PipelineOut(
        id=pipeline.id,
        status=pipeline.status,
        ref=pipeline.ref,
        ref_kind=pipeline.ref_kind,
        sha=pipeline.sha,
        before_sha=pipeline.before_sha,
        source=pipeline.source,
        commit_title=pipeline.commit_title,
        created_at=pipeline.created_at,
        started_at=pipeline.started_at,
        finished_at=pipeline.finished_at,
        duration=int(seconds) if seconds is not None else None,
        user=_user(session, pipeline.triggered_by_id, base),
        jobs_count=_jobs_count(session, pipeline.id),
        html_url=pipeline_html_url(base, ref, pipeline.id),
    )


def _artifacts(session: Session, job_id: int) -> list[ArtifactOut]:
    rows = session.exec(select(Artifact).where(Artifact.job_id == job_id).order_by(col(Artifact.id)))
    return [ArtifactOut(file_type=a.file_type, filename=a.filename, size=a.size, expire_at=a.expire_at)
            for a in rows]


def job_json(session: Session, base: str, ref: RepoRef, job: Job, pipeline: Pipeline | None = None) -> JobOut:
    """``pipeline`` (the job's) saves a lookup when the caller already holds it."""
    assert job.id is not None
    if pipeline is None or pipeline.id != job.pipeline_id:
        pipeline = session.get(Pipeline, job.pipeline_id)
    assert pipeline is not None
    runner = session.get(Runner, job.runner_id) if job.runner_id is not None else None
    return JobOut(
        id=job.id,
        name=job.name,
        stage=job.stage,
        status=job.status,
        when=job.when,
        allow_failure=job.allow_failure,
        ref=pipeline.ref,
        sha=pipeline.sha,
        pipeline_id=job.pipeline_id,
        runner=RunnerRef(id=runner.id or 0, description=runner.name) if runner is not None else None,
        user=_user(session, job.user_id, base),
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        duration=_seconds(job.started_at, job.finished_at),
        failure_reason=job.failure_reason,
        exit_code=job.exit_code,
        retry_of_id=job.retry_of_id,
        coverage=job.coverage,
        artifacts=_artifacts(session, job.id),
        html_url=job_html_url(base, ref, job.id),
    )


def jobs_json(session: Session, base: str, ref: RepoRef, jobs: Iterable[Job],
              pipeline: Pipeline | None = None) -> list[JobOut]:
    return [job_json(session, base, ref, job, pipeline) for job in jobs]
