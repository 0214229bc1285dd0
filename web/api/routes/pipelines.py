"""API: a repository's pipelines: list, read, run ("Run pipeline" as ``source`` "api"), cancel and retry.

Reads follow the repository's visibility (public repositories anonymously; a token needs ``read:repo``);
actions need write access to the repository, capped by the token's scopes (``write:repo``). The work is done by
the same ``ci.pipelines`` / ``ci.job_actions`` functions as the web buttons, which check write access again.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from sqlmodel import Session

from ci import job_actions, jobstate, pipelines, test_reports
from ci.models import Pipeline
from ci.tokens import MAX_ID
from ci.wire import JobOut, PipelineOut, jobs_json, pipeline_json
from forge.errors import InvalidInput, NotFound
from forge.permissions import Access
from forge.repos.services import RepoRef
from web.api.deps import Caller, CallerDep, db, settings_of
from web.api.pagination import LIST_RESPONSES, PageDep, link_headers
from web.api.params import Owner, RepoName, code_repo
from web.api.schemas.ci import (
    REF_PATTERN,
    PipelineCreate,
    PipelineSource,
    PipelineStatus,
    TestReport,
    TestReportSummary,
)

router = APIRouter(tags=["ci"])

ObjectId = Annotated[int, Path(ge=1, le=MAX_ID)]

_P = "/repos/{owner}/{repo}/pipelines"


def _pipeline(session: Session, caller: Caller, owner: str, repo: str, pipeline_id: int,
              needed: Access = Access.READ) -> tuple[RepoRef, Pipeline]:
    ref = code_repo(session, caller, owner, repo, needed)
    return ref, pipelines.get_pipeline(session, ref.repo, pipeline_id)


@router.get(_P, response_model=list[PipelineOut], responses=LIST_RESPONSES)
def list_pipelines(
    request: Request, response: Response, caller: CallerDep, owner: Owner, repo: RepoName, page: PageDep,
    ref: Annotated[str, Query(max_length=255, pattern=REF_PATTERN,
                                     description="Only pipelines of this branch or tag.")] = "",
    status: Annotated[PipelineStatus | None, Query()] = None,
    source: Annotated[PipelineSource | None, Query()] = None,
) -> list[PipelineOut]:
    """A repository's pipelines, newest first."""
    base = settings_of(request).public_url()
    with db(request) as session:
        repo_ref = code_repo(session, caller, owner, repo)
        assert repo_ref.repo.id is not None
        rows, total = pipelines.filter_pipelines(session, repo_ref.repo.id, page.offset, page.limit, ref=ref,
                                                 status=status or "", source=source or "")
        link_headers(request, response, page, total)
        return [pipeline_json(session, base, repo_ref, p) for p in rows]


@router.post(_P, response_model=PipelineOut, status_code=201)
def run_pipeline(request: Request, caller: CallerDep, owner: Owner, repo: RepoName,
                 body: PipelineCreate) -> PipelineOut:
    """Run the pipeline file of a branch or tag, as the web's "Run pipeline" does (``source`` "api"). A 422 says
    why nothing would run (no pipeline file, workflow:rules, no job matches, unknown ref)."""
    settings = settings_of(request)
    user = caller.require_user("write:repo")
    run_variables = pipelines.parse_run_variables((v.key, v.value) for v in body.variables)
    with db(request) as session:
        repo_ref = code_repo(session, caller, owner, repo, Access.WRITE)
        try:
            pipeline = pipelines.run_pipeline(session, settings, repo_ref, user, body.ref, run_variables,
                                              source="api")
        except NotFound as exc:  # an unknown ref is a bad request field, not a missing resource
            raise InvalidInput(exc.message, **exc.params) from exc
        return pipeline_json(session, settings.public_url(), repo_ref, pipeline)


@router.get(_P + "/{pipeline_id}", response_model=PipelineOut)
def get_pipeline(request: Request, caller: CallerDep, owner: Owner, repo: RepoName,
                 pipeline_id: ObjectId) -> PipelineOut:
    with db(request) as session:
        ref, pipeline = _pipeline(session, caller, owner, repo, pipeline_id)
        return pipeline_json(session, settings_of(request).public_url(), ref, pipeline)


@router.post(_P + "/{pipeline_id}/cancel", response_model=PipelineOut)
def cancel_pipeline(request: Request, caller: CallerDep, owner: Owner, repo: RepoName,
                    pipeline_id: ObjectId) -> PipelineOut:
    """Cancel every job not finished yet (running ones are asked to stop); 422 when nothing is left to cancel."""
    with db(request) as session:
        ref, pipeline = _pipeline(session, caller, owner, repo, pipeline_id, Access.WRITE)
        pipeline = job_actions.cancel_pipeline(session, caller.user, pipeline)
        return pipeline_json(session, settings_of(request).public_url(), ref, pipeline)


@router.post(_P + "/{pipeline_id}/retry", response_model=PipelineOut)
def retry_pipeline(request: Request, caller: CallerDep, owner: Owner, repo: RepoName,
                   pipeline_id: ObjectId) -> PipelineOut:
    """Run the failed and canceled jobs again; 422 when there are none."""
    with db(request) as session:
        ref, pipeline = _pipeline(session, caller, owner, repo, pipeline_id, Access.WRITE)
        job_actions.retry_failed(session, caller.user, pipeline)
        session.refresh(pipeline)
        return pipeline_json(session, settings_of(request).public_url(), ref, pipeline)


@router.get(_P + "/{pipeline_id}/jobs", response_model=list[JobOut], responses=LIST_RESPONSES)
def pipeline_jobs(
    request: Request, response: Response, caller: CallerDep, owner: Owner, repo: RepoName, pipeline_id: ObjectId,
    page: PageDep,
    include_retried: Annotated[bool, Query(description="Also list earlier attempts of retried jobs.")] = False,
) -> list[JobOut]:
    """A pipeline's jobs in the order they were made (stage order); only each job's latest attempt unless
    ``include_retried``."""
    with db(request) as session:
        ref, pipeline = _pipeline(session, caller, owner, repo, pipeline_id)
        assert pipeline.id is not None
        jobs = pipelines.jobs_of(session, pipeline.id)
        if not include_retried:
            latest = {j.id for j in jobstate.latest_attempts(jobs)}
            jobs = [j for j in jobs if j.id in latest]
        link_headers(request, response, page, len(jobs))
        return jobs_json(session, settings_of(request).public_url(), ref, page.slice(jobs), pipeline)


@router.get(_P + "/{pipeline_id}/test_report", response_model=TestReport)
def test_report(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, pipeline_id: ObjectId) -> TestReport:
    """The pipeline's JUnit test report as GitLab's API gives it: totals and one suite per job with its cases."""
    with db(request) as session:
        _, pipeline = _pipeline(session, caller, owner, repo, pipeline_id)
        return TestReport.model_validate(test_reports.report_json(session, pipeline, True))


@router.get(_P + "/{pipeline_id}/test_report_summary", response_model=TestReportSummary)
def test_report_summary(request: Request, caller: CallerDep, owner: Owner, repo: RepoName,
                        pipeline_id: ObjectId) -> TestReportSummary:
    """Totals and per-suite counts of the test report, without the cases (GitLab's summary)."""
    with db(request) as session:
        _, pipeline = _pipeline(session, caller, owner, repo, pipeline_id)
        return TestReportSummary.model_validate(test_reports.report_json(session, pipeline, False))
