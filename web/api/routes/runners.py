"""API: CI runners as their managers see them (not the runner protocol, which lives under ``/runners``).

Who sees what is ``ci.runner_admin``'s rule: site administrators every runner, an organisation's owners its
organisation runners, a repository's administrators its repository runners plus the instance and organisation
runners that also take its jobs. Registration tokens are never shown here.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from ci import runner_admin
from ci.runner_admin import RunnerView
from ci.tokens import Scope
from forge.accounts import orgs
from forge.permissions import Access
from web.api.deps import CallerDep, db
from web.api.pagination import LIST_RESPONSES, PageDep, link_headers
from web.api.params import AccountName, Owner, RepoName, code_repo
from web.api.routes.pipelines import ObjectId
from web.api.schemas.ci import RunnerOut, RunnerUpdate

router = APIRouter(tags=["ci"])


def _out(view: RunnerView) -> RunnerOut:
    r = view.runner
    assert r.id is not None
    status = "paused" if not r.is_active else "online" if view.online else "offline"
    return RunnerOut(
        id=r.id, description=r.name, status=status, active=r.is_active, online=view.online, tags=view.labels,
        scope=r.scope if r.scope in ("org", "repo") else "instance", owner=view.where, executor=r.executor,
        concurrency=r.concurrency, version=r.version, created_at=r.created_at, last_contact_at=r.last_seen_at,
    )


def _paged(request: Request, response: Response, page: PageDep, views: list[RunnerView]) -> list[RunnerOut]:
    link_headers(request, response, page, len(views))
    return [_out(v) for v in page.slice(views)]


@router.get("/repos/{owner}/{repo}/runners", response_model=list[RunnerOut],
            responses=LIST_RESPONSES)
def repo_runners(request: Request, response: Response, caller: CallerDep, owner: Owner, repo: RepoName,
                 page: PageDep) -> list[RunnerOut]:
    """Runners that can take the repository's jobs: its own, its organisation's and the instance's (repository
    administrators; token scope ``admin:repo``)."""
    user = caller.require_user("admin:repo")
    with db(request) as session:
        ref = code_repo(session, caller, owner, repo, Access.ADMIN)
        views = runner_admin.list_runners(session, user, Scope.repo(ref.repo))
        views += runner_admin.shared_runners(session, ref.repo)
        return _paged(request, response, page, views)


@router.get("/orgs/{org}/runners", response_model=list[RunnerOut], responses=LIST_RESPONSES)
def org_runners(request: Request, response: Response, caller: CallerDep, org: AccountName,
                page: PageDep) -> list[RunnerOut]:
    """An organisation's runners (its owners; token scope ``admin:org``)."""
    user = caller.require_user("admin:org")
    with db(request) as session:
        account = orgs.get_org(session, org)
        orgs.require_owner(session, account, user)
        return _paged(request, response, page, runner_admin.list_runners(session, user, Scope.org(account)))


@router.get("/admin/runners", response_model=list[RunnerOut], responses=LIST_RESPONSES)
def admin_runners(request: Request, response: Response, caller: CallerDep, page: PageDep) -> list[RunnerOut]:
    """Every runner, newest first (site administrators; token scope ``admin``)."""
    user = caller.require_admin()
    with db(request) as session:
        return _paged(request, response, page, runner_admin.list_runners(session, user, None))


@router.get("/admin/runners/{runner_id}", response_model=RunnerOut)
def admin_runner(request: Request, caller: CallerDep, runner_id: ObjectId) -> RunnerOut:
    user = caller.require_admin()
    with db(request) as session:
        return _out(runner_admin.runner_view(session, user, None, runner_id))


@router.patch("/admin/runners/{runner_id}", response_model=RunnerOut)
def update_runner(request: Request, caller: CallerDep, runner_id: ObjectId, body: RunnerUpdate) -> RunnerOut:
    """Pause (it gets no new jobs; running ones finish) or resume a runner."""
    user = caller.require_admin()
    with db(request) as session:
        runner_admin.set_active(session, user, None, runner_id, not body.paused)
        return _out(runner_admin.runner_view(session, user, None, runner_id))


@router.delete("/admin/runners/{runner_id}", status_code=204, response_class=Response)
def delete_runner(request: Request, caller: CallerDep, runner_id: ObjectId) -> Response:
    """Delete a runner: its token stops working at once; jobs it runs can still finish."""
    user = caller.require_admin()
    with db(request) as session:
        runner_admin.delete_runner(session, user, None, runner_id)
    return Response(status_code=204)
