"""Pipeline schedules (the CI tab's "Schedules": list, new, edit, delete, run now, take ownership), the "Pipeline
triggers" repository settings page, and the trigger API ``POST /api/v1/repos/{owner}/{repo}/trigger/pipeline``.

Thin handlers over ``ci.schedules`` and ``ci.trigger_tokens``, which check who may do what again. A new trigger
token is shown once, in the answer to the form that made it (never in a cookie or a redirect).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ci import cron, schedules, trigger_tokens
from ci.models.schedules import PipelineSchedule
from forge.accounts.models import Account
from forge.errors import ForgeError, InvalidInput, NotFound
from forge.i18n import N_
from forge.permissions import Access
from forge.repos import services as repos
from forge.repos.services import RepoRef
from forge.settings import Settings
from web.forms import checkbox, field, read_form, read_json_object, redirect
from web.i18n import babel_locale, get_locale, gettext
from web.repo_context import repo_page_context, repo_settings_context
from web.state import current_user, require_user, run_db, settings_of
from web.templating import render

# Rows of the variable table on the form (a form without script cannot add rows).
VARIABLE_ROWS = 5
MAX_BODY = 64 * 1024
CRON_EXAMPLES = ("0 2 * * *", "30 8 * * 1-5", "0 4 * * 0", "0 3 1 * *", "*/30 * * * *")


def _base(ref: RepoRef) -> str:
    return f"/{ref.full_name}/-/pipeline_schedules"


def in_zone(value: datetime | None, zone: str) -> str:
    """``value`` as a date and time in the schedule's time zone, in the reader's language."""
    if value is None:
        return ""
    try:
        tz = ZoneInfo(zone)
    except (KeyError, ValueError):
        tz = ZoneInfo("UTC")
    return str(format_datetime(value, "medium", tzinfo=tz, locale=babel_locale()))


def _ref_names(request: Request, ref: RepoRef) -> tuple[list[str], list[str]]:
    git = repos.open_git(settings_of(request).repos_dir, ref)
    return [b.name for b in git.branches()], [t.name for t in git.tags()]


def _form_input(form: FormData) -> schedules.ScheduleInput:
    keys = [str(k) for k in form.getlist("key")]
    values = [str(v) for v in form.getlist("value")]
    return schedules.ScheduleInput(
        description=field(form, "description"),
        cron=field(form, "cron"),
        timezone=field(form, "timezone"),
        ref=field(form, "ref"),
        variables=[(k, v) for k, v in zip(keys, values, strict=False) if k.strip() or v],
        active=checkbox(form, "active"),
    )


def _input_of(schedule: PipelineSchedule) -> schedules.ScheduleInput:
    return schedules.ScheduleInput(schedule.description, schedule.cron, schedule.timezone, schedule.ref,
                                   [(str(v["key"]), str(v["value"])) for v in schedule.variables or []],
                                   schedule.active)


# --- list ------------------------------------------------------------------------------------------------------


async def schedules_page(request: Request) -> Response:
    def load(session: Session) -> dict[str, Any]:
        ctx = repo_page_context(session, request, "ci")
        user = current_user(request)
        ctx.update(views=schedules.list_schedules(session, ctx["ref"]), viewer_id=user.id if user else None,
                   ci_tab="schedules")
        return ctx

    ctx = await run_db(request, load)
    ctx["in_zone"] = in_zone
    return render(request, "ci/schedules_list.html", ctx)


# --- new and edit ----------------------------------------------------------------------------------------------


async def _form_page(request: Request, data: schedules.ScheduleInput, schedule_id: int | None,
                     error: ForgeError | None = None) -> Response:
    def load(session: Session) -> dict[str, Any]:
        ctx = repo_page_context(session, request, "ci", Access.WRITE)
        if schedule_id is not None:
            schedule = schedules.get_schedule(session, ctx["repo"], schedule_id)
            ctx["view"] = schedules.view_of(session, ctx["ref"], schedule)
            user = current_user(request)
            ctx["is_owner"] = user is not None and schedule.owner_id == user.id
        return ctx

    ctx = await run_db(request, load)
    branches, tags = await run_in_threadpool(_ref_names, request, ctx["ref"])
    rows = list(data.variables)
    rows += [("", "")] * max(VARIABLE_ROWS - len(rows), 1)
    ctx.update(
        ci_tab="schedules",
        form=data,
        variable_rows=rows,
        branches=branches,
        tags=tags,
        timezones=cron.timezone_names(),
        cron_examples=CRON_EXAMPLES,
        schedule_id=schedule_id,
        error=error,
        in_zone=in_zone,
    )
    if schedule_id is None:
        ctx["is_owner"] = True
    return render(request, "ci/schedules_form.html", ctx, status=error.status if error else 200)


def _default_zone() -> str:
    # Users are Chinese-speaking first; anyone else starts from UTC. Either can be changed in the form.
    return "Asia/Shanghai" if get_locale().startswith("zh") else "UTC"


async def new_form(request: Request) -> Response:
    default_ref = await run_db(request,
                               lambda s: repo_page_context(s, request, "ci", Access.WRITE)["repo"].default_branch)
    data = schedules.ScheduleInput("", "", _default_zone(), default_ref, [], True)
    return await _form_page(request, data, None)


async def create(request: Request) -> Response:
    form = await read_form(request)
    user = require_user(request)
    settings = settings_of(request)
    data = _form_input(form)

    def work(session: Session) -> str:
        ctx = repo_page_context(session, request, "ci", Access.WRITE)
        schedules.create_schedule(session, settings, ctx["ref"], user, data)
        return _base(ctx["ref"])

    try:
        url = await run_db(request, work)
    except InvalidInput as exc:
        return await _form_page(request, data, None, exc)
    return redirect(request, url, N_("The schedule was saved."))


def _schedule_id(request: Request) -> int:
    value: int = request.path_params["id"]
    return value


async def edit_form(request: Request) -> Response:
    schedule_id = _schedule_id(request)

    def load(session: Session) -> schedules.ScheduleInput:
        ctx = repo_page_context(session, request, "ci", Access.WRITE)
        return _input_of(schedules.get_schedule(session, ctx["repo"], schedule_id))

    return await _form_page(request, await run_db(request, load), schedule_id)


async def update(request: Request) -> Response:
    form = await read_form(request)
    user = require_user(request)
    settings = settings_of(request)
    schedule_id = _schedule_id(request)
    data = _form_input(form)

    def work(session: Session) -> str:
        ctx = repo_page_context(session, request, "ci", Access.WRITE)
        schedules.update_schedule(session, settings, ctx["ref"], user, schedule_id, data)
        return _base(ctx["ref"])

    try:
        url = await run_db(request, work)
    except InvalidInput as exc:
        return await _form_page(request, data, schedule_id, exc)
    return redirect(request, url, N_("The schedule was saved."))


# --- buttons ---------------------------------------------------------------------------------------------------


ButtonAction = Callable[[Session, Settings, RepoRef, Account, int], Any]


def _button(action: ButtonAction, message: str, to_pipeline: bool = False) -> Callable[[Request], Awaitable[Response]]:
    """A POST button on the list: run ``action`` and come back with ``message`` (or go to the pipeline it made); a
    refusal the user can act on (InvalidInput) comes back as a message on the list rather than an error page."""

    async def handle(request: Request) -> Response:
        await read_form(request)
        user = require_user(request)
        settings = settings_of(request)
        schedule_id = _schedule_id(request)

        def work(session: Session) -> tuple[str, Any]:
            ctx = repo_page_context(session, request, "ci", Access.WRITE)
            return f"/{ctx['ref'].full_name}/-", action(session, settings, ctx["ref"], user, schedule_id)

        try:
            ci_base, result = await run_db(request, work)
        except InvalidInput as exc:
            back = await run_db(request, lambda s: _base(repo_page_context(s, request, "ci")["ref"]))
            return redirect(request, back, exc.message, "error", **exc.params)
        if to_pipeline:
            return redirect(request, f"{ci_base}/pipelines/{result.id}", message, id=result.id)
        return redirect(request, f"{ci_base}/pipeline_schedules", message)

    return handle


play = _button(lambda s, settings, ref, user, i: schedules.run_now(s, settings, ref, user, i),
               N_("Pipeline #%(id)s was created."), to_pipeline=True)
delete = _button(lambda s, _settings, ref, user, i: schedules.delete_schedule(s, ref, user, i),
                 N_("The schedule was deleted."))
take_ownership = _button(lambda s, _settings, ref, user, i: schedules.take_ownership(s, ref, user, i),
                         N_("You are now the owner of the schedule; its pipelines run as you."))


# --- trigger tokens (repository settings) -----------------------------------------------------------------------


def _settings_ctx(session: Session, request: Request) -> dict[str, Any]:
    return repo_settings_context(session, request, "ci_triggers")[1]


async def _triggers_page(request: Request, extra: dict[str, Any] | None = None, error: ForgeError | None = None,
                         description: str = "") -> Response:
    user = require_user(request)

    def load(session: Session) -> dict[str, Any]:
        ctx = _settings_ctx(session, request)
        ctx["tokens"] = trigger_tokens.list_tokens(session, user, ctx["ref"])
        return ctx

    ctx = await run_db(request, load)
    ctx.update(extra or {}, error=error, description=description,
               api_url=f"{settings_of(request).public_url()}/api/v1/repos/{ctx['ref'].full_name}/trigger/pipeline",
               default_branch=ctx["repo"].default_branch)
    return render(request, "ci/triggers_settings.html", ctx, status=error.status if error else 200)


async def triggers_page(request: Request) -> Response:
    return await _triggers_page(request)


async def create_trigger(request: Request) -> Response:
    form = await read_form(request)
    user = require_user(request)
    description = field(form, "description")

    def work(session: Session) -> str:
        ctx = _settings_ctx(session, request)
        _, secret = trigger_tokens.create_token(session, user, ctx["ref"], description)
        return secret

    try:
        secret = await run_db(request, work)
    except InvalidInput as exc:
        return await _triggers_page(request, error=exc, description=description)
    return await _triggers_page(request, {"new_token": secret})


async def revoke_trigger(request: Request) -> Response:
    await read_form(request)
    user = require_user(request)
    token_id: int = request.path_params["id"]

    def work(session: Session) -> str:
        ctx = _settings_ctx(session, request)
        trigger_tokens.revoke_token(session, user, ctx["ref"], token_id)
        return f"{ctx['base']}/ci/triggers"

    url = await run_db(request, work)
    return redirect(request, url, N_("The trigger token was revoked."))


# --- the trigger API -------------------------------------------------------------------------------------------


def _variables_from_form(items: list[tuple[str, Any]]) -> list[tuple[str, str]]:
    # GitLab's form shape: variables[KEY]=value.
    pairs = []
    for name, value in items:
        if name.startswith("variables[") and name.endswith("]"):
            pairs.append((name[len("variables["):-1], str(value)))
    return pairs


async def _trigger_fields(request: Request) -> tuple[str, str, list[tuple[str, str]]]:
    """token, ref and the variables, from a JSON body, a form (url-encoded or multipart) or the query string."""
    query = request.query_params
    token, ref = query.get("token", ""), query.get("ref", "")
    pairs = _variables_from_form(list(query.multi_items()))
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        data = await read_json_object(request, MAX_BODY)
        variables = data.get("variables") or {}
        if not isinstance(variables, dict) or not all(isinstance(v, str | int | float | bool)
                                                      for v in variables.values()):
            raise InvalidInput(N_("variables must be an object of names and text values."))
        token = str(data.get("token") or token)
        ref = str(data.get("ref") or ref)
        pairs += [(str(k), str(v).lower() if isinstance(v, bool) else str(v)) for k, v in variables.items()]
    elif content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        async with request.form(max_files=0, max_fields=200, max_part_size=MAX_BODY) as form:
            token = str(form.get("token") or token)
            ref = str(form.get("ref") or ref)
            pairs += _variables_from_form([(k, v) for k, v in form.multi_items() if isinstance(v, str)])
    return token, ref, pairs


def _bad_request(exc: ForgeError) -> Response:
    return JSONResponse({"message": gettext(exc.message, **exc.params), "errors": []}, status_code=400)


async def trigger_pipeline(request: Request) -> Response:
    settings = settings_of(request)
    try:
        token, ref_name, pairs = await _trigger_fields(request)
        if not token:
            raise InvalidInput(N_("Send the trigger token in the token field."))
        if not ref_name:
            raise InvalidInput(N_("Send the branch or tag to run the pipeline on in the ref field."))
        variables = trigger_tokens.parse_variables(pairs)
    except InvalidInput as exc:
        return _bad_request(exc)
    p = request.path_params

    def work(session: Session) -> dict[str, Any]:
        ref = repos.find_repo(session, p["owner"], p["repo"])
        if ref is None:
            raise NotFound(N_("Repository not found."))
        pipeline = trigger_tokens.trigger_pipeline(session, settings, ref, token, ref_name, variables)
        return {
            "id": pipeline.id,
            "sha": pipeline.sha,
            "ref": pipeline.ref,
            "status": pipeline.status,
            "source": pipeline.source,
            "created_at": pipeline.created_at.isoformat(),
            "web_url": f"{settings.public_url()}/{ref.full_name}/-/pipelines/{pipeline.id}",
        }

    try:
        answer = await run_db(request, work)
    except InvalidInput as exc:
        return _bad_request(exc)  # the ref does not exist, or nothing would run
    return JSONResponse(answer, status_code=201)


_R = "/{owner}/{repo}/-/pipeline_schedules"
_T = "/{owner}/{repo}/settings/ci/triggers"

# Under /api/v1 but outside the REST API (GitLab's trigger-token form); web.routes matches it before the API mount.
api_routes: list[BaseRoute] = [
    Route("/api/v1/repos/{owner}/{repo}/trigger/pipeline", trigger_pipeline, methods=["POST"],
          name="api_trigger_pipeline"),
]

routes: list[BaseRoute] = [
    Route(_R, schedules_page, methods=["GET"], name="ci_schedules"),
    Route(_R, create, methods=["POST"], name="ci_schedule_create"),
    Route(_R + "/new", new_form, methods=["GET"], name="ci_schedule_new"),
    Route(_R + "/{id:int}/edit", edit_form, methods=["GET"], name="ci_schedule_edit"),
    Route(_R + "/{id:int}", update, methods=["POST"], name="ci_schedule_update"),
    Route(_R + "/{id:int}/delete", delete, methods=["POST"], name="ci_schedule_delete"),
    Route(_R + "/{id:int}/play", play, methods=["POST"], name="ci_schedule_play"),
    Route(_R + "/{id:int}/take_ownership", take_ownership, methods=["POST"], name="ci_schedule_take_ownership"),
    Route(_T, triggers_page, methods=["GET"], name="ci_triggers"),
    Route(_T, create_trigger, methods=["POST"], name="ci_trigger_create"),
    Route(_T + "/{id:int}/revoke", revoke_trigger, methods=["POST"], name="ci_trigger_revoke"),
]
