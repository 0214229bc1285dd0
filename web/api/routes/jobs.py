"""API: one CI job of a repository: read it, its log (plain text, as the web's raw log), cancel, retry and play.

Access as for pipelines (``web.api.routes.pipelines``): reads follow the repository's visibility, actions need
write access and a token with ``write:repo``. A job id of another repository is a 404.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlmodel import Session

from ci import job_actions, logs, pipelines
from ci.models import Job
from ci.wire import JobOut, job_json
from forge.permissions import Access
from forge.repos.services import RepoRef
from web.api.deps import Caller, CallerDep, db, settings_of
from web.api.params import Owner, RepoName, code_repo
from web.api.routes.pipelines import ObjectId

router = APIRouter(tags=["ci"])

_J = "/repos/{owner}/{repo}/jobs/{job_id}"


def _job(session: Session, caller: Caller, owner: str, repo: str, job_id: int,
         needed: Access = Access.READ) -> tuple[RepoRef, Job]:
    ref = code_repo(session, caller, owner, repo, needed)
    return ref, pipelines.get_job(session, ref.repo, job_id)


@router.get(_J, response_model=JobOut)
def get_job(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, job_id: ObjectId) -> JobOut:
    with db(request) as session:
        ref, job = _job(session, caller, owner, repo, job_id)
        return job_json(session, settings_of(request).public_url(), ref, job)


@router.get(
    _J + "/log",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                     "description": "The whole log as stored (ANSI colour codes kept, masked values hidden)."}},
)
def job_log(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, job_id: ObjectId) -> Response:
    """The job's log so far; its last bytes (held back while a masked value might be cut in two) appear once the
    job has finished."""
    with db(request) as session:
        _, job = _job(session, caller, owner, repo, job_id)
        data = logs.read_all(session, job)
    return Response(data, media_type="text/plain; charset=utf-8", headers={"X-Content-Type-Options": "nosniff"})


@router.post(_J + "/cancel", response_model=JobOut)
def cancel_job(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, job_id: ObjectId) -> JobOut:
    """Cancel a job that has not finished (a running one is asked to stop); 422 when it has finished."""
    with db(request) as session:
        ref, job = _job(session, caller, owner, repo, job_id, Access.WRITE)
        job = job_actions.cancel_job(session, caller.user, job)
        return job_json(session, settings_of(request).public_url(), ref, job)


@router.post(_J + "/retry", response_model=JobOut, status_code=201)
def retry_job(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, job_id: ObjectId) -> JobOut:
    """Run a finished job again as a new job (returned); the old one stays, with its log. Only the latest attempt
    can be retried (422 otherwise)."""
    with db(request) as session:
        ref, job = _job(session, caller, owner, repo, job_id, Access.WRITE)
        new = job_actions.retry_job(session, caller.user, job)
        return job_json(session, settings_of(request).public_url(), ref, new)


@router.post(_J + "/play", response_model=JobOut)
def play_job(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, job_id: ObjectId) -> JobOut:
    """Start a manual job; 422 when the job is not waiting to be started by hand."""
    with db(request) as session:
        ref, job = _job(session, caller, owner, repo, job_id, Access.WRITE)
        job = job_actions.play_job(session, caller.user, job)
        return job_json(session, settings_of(request).public_url(), ref, job)
