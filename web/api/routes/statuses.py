"""API: commit statuses, for external systems (and scripts in jobs) to put their own results on a commit.

The paths and JSON are those of the forge's first status API (GitHub's, with GitLab's state names accepted too),
so existing scripts keep working. Posting needs write access (``write:repo``); reading follows the repository's
visibility. A status may only be set on a commit that exists, named by its full id.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from sqlmodel import Session

from forge.accounts.models import Account
from forge.errors import InvalidInput, NotFound
from forge.git.history import History
from forge.i18n import N_
from forge.permissions import Access
from forge.repos import services as repos
from forge.repos import statuses
from forge.repos.models import CommitStatus
from forge.repos.services import RepoRef
from web import i18n
from web.api.deps import CallerDep, db, settings_of
from web.api.params import Owner, RepoName, code_repo
from web.api.schemas.git import CombinedStatus, StatusCreator, StatusIn, StatusOut

router = APIRouter(tags=["statuses"])

Sha = Annotated[str, Path(max_length=64, description="The commit's full id.")]
RefPath = Annotated[str, Path(max_length=1024, description="A branch, tag or commit id.")]


class StatusInvalid(InvalidInput):
    """A posted status with one message per bad field (the API's ``errors`` list)."""

    def __init__(self, field_errors: dict[str, str]) -> None:
        super().__init__(N_("The status is not valid."))
        self.field_errors = field_errors


def _commit_sha(request: Request, ref: RepoRef, name: str) -> str | None:
    """The full id of the commit ``name`` (an id, or a branch or tag name) names; None when none."""
    try:
        return History(repos.open_git(settings_of(request).repos_dir, ref)).commit(name).sha
    except NotFound:
        return None


def _status_out(base: str, ref: RepoRef, row: CommitStatus, creators: dict[int, Account]) -> StatusOut:
    target = row.target_url
    if not target and row.pipeline_id is not None:
        target = f"{base}/{ref.full_name}/-/pipelines/{row.pipeline_id}"
    creator = creators.get(row.creator_id) if row.creator_id is not None else None
    return StatusOut(
        id=row.id or 0,
        state=row.state,  # type: ignore[arg-type]  # one of statuses.STATES, checked when it was set
        context=row.context,
        description=row.description,
        target_url=target,
        created_at=row.created_at,
        updated_at=row.updated_at,
        creator=StatusCreator(id=creator.id or 0, login=creator.name) if creator is not None else None,
        url=f"{base}/api/v1/repos/{ref.full_name}/statuses/{row.sha}",
    )


def _creators(session: Session, rows: list[CommitStatus]) -> dict[int, Account]:
    ids = {r.creator_id for r in rows if r.creator_id is not None}
    return {i: a for i in ids if (a := session.get(Account, i)) is not None}


@router.post("/repos/{owner}/{repo}/statuses/{sha}", response_model=StatusOut, status_code=201,
             summary="Set a commit status")
def post_status(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, sha: Sha,
                body: StatusIn) -> StatusOut:
    """Create or update the status of one context on a commit. Needs ``write:repo`` and write access."""
    user = caller.require_user("write:repo")
    sha = sha.lower()
    context = body.context.strip() or "default"
    with db(request) as session:
        ref = code_repo(session, caller, owner, repo, Access.WRITE)
        errors = statuses.validate_post(body.state, context, body.description, body.target_url)
        if errors:
            raise StatusInvalid({name: i18n.gettext(exc.message, **exc.params) for name, exc in errors.items()})
        if not statuses.SHA_RE.match(sha):
            raise InvalidInput(N_("“%(sha)s” is not a full commit id."), sha=sha)
        if _commit_sha(request, ref, sha) is None:
            raise InvalidInput(N_("There is no commit “%(sha)s” in this repository."), sha=sha)
        row = statuses.set_status(session, ref.repo.id or 0, sha, state=statuses.normalize_state(body.state),
                                  context=context, description=body.description, target_url=body.target_url,
                                  creator=user)
        return _status_out(settings_of(request).public_url(), ref, row, _creators(session, [row]))


@router.get("/repos/{owner}/{repo}/statuses/{sha}", response_model=list[StatusOut], summary="A commit's statuses")
def list_statuses(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, sha: Sha) -> list[StatusOut]:
    """Every context's latest status on the commit, the forge's own pipeline (``ci/forge``) first. Public
    repositories are readable anonymously; a private one needs ``read:repo``."""
    with db(request) as session:
        ref = code_repo(session, caller, owner, repo, Access.READ)
        rows = statuses.list_for(session, ref.repo.id or 0, sha.lower())
        creators = _creators(session, rows)
        base = settings_of(request).public_url()
        return [_status_out(base, ref, r, creators) for r in rows]


@router.get("/repos/{owner}/{repo}/commits/{ref:path}/status", response_model=CombinedStatus,
            summary="The combined status of a branch, tag or commit")
def combined_status(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, ref: RefPath) -> CombinedStatus:
    """``state`` is failed if any context failed, else running, pending, canceled, and success only when every
    context succeeded (pending when there is none)."""
    with db(request) as session:
        repo_ref = code_repo(session, caller, owner, repo, Access.READ)
        sha = _commit_sha(request, repo_ref, ref)
        if sha is None:
            raise NotFound(N_("“%(rev)s” is not a branch, tag or commit of this repository."), rev=ref)
        rows = statuses.list_for(session, repo_ref.repo.id or 0, sha)
        creators = _creators(session, rows)
        base = settings_of(request).public_url()
        return CombinedStatus(
            state=statuses.combine(r.state for r in rows),  # type: ignore[arg-type]  # one of statuses.STATES
            sha=sha,
            total_count=len(rows),
            statuses=[_status_out(base, repo_ref, r, creators) for r in rows],
        )
