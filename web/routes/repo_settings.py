"""Repository settings: options and rename, collaborators, branch protection rules, transfer and delete.

Every page here needs admin access to the repository. The repository is looked up (and access checked) before
a form is read for real, so a stranger gets the same 404 as for any hidden repository and a reader gets 403;
only errors from the action itself re-render the form.
"""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import Session
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from forge.accounts import orgs, users
from forge.accounts.models import AccountKind
from forge.errors import ForgeError, InvalidInput, NotFound
from forge.i18n import N_
from forge.permissions import Access
from forge.pulls import models as pull_models
from forge.pulls import settings as merge_settings
from forge.repos import protection, refs, statuses
from forge.repos import services as repos
from forge.repos.services import RepoRef
from web import pull_merge_view as merge_view
from web.forms import checkbox, field, read_form, redirect
from web.i18n import gettext
from web.repo_context import header_context
from web.state import current_user, require_user, run_db, settings_of
from web.templating import render

PERMISSIONS = ("read", "write", "admin")
# Shown in messages in the reader's language rather than as the stored English value.
PERMISSION_LABELS = {"read": N_("Read"), "write": N_("Write"), "admin": N_("Admin")}


def _permission_label(permission: str) -> str:
    return gettext(PERMISSION_LABELS.get(permission, permission))


def _form_status(exc: ForgeError) -> int:
    # The page itself was found (access was checked first), so a NotFound here is about a name the user typed.
    return 422 if isinstance(exc, NotFound) else exc.status


def _names(text: str) -> list[str]:
    return [n for n in re.split(r"[\s,]+", text) if n]


def _lookup(session: Session, request: Request) -> tuple[RepoRef, Access]:
    p = request.path_params
    return repos.get_visible_repo(session, current_user(request), p["owner"], p["repo"], Access.ADMIN)


async def _load(request: Request) -> tuple[RepoRef, Access, RepoRef | None]:
    def load(session: Session) -> tuple[RepoRef, Access, RepoRef | None]:
        ref, level = _lookup(session, request)
        return ref, level, repos.fork_source(session, ref)

    return await run_db(request, load)


def _ctx(ref: RepoRef, level: Access, source: RepoRef | None, section: str, **extra: Any) -> dict[str, Any]:
    # Only repository admins reach settings pages (the lookup requires Access.ADMIN).
    return {
        **header_context(ref, level, source, "settings"),
        "is_owner": level >= Access.OWNER,
        "section": section,
        "base": f"/{ref.full_name}/settings",
        **extra,
    }


# --- options and rename -------------------------------------------------------------------------------------


def _options_values(ref: RepoRef) -> dict[str, Any]:
    r = ref.repo
    return {
        "description": r.description,
        "website": r.website,
        "topics": " ".join(r.topic_list),
        "private": r.is_private,
        "default_branch": r.default_branch,
        "name": r.name,
    }


async def _options_page(
    request: Request,
    loaded: tuple[RepoRef, Access, RepoRef | None],
    form: dict[str, Any] | None = None,
    error: ForgeError | None = None,
    rename_error: ForgeError | None = None,
) -> Response:
    ref, level, source = loaded
    branches = [b.name for b in refs.list_branches(settings_of(request).repos_dir, ref)]
    values = {**_options_values(ref), **(form or {})}
    failed = error or rename_error
    status = _form_status(failed) if failed else 200
    ctx = _ctx(ref, level, source, "options", form=values, branches=branches, error=error,
               rename_error=rename_error)
    return render(request, "repo/settings.html", ctx, status=status)


async def options_page(request: Request) -> Response:
    return await _options_page(request, await _load(request))


async def update_options(request: Request) -> Response:
    form = await read_form(request)
    loaded = await _load(request)
    user = require_user(request)
    keys = ("description", "website", "topics", "default_branch")
    values: dict[str, Any] = {k: field(form, k) for k in keys}
    values["private"] = field(form, "visibility") == "private"
    repos_dir = settings_of(request).repos_dir

    def work(session: Session) -> None:
        ref, _ = _lookup(session, request)
        repos.update_settings(
            session, user, ref, description=values["description"], website=values["website"],
            topics=values["topics"], private=values["private"],
        )
        branch = values["default_branch"]
        if branch and branch != ref.repo.default_branch:
            repos.set_default_branch(session, repos_dir, user, ref, branch)

    try:
        await run_db(request, work)
    except ForgeError as exc:
        return await _options_page(request, loaded, values, error=exc)
    return redirect(request, f"/{loaded[0].full_name}/settings", N_("Repository settings saved."))


async def rename(request: Request) -> Response:
    form = await read_form(request)
    loaded = await _load(request)
    user = require_user(request)
    new_name = field(form, "name")
    repos_dir = settings_of(request).repos_dir

    def work(session: Session) -> RepoRef:
        ref, _ = _lookup(session, request)
        return repos.rename_repository(session, repos_dir, user, ref, new_name)

    try:
        ref = await run_db(request, work)
    except ForgeError as exc:
        return await _options_page(request, loaded, {"name": new_name}, rename_error=exc)
    return redirect(request, f"/{ref.full_name}/settings", N_("Repository renamed to %(name)s."),
                    name=ref.full_name)


# --- collaborators ------------------------------------------------------------------------------------------


async def _collaborators_page(
    request: Request, form: dict[str, str] | None = None, error: ForgeError | None = None
) -> Response:
    def load(session: Session) -> dict[str, Any]:
        ref, level = _lookup(session, request)
        return _ctx(
            ref, level, repos.fork_source(session, ref), "collaborators",
            collaborators=repos.list_collaborators(session, ref),
        )

    ctx = await run_db(request, load)
    ctx.update(form=form or {"permission": "write"}, error=error, permissions=PERMISSIONS)
    return render(request, "repo/settings_collaborators.html", ctx,
                  status=_form_status(error) if error else 200)


async def collaborators_page(request: Request) -> Response:
    return await _collaborators_page(request)


async def add_collaborator(request: Request) -> Response:
    form = await read_form(request)
    ref, _, _ = await _load(request)
    actor = require_user(request)
    values = {"name": field(form, "name"), "permission": field(form, "permission")}

    def work(session: Session) -> None:
        ref, _ = _lookup(session, request)
        user = users.get_user(session, values["name"])
        repos.set_collaborator(session, actor, ref, user, values["permission"])

    try:
        await run_db(request, work)
    except ForgeError as exc:
        return await _collaborators_page(request, values, exc)
    return redirect(request, f"/{ref.full_name}/settings/collaborators",
                    N_("%(user)s is now a collaborator with %(permission)s access."),
                    user=values["name"], permission=_permission_label(str(values["permission"])))


async def change_collaborator(request: Request) -> Response:
    form = await read_form(request)
    ref, _, _ = await _load(request)
    actor = require_user(request)
    name, permission = request.path_params["user"], field(form, "permission")

    def work(session: Session) -> None:
        ref, _ = _lookup(session, request)
        repos.set_collaborator(session, actor, ref, users.get_user(session, name), permission)

    try:
        await run_db(request, work)
    except ForgeError as exc:
        return await _collaborators_page(request, error=exc)
    return redirect(request, f"/{ref.full_name}/settings/collaborators",
                    N_("%(user)s now has %(permission)s access."), user=name,
                    permission=_permission_label(permission))


async def remove_collaborator(request: Request) -> Response:
    await read_form(request)
    ref, _, _ = await _load(request)
    actor = require_user(request)
    name = request.path_params["user"]

    def work(session: Session) -> None:
        ref, _ = _lookup(session, request)
        repos.remove_collaborator(session, actor, ref, users.get_user(session, name))

    try:
        await run_db(request, work)
    except ForgeError as exc:
        return await _collaborators_page(request, error=exc)
    return redirect(request, f"/{ref.full_name}/settings/collaborators",
                    N_("%(user)s is no longer a collaborator."), user=name)


# --- branch protection --------------------------------------------------------------------------------------


def _rule_values(form: FormData) -> dict[str, Any]:
    return {
        "pattern": field(form, "pattern"),
        "allow_force_push": checkbox(form, "allow_force_push"),
        "allow_deletion": checkbox(form, "allow_deletion"),
        "restrict_push": checkbox(form, "restrict_push"),
        "push_users": field(form, "push_users"),
        "push_teams": [str(t) for t in form.getlist("push_teams") if str(t).strip()],
        "require_pull_request": checkbox(form, "require_pull_request"),
        "required_approvals": field(form, "required_approvals") or "0",
        "dismiss_stale_approvals": checkbox(form, "dismiss_stale_approvals"),
        "required_contexts": "\n".join(_contexts(str(form.get("required_contexts") or ""))),
        "require_up_to_date": checkbox(form, "require_up_to_date"),
    }


def _contexts(text: str) -> list[str]:
    """Status contexts typed one per line (blank lines and repeats dropped, order kept)."""
    return list(dict.fromkeys(line.strip() for line in text.splitlines() if line.strip()))


def _approvals(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(N_("The number of required approvals must be a whole number.")) from None


def _rule_ctx(session: Session, request: Request, rule_id: int | None) -> dict[str, Any]:
    ref, level = _lookup(session, request)
    rules: list[dict[str, Any]] = []
    for rule in protection.list_rules(session, ref):
        user_names, team_names = protection.allowance_names(session, rule)
        rules.append({"rule": rule, "users": user_names, "teams": team_names})
    teams = [t.name for t in orgs.list_teams(session, ref.owner)] if ref.owner.kind == AccountKind.ORG else []
    ctx = _ctx(ref, level, repos.fork_source(session, ref), "branches", rules=rules, teams=teams,
               recent_contexts=statuses.recent_contexts(session, ref.repo.id or 0))
    if rule_id is not None:
        rule = protection.get_rule(session, ref, rule_id)
        current = next(r for r in rules if r["rule"].id == rule.id)
        ctx["rule"] = rule
        ctx["form"] = {
            "pattern": rule.pattern,
            "allow_force_push": rule.allow_force_push,
            "allow_deletion": rule.allow_deletion,
            "restrict_push": rule.restrict_push,
            "push_users": ", ".join(current["users"]),
            "push_teams": current["teams"],
            "require_pull_request": rule.require_pull_request,
            "required_approvals": str(rule.required_approvals),
            "dismiss_stale_approvals": rule.dismiss_stale_approvals,
            "required_contexts": "\n".join(rule.contexts),
            "require_up_to_date": rule.require_up_to_date,
        }
    return ctx


async def _rules_page(
    request: Request, rule_id: int | None = None, form: dict[str, Any] | None = None,
    error: ForgeError | None = None,
) -> Response:
    ctx = await run_db(request, lambda s: _rule_ctx(s, request, rule_id))
    if form is not None:
        ctx["form"] = form
    ctx.setdefault("form", {"push_teams": []})
    ctx["error"] = error
    template = "repo/settings_branch_rule.html" if rule_id is not None else "repo/settings_branches.html"
    return render(request, template, ctx, status=_form_status(error) if error else 200)


async def rules_page(request: Request) -> Response:
    return await _rules_page(request)


async def rule_page(request: Request) -> Response:
    return await _rules_page(request, request.path_params["rule_id"])


async def save_rule(request: Request) -> Response:
    form = await read_form(request)
    ref, _, _ = await _load(request)
    actor = require_user(request)
    rule_id: int | None = request.path_params.get("rule_id")
    values = _rule_values(form)

    def work(session: Session) -> None:
        ref, _ = _lookup(session, request)
        if rule_id is not None:
            protection.get_rule(session, ref, rule_id)  # a rule of another repository is not found here
        user_ids, team_ids = protection.resolve_push_allowances(
            session, ref, _names(values["push_users"]), values["push_teams"]
        )
        protection.save_rule(
            session, actor, ref, values["pattern"], allow_force_push=values["allow_force_push"],
            allow_deletion=values["allow_deletion"], restrict_push=values["restrict_push"],
            push_user_ids=user_ids, push_team_ids=team_ids, rule_id=rule_id,
            require_pull_request=values["require_pull_request"],
            required_approvals=_approvals(values["required_approvals"]),
            dismiss_stale_approvals=values["dismiss_stale_approvals"],
            required_contexts=_contexts(values["required_contexts"]),
            require_up_to_date=values["require_up_to_date"],
        )

    try:
        await run_db(request, work)
    except ForgeError as exc:
        return await _rules_page(request, rule_id, values, exc)
    return redirect(request, f"/{ref.full_name}/settings/branches",
                    N_("Protection rule for %(pattern)s saved."), pattern=values["pattern"])


async def delete_rule(request: Request) -> Response:
    await read_form(request)
    ref, _, _ = await _load(request)
    actor = require_user(request)
    rule_id: int = request.path_params["rule_id"]

    def work(session: Session) -> str:
        ref, _ = _lookup(session, request)
        pattern = protection.get_rule(session, ref, rule_id).pattern
        protection.delete_rule(session, actor, ref, rule_id)
        return pattern

    pattern = await run_db(request, work)
    return redirect(request, f"/{ref.full_name}/settings/branches",
                    N_("Protection rule for %(pattern)s deleted."), pattern=pattern)


# --- merging (pull requests) ----------------------------------------------------------------------------------


def _merging_values(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {f"allow_{s}": checkbox(form, f"allow_{s}") for s in pull_models.MERGE_STYLES}
    values["default_style"] = field(form, "default_style")
    values["delete_branch_on_merge"] = checkbox(form, "delete_branch_on_merge")
    return values


async def _merging_page(
    request: Request, form: dict[str, Any] | None = None, error: ForgeError | None = None
) -> Response:
    def load(session: Session) -> dict[str, Any]:
        ref, level = _lookup(session, request)
        current = merge_settings.get_merge_settings(session, ref.repo.id or 0)
        values = {f"allow_{s}": getattr(current, f"allow_{s}") for s in pull_models.MERGE_STYLES}
        values.update(default_style=current.default_style, delete_branch_on_merge=current.delete_branch_on_merge)
        return _ctx(ref, level, repos.fork_source(session, ref), "merging", form=values)

    ctx = await run_db(request, load)
    if form is not None:
        ctx["form"] = form
    ctx["error"] = error
    ctx["styles"] = merge_view.style_choices()
    return render(request, "repo/settings_merging.html", ctx, status=_form_status(error) if error else 200)


async def merging_page(request: Request) -> Response:
    return await _merging_page(request)


async def save_merging(request: Request) -> Response:
    form = await read_form(request)
    ref, _, _ = await _load(request)
    actor = require_user(request)
    values = _merging_values(form)

    def work(session: Session) -> None:
        ref, _ = _lookup(session, request)
        merge_settings.save_merge_settings(session, actor, ref, **values)

    try:
        await run_db(request, work)
    except ForgeError as exc:
        return await _merging_page(request, values, exc)
    return redirect(request, f"/{ref.full_name}/settings/merging", N_("Merge settings saved."))


# --- danger zone: transfer and delete -----------------------------------------------------------------------


async def _danger_page(
    request: Request, form: dict[str, str] | None = None, transfer_error: ForgeError | None = None,
    delete_error: ForgeError | None = None,
) -> Response:
    ref, level, source = await _load(request)
    error = transfer_error or delete_error
    ctx = _ctx(ref, level, source, "danger", form=form or {}, transfer_error=transfer_error,
               delete_error=delete_error)
    return render(request, "repo/settings_danger.html", ctx, status=_form_status(error) if error else 200)


async def danger_page(request: Request) -> Response:
    return await _danger_page(request)


async def transfer(request: Request) -> Response:
    form = await read_form(request)
    await _load(request)
    actor = require_user(request)
    new_owner = field(form, "new_owner")
    repos_dir = settings_of(request).repos_dir

    def work(session: Session) -> RepoRef:
        ref, _ = _lookup(session, request)
        return repos.transfer_repository(session, repos_dir, actor, ref, new_owner)

    try:
        ref = await run_db(request, work)
    except ForgeError as exc:
        return await _danger_page(request, {"new_owner": new_owner}, transfer_error=exc)
    return redirect(request, f"/{ref.full_name}", N_("Repository transferred to %(owner)s."),
                    owner=ref.owner.name)


async def delete(request: Request) -> Response:
    form = await read_form(request)
    ref, _, _ = await _load(request)
    actor = require_user(request)
    confirm = field(form, "confirm")
    repos_dir = settings_of(request).repos_dir

    def work(session: Session) -> None:
        ref, _ = _lookup(session, request)
        repos.delete_repository(session, repos_dir, actor, ref, confirm)

    try:
        await run_db(request, work)
    except ForgeError as exc:
        return await _danger_page(request, {"confirm": confirm}, delete_error=exc)
    return redirect(request, f"/{ref.owner.name}", N_("Repository %(name)s deleted."), name=ref.full_name)


_S = "/{owner}/{repo}/settings"

routes: list[BaseRoute] = [
    Route(_S, options_page, methods=["GET"], name="repo_settings"),
    Route(_S, update_options, methods=["POST"]),
    Route(_S + "/rename", rename, methods=["POST"]),
    Route(_S + "/collaborators", collaborators_page, methods=["GET"], name="repo_collaborators"),
    Route(_S + "/collaborators", add_collaborator, methods=["POST"]),
    Route(_S + "/collaborators/{user}", change_collaborator, methods=["POST"]),
    Route(_S + "/collaborators/{user}/remove", remove_collaborator, methods=["POST"]),
    Route(_S + "/branches", rules_page, methods=["GET"], name="repo_branch_rules"),
    Route(_S + "/branches", save_rule, methods=["POST"]),
    Route(_S + "/branches/{rule_id:int}", rule_page, methods=["GET"]),
    Route(_S + "/branches/{rule_id:int}", save_rule, methods=["POST"]),
    Route(_S + "/branches/{rule_id:int}/delete", delete_rule, methods=["POST"]),
    Route(_S + "/merging", merging_page, methods=["GET"], name="repo_merging"),
    Route(_S + "/merging", save_merging, methods=["POST"]),
    Route(_S + "/danger", danger_page, methods=["GET"], name="repo_danger"),
    Route(_S + "/transfer", transfer, methods=["POST"]),
    Route(_S + "/delete", delete, methods=["POST"]),
]
