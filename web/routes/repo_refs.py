"""Branches and tags pages (list, create, delete) and forking a repository.

Reading needs read access; creating and deleting refs needs write access and obeys branch protection, both
checked by the services in forge.repos.refs. The repository is looked up before the form's action runs, so a
hidden repository stays a plain 404 and only the action's own errors re-render the page.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from forge.accounts import users
from forge.errors import ForgeError, NotFound
from forge.i18n import N_
from forge.permissions import Access
from forge.repos import refs
from forge.repos import services as repos
from forge.repos import statuses as commit_statuses
from forge.repos.services import RepoRef
from web.forms import field, read_form, redirect
from web.repo_context import repo_page_context
from web.state import current_user, require_user, run_db, settings_of
from web.templating import render

KINDS = {"branches": "branch", "tags": "tag"}


def _form_status(exc: ForgeError) -> int:
    # The repository was found before the action ran: a NotFound now is about a ref or name the user typed.
    return 422 if isinstance(exc, NotFound) else exc.status


def _lookup(session: Session, request: Request, needed: Access = Access.READ) -> tuple[RepoRef, Access]:
    p = request.path_params
    return repos.get_visible_repo(session, current_user(request), p["owner"], p["repo"], needed)


def _ctx(session: Session, request: Request, tab: str) -> dict[str, Any]:
    return repo_page_context(session, request, tab)


# --- branches and tags --------------------------------------------------------------------------------------


async def _refs_page(
    request: Request, tab: str, form: dict[str, str] | None = None, error: ForgeError | None = None
) -> Response:
    repos_dir = settings_of(request).repos_dir

    def load(session: Session) -> dict[str, Any]:
        ctx = _ctx(session, request, tab)
        ref = ctx["ref"]
        if tab == "branches":
            ctx["branches"] = refs.branch_rows(session, repos_dir, ref)
            shas = [b.commit.sha for b in ctx["branches"] if b.commit]
            ctx["commit_statuses"] = commit_statuses.combined_for(session, ref.repo.id, shas)
        else:
            ctx["tags"] = refs.list_tags(repos_dir, ref)
        return ctx

    ctx = await run_db(request, load)
    ctx["form"] = form or {"from": ctx["repo"].default_branch}
    ctx["error"] = error
    return render(request, f"repo/{tab}.html", ctx, status=_form_status(error) if error else 200)


async def branches_page(request: Request) -> Response:
    return await _refs_page(request, "branches")


async def tags_page(request: Request) -> Response:
    return await _refs_page(request, "tags")


def _tab(request: Request) -> str:
    # Paths are /<owner>/<repo>/<branches|tags>[/delete]; the same handlers serve both kinds.
    return "tags" if request.url.path.split("/")[3] == "tags" else "branches"


async def create_ref(request: Request) -> Response:
    form = await read_form(request)
    tab = _tab(request)
    ref, _ = await run_db(request, lambda s: _lookup(s, request, Access.WRITE))
    actor = require_user(request)
    values = {"name": field(form, "name"), "from": field(form, "from")}
    repos_dir = settings_of(request).repos_dir

    def work(session: Session) -> str:
        ref, _ = _lookup(session, request, Access.WRITE)
        return refs.create_ref(session, repos_dir, actor, ref, KINDS[tab], values["name"], values["from"])

    try:
        sha = await run_db(request, work)
    except ForgeError as exc:
        return await _refs_page(request, tab, values, exc)
    message = N_("Branch %(name)s created at %(sha)s.") if tab == "branches" else N_(
        "Tag %(name)s created at %(sha)s."
    )
    return redirect(request, f"/{ref.full_name}/{tab}", message, name=values["name"], sha=sha[:10])


async def delete_ref(request: Request) -> Response:
    form = await read_form(request)
    tab = _tab(request)
    ref, _ = await run_db(request, lambda s: _lookup(s, request, Access.WRITE))
    actor = require_user(request)
    name = field(form, "name")
    repos_dir = settings_of(request).repos_dir

    def work(session: Session) -> None:
        ref, _ = _lookup(session, request, Access.WRITE)
        refs.delete_ref(session, repos_dir, actor, ref, KINDS[tab], name)

    try:
        await run_db(request, work)
    except ForgeError as exc:
        return await _refs_page(request, tab, error=exc)
    message = N_("Branch %(name)s deleted.") if tab == "branches" else N_("Tag %(name)s deleted.")
    return redirect(request, f"/{ref.full_name}/{tab}", message, name=name)


# --- fork ---------------------------------------------------------------------------------------------------


async def _fork_page(
    request: Request, form: dict[str, str] | None = None, error: ForgeError | None = None
) -> Response:
    user = require_user(request)

    def load(session: Session) -> dict[str, Any]:
        ctx = _ctx(session, request, "fork")
        # A repository cannot be forked into its own owner, so that owner is not offered.
        ctx["owners"] = [o for o in repos.creatable_owners(session, user) if o.id != ctx["owner"].id]
        return ctx

    ctx = await run_db(request, load)
    first = ctx["owners"][0].name if ctx["owners"] else ""
    ctx["form"] = form or {"owner": first, "name": ctx["repo"].name}
    ctx["error"] = error
    return render(request, "repo/fork.html", ctx, status=_form_status(error) if error else 200)


async def fork_page(request: Request) -> Response:
    # Anonymous visitors of a hidden repository get 404 like everywhere else, not a sign-in prompt.
    await run_db(request, lambda s: _lookup(s, request))
    return await _fork_page(request)


async def fork(request: Request) -> Response:
    form = await read_form(request)
    await run_db(request, lambda s: _lookup(s, request))
    actor = require_user(request)
    values = {"owner": field(form, "owner") or actor.name, "name": field(form, "name")}
    settings = settings_of(request)

    def work(session: Session) -> RepoRef:
        source, _ = _lookup(session, request)
        owner = users.get_account(session, values["owner"])
        return repos.fork_repository(
            session, settings.repos_dir, settings.git_bin, actor, source, owner=owner,
            name=values["name"] or None,
        )

    try:
        ref = await run_db(request, work)
    except ForgeError as exc:
        return await _fork_page(request, values, exc)
    return redirect(request, f"/{ref.full_name}", N_("Forked into %(name)s."), name=ref.full_name)


_R = "/{owner}/{repo}"

routes: list[BaseRoute] = [
    Route(_R + "/branches", branches_page, methods=["GET"], name="repo_branches"),
    Route(_R + "/branches", create_ref, methods=["POST"]),
    Route(_R + "/branches/delete", delete_ref, methods=["POST"]),
    Route(_R + "/tags", tags_page, methods=["GET"], name="repo_tags"),
    Route(_R + "/tags", create_ref, methods=["POST"]),
    Route(_R + "/tags/delete", delete_ref, methods=["POST"]),
    Route(_R + "/fork", fork_page, methods=["GET"], name="repo_fork"),
    Route(_R + "/fork", fork, methods=["POST"]),
]
