"""The commit status API, for external systems (and scripts in jobs) to put their own results on a commit:

* ``POST /api/v1/repos/{owner}/{repo}/statuses/{sha}`` with ``{"state", "context", "description", "target_url"}``
  (an access token or Basic credentials with write access; GitHub's and GitLab's state names are accepted);
* ``GET /api/v1/repos/{owner}/{repo}/statuses/{sha}``: every context's status on the commit;
* ``GET /api/v1/repos/{owner}/{repo}/commits/{ref}/status``: the combined state of a branch, tag or commit.

A private repository the caller may not read is a 404, as everywhere else.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from forge.accounts.models import Account
from forge.errors import AuthenticationRequired, InvalidInput, NotFound
from forge.git.history import History
from forge.i18n import N_
from forge.permissions import Access
from forge.repos import services as repos
from forge.repos import statuses
from forge.repos.models import CommitStatus
from forge.repos.services import RepoRef
from web.forms import read_json_object
from web.i18n import gettext
from web.state import current_user, run_db, settings_of

MAX_BODY = 64 * 1024


def _identity_checked(request: Request) -> None:
    if request.state.identity.bad_credentials:
        raise AuthenticationRequired(N_("Incorrect user name, password or token."))


def _lookup(session: Session, request: Request, needed: Access) -> RepoRef:
    p = request.path_params
    ref, _ = repos.get_visible_repo(session, current_user(request), p["owner"], p["repo"], needed,
                                    token_scopes=request.state.token_scopes)
    return ref


def _status_json(request: Request, ref: RepoRef, row: CommitStatus, creators: dict[int, Account]) -> dict[str, Any]:
    base = settings_of(request).public_url()
    target = row.target_url
    if not target and row.pipeline_id is not None:
        target = f"{base}/{ref.full_name}/-/pipelines/{row.pipeline_id}"
    creator = creators.get(row.creator_id) if row.creator_id is not None else None
    return {
        "id": row.id,
        "state": row.state,
        "context": row.context,
        "description": row.description,
        "target_url": target,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "creator": {"id": creator.id, "login": creator.name} if creator is not None else None,
        "url": f"{base}/api/v1/repos/{ref.full_name}/statuses/{row.sha}",
    }


def _creators(session: Session, rows: list[CommitStatus]) -> dict[int, Account]:
    ids = {r.creator_id for r in rows if r.creator_id is not None}
    return {i: a for i in ids if (a := session.get(Account, i)) is not None}


def _validation_error(errors: dict[str, InvalidInput]) -> Response:
    return JSONResponse({
        "message": gettext("The status is not valid."),
        "errors": [{"field": name, "message": gettext(exc.message, **exc.params)} for name, exc in errors.items()],
    }, status_code=422)


async def post_status(request: Request) -> Response:
    _identity_checked(request)
    if request.state.identity.session_id is not None or current_user(request) is None:
        # A browser session would make this endpoint open to cross-site requests: only tokens and Basic
        # credentials, which a page on another site cannot send, may post.
        raise AuthenticationRequired(N_("Authenticate with an access token to post a commit status."))
    data = await read_json_object(request, MAX_BODY)
    fields = {k: data.get(k, "") for k in ("state", "context", "description", "target_url")}
    if not all(isinstance(v, str) for v in fields.values()):
        raise InvalidInput(N_("state, context, description and target_url must be strings."))
    fields["context"] = fields["context"] or "default"
    sha = request.path_params["sha"].lower()
    ref = await run_db(request, lambda s: _lookup(s, request, Access.WRITE))
    errors = statuses.validate_post(**fields)
    if errors:
        return _validation_error(errors)
    if not statuses.SHA_RE.match(sha):
        raise InvalidInput(N_("“%(sha)s” is not a full commit id."), sha=sha)
    git = repos.open_git(settings_of(request).repos_dir, ref)
    if await run_in_threadpool(History(git).find_commit_obj, sha) is None:
        raise InvalidInput(N_("There is no commit “%(sha)s” in this repository."), sha=sha)
    user = current_user(request)
    assert ref.repo.id is not None

    def save(session: Session) -> dict[str, Any]:
        row = statuses.set_status(session, ref.repo.id or 0, sha, state=statuses.normalize_state(fields["state"]),
                                  context=fields["context"].strip(), description=fields["description"],
                                  target_url=fields["target_url"], creator=user)
        return _status_json(request, ref, row, _creators(session, [row]))

    return JSONResponse(await run_db(request, save), status_code=201)


async def list_statuses(request: Request) -> Response:
    _identity_checked(request)
    sha = request.path_params["sha"].lower()

    def load(session: Session) -> list[dict[str, Any]]:
        ref = _lookup(session, request, Access.READ)
        rows = statuses.list_for(session, ref.repo.id or 0, sha)
        creators = _creators(session, rows)
        return [_status_json(request, ref, r, creators) for r in rows]

    return JSONResponse(await run_db(request, load))


async def combined_status(request: Request) -> Response:
    _identity_checked(request)
    ref = await run_db(request, lambda s: _lookup(s, request, Access.READ))
    git = repos.open_git(settings_of(request).repos_dir, ref)
    name = request.path_params["ref"]
    commit = await run_in_threadpool(History(git).find_commit_obj, name)
    if commit is None:
        raise NotFound(N_("“%(rev)s” is not a branch, tag or commit of this repository."), rev=name)
    sha = str(commit.id)

    def load(session: Session) -> dict[str, Any]:
        rows = statuses.list_for(session, ref.repo.id or 0, sha)
        creators = _creators(session, rows)
        return {
            "state": statuses.combine(r.state for r in rows),
            "sha": sha,
            "total_count": len(rows),
            "statuses": [_status_json(request, ref, r, creators) for r in rows],
        }

    return JSONResponse(await run_db(request, load))


_R = "/api/v1/repos/{owner}/{repo}"

routes: list[BaseRoute] = [
    Route(_R + "/statuses/{sha}", post_status, methods=["POST"], name="api_post_status"),
    Route(_R + "/statuses/{sha}", list_statuses, methods=["GET"], name="api_list_statuses"),
    Route(_R + "/commits/{ref:path}/status", combined_status, methods=["GET"], name="api_combined_status"),
]
