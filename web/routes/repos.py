"""Creating repositories, owner pages and the repository home page."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from forge.accounts import orgs, users
from forge.errors import ForgeError
from forge.repos import initial_files
from forge.repos import services as repos
from forge.repos import statuses as commit_statuses
from web.forms import checkbox, field, read_form, redirect
from web.repo_context import header_context
from web.routes.repo_code import home_context, listing_context
from web.state import current_user, require_user, run_db, settings_of
from web.templating import render


async def new_repo_page(request: Request) -> Response:
    user = require_user(request)
    owners = await run_db(request, lambda s: [user, *orgs.orgs_of(s, user)])
    return render(request, "repo/new.html", _new_ctx(owners, {"owner": request.query_params.get("owner", "")}))


def _new_ctx(owners: list, form: dict, error: ForgeError | None = None) -> dict:  # type: ignore[type-arg]
    return {
        "owners": owners,
        "form": form,
        "error": error,
        "gitignores": initial_files.gitignore_templates(),
        "licenses": initial_files.licenses(),
    }


async def create_repo(request: Request) -> Response:
    user = require_user(request)
    form = await read_form(request)
    settings = settings_of(request)
    values: dict[str, str | bool] = {
        k: field(form, k) for k in ("owner", "name", "description", "gitignore", "license", "default_branch")
    }
    values["private"] = checkbox(form, "private")
    values["readme"] = checkbox(form, "readme")

    def work(session):  # type: ignore[no-untyped-def]
        owner = users.get_account(session, values["owner"] or user.name)
        return repos.create_repository(
            session, settings.repos_dir, user, owner, values["name"],
            private=values["private"], description=values["description"], readme=values["readme"],
            gitignore=values["gitignore"], license=values["license"],
            default_branch=values["default_branch"] or "main",
        )

    try:
        ref = await run_db(request, work)
    except ForgeError as exc:
        owners = await run_db(request, lambda s: [user, *orgs.orgs_of(s, user)])
        return render(request, "repo/new.html", _new_ctx(owners, values, exc), status=exc.status)
    return redirect(request, f"/{ref.full_name}")


async def owner_page(request: Request) -> Response:
    name = request.path_params["owner"]
    viewer = current_user(request)

    def load(session):  # type: ignore[no-untyped-def]
        account = users.get_account(session, name)
        items = repos.list_repos(session, viewer, owner=account, limit=200)
        extra = {}
        if account.is_org:
            extra["members"] = orgs.list_members(session, account)
            extra["teams"] = orgs.list_teams(session, account)
            extra["is_owner"] = orgs.is_owner(session, account, viewer)
        else:
            extra["orgs"] = orgs.orgs_of(session, account)
        return account, items, extra

    account, items, extra = await run_db(request, load)
    template = "org/profile.html" if account.is_org else "user/profile.html"
    return render(request, template, {"account": account, "repos": items, **extra})


async def repo_home(request: Request) -> Response:
    """The default branch's files with their last commits, README, counts and languages; another branch or tag
    is browsed on its tree page (the ref menu links there), as on GitHub."""
    owner, name = request.path_params["owner"], request.path_params["repo"]
    viewer = current_user(request)
    settings = settings_of(request)

    def load(session):  # type: ignore[no-untyped-def]
        ref, level = repos.get_visible_repo(session, viewer, owner, name)
        return ref, level, repos.fork_source(session, ref), repos.count_forks(session, ref)

    ref, level, source, forks = await run_db(request, load)
    git = repos.open_git(settings.repos_dir, ref)
    ctx = {
        **header_context(ref, level, source, "code"),
        "fork_count": forks,
        "clone_url": f"{settings.public_url()}/{ref.full_name}.git",
    }
    wait = request.query_params.get("wait") == "1"
    code = None
    if not git.is_empty:
        code = await run_in_threadpool(home_context, git, ref.full_name, ref.repo.default_branch, wait)
    ctx["empty"] = code is None
    if code is not None:
        entries, last = code.pop("entries"), code.pop("last")
        ctx.update(code)
        # Dates are formatted here, in the request's own context, where the reader's language is set.
        ctx.update(listing_context(ref.full_name, code["loc"], entries, last, f"/{ref.full_name}"))
        sha = code["commit"].sha
        ctx["commit_statuses"] = await run_db(request, lambda s: commit_statuses.combined_for(s, ref.repo.id, [sha]))
    return render(request, "repo/home.html", ctx)


routes: list[BaseRoute] = [
    Route("/repo/new", new_repo_page, methods=["GET"], name="repo_new"),
    Route("/repo/new", create_repo, methods=["POST"]),
    Route("/{owner}", owner_page, name="owner"),
    Route("/{owner}/{repo}", repo_home, name="repo_home"),
]
