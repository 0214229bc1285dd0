"""CI pages of a repository: pipelines list, pipeline page (stages and needs), job page, "Run pipeline", the lint
page, and the cancel / retry / play buttons.

Every page looks the repository up for the viewer first (a hidden repository is a plain 404, as on every other
repository page); actions need write access, checked again by the ``ci.pipelines`` functions they call.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ci import artifacts, environments, job_actions, jobstate, lifecycle, merge_requests, pipelines, test_reports
from ci import graph as ci_graph
from ci import lint as ci_lint
from ci.models import ACTIVE_STATES, CANCELED, FAILED, MANUAL, Job, Pipeline, Runner
from forge.accounts.models import Account
from forge.errors import ForgeError, InvalidInput
from forge.i18n import N_
from forge.permissions import Access
from forge.repos import services as repos
from forge.repos.services import RepoRef
from forge.settings import Settings
from web.forms import read_form, redirect
from web.i18n import gettext
from web.repo_context import repo_page_context
from web.routes import ci_logs
from web.state import require_user, run_db, settings_of
from web.templating import render

PER_PAGE = 30
MAX_LINT_BYTES = 1024 * 1024
# Rows of the "Run pipeline" variable table (a form without script cannot add rows).
VARIABLE_ROWS = 5


def _ctx(session: Session, request: Request, needed: Access = Access.READ) -> dict[str, Any]:
    return repo_page_context(session, request, "ci", needed)


def _page_number(request: Request) -> int:
    try:
        return max(int(request.query_params.get("page", "1")), 1)
    except ValueError:
        return 1


def _accounts(session: Session, ids: set[int | None]) -> dict[int, Account]:
    return {i: a for i in ids if i is not None and (a := session.get(Account, i)) is not None}


def duration(started: datetime | None, finished: datetime | None) -> str:
    """"1 h 02 min", "3 min 05 s", "12 s"; "" until it has both started and finished."""
    if started is None or finished is None:
        return ""
    seconds = max(int((finished - started).total_seconds()), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return gettext("%(hours)s h %(minutes)s min", hours=hours, minutes=f"{minutes:02d}")
    if minutes:
        return gettext("%(minutes)s min %(seconds)s s", minutes=minutes, seconds=f"{secs:02d}")
    return gettext("%(seconds)s s", seconds=secs)


def _base(ref: RepoRef) -> str:
    return f"/{ref.full_name}/-"


# --- list ----------------------------------------------------------------------------------------------------


async def pipelines_page(request: Request) -> Response:
    page = _page_number(request)
    ref_filter = request.query_params.get("ref", "").strip()

    def load(session: Session) -> dict[str, Any]:
        ctx = _ctx(session, request)
        rows, has_older = pipelines.list_pipelines(session, ctx["repo"].id, page, PER_PAGE, ref_filter)
        ctx.update(test_reports.list_facts(session, rows))
        ctx.update(
            pipelines=rows,
            users=_accounts(session, {p.triggered_by_id for p in rows}),
            page=page,
            has_older=has_older,
            ref_filter=ref_filter,
            pull_numbers=merge_requests.pull_numbers(session, rows),
        )
        return ctx

    ctx = await run_db(request, load)
    ctx["duration"] = duration
    return render(request, "ci/pipelines.html", ctx)


# --- one pipeline ---------------------------------------------------------------------------------------------


async def pipeline_page(request: Request) -> Response:
    pipeline_id = request.path_params["id"]

    def load(session: Session) -> dict[str, Any]:
        ctx = _ctx(session, request)
        pipeline = pipelines.get_pipeline(session, ctx["repo"], pipeline_id)
        jobs = pipelines.jobs_of(session, pipeline_id)
        latest = jobstate.latest_attempts(jobs)
        ctx.update(
            pipeline=pipeline,
            stages=pipelines.stages_of(jobs),
            latest=latest,
            # The dependency graph is drawn when a job uses needs; otherwise the stage columns say it all.
            dag=ci_graph.layout(latest) if any(j.needs is not None for j in latest) else None,
            retried_count=len(jobs) - len(latest),
            trigger_user=_accounts(session, {pipeline.triggered_by_id}).get(pipeline.triggered_by_id or 0),
            can_cancel=any(j.status in (*ACTIVE_STATES, MANUAL) for j in latest),
            can_retry=any(j.status in (FAILED, CANCELED) for j in latest),
            pipeline_tab="jobs",
            pull_numbers=merge_requests.pull_numbers(session, [pipeline]),
        )
        ctx.update(test_reports.pipeline_facts(session, pipeline))
        return ctx

    ctx = await run_db(request, load)
    ctx["duration"] = duration
    return render(request, "ci/pipeline.html", ctx)


def _pipeline_action(request: Request, action: Any) -> Any:
    pipeline_id = request.path_params["id"]
    user = require_user(request)

    def work(session: Session) -> str:
        ctx = _ctx(session, request)
        pipeline = pipelines.get_pipeline(session, ctx["repo"], pipeline_id)
        action(session, user, pipeline)
        return f"{_base(ctx['ref'])}/pipelines/{pipeline_id}"

    return work


async def cancel_pipeline(request: Request) -> Response:
    await read_form(request)
    return await _act(request, _pipeline_action(request, job_actions.cancel_pipeline), N_("The pipeline was canceled."))


async def retry_pipeline(request: Request) -> Response:
    await read_form(request)
    action = _pipeline_action(request, job_actions.retry_failed)
    return await _act(request, action, N_("The failed jobs will run again."))


async def _act(request: Request, work: Any, message: str) -> Response:
    """Run a button's action; a refusal the user can understand (already finished...) comes back as a message on
    the page the button was on rather than an error page. Not found / not allowed stay errors."""
    try:
        url = await run_db(request, work)
    except InvalidInput as exc:
        back = request.url.path.rsplit("/", 1)[0]
        return redirect(request, back, exc.message, "error", **exc.params)
    return redirect(request, url, message)


# --- one job -------------------------------------------------------------------------------------------------


async def job_page(request: Request) -> Response:
    job_id = request.path_params["id"]

    def load(session: Session) -> dict[str, Any]:
        ctx = _ctx(session, request)
        job = pipelines.get_job(session, ctx["repo"], job_id)
        pipeline = session.get(Pipeline, job.pipeline_id)
        attempts = pipelines.attempts_of(session, job)
        runner = session.get(Runner, job.runner_id) if job.runner_id is not None else None
        ctx.update(
            job=job,
            pipeline=pipeline,
            attempts=attempts,
            is_latest=attempts[-1].id == job.id,
            runner=runner,
            # Who played or retried this attempt (none for a job the pipeline started by itself).
            job_user=_accounts(session, {job.user_id}).get(job.user_id or 0),
        )
        # The log partial's own context (helper module of the log routes): the log's end and its stream URL.
        ctx.update(ci_logs.job_log_context(session, ctx["ref"], job))
        # What each CI feature shows about the job (its block is included by ci/job.html).
        for facts in (artifacts.job_page_facts, test_reports.job_page_facts, environments.job_page_facts,
                      lifecycle.job_page_facts):
            ctx.update(facts(session, job))
        return ctx

    ctx = await run_db(request, load)
    ctx["duration"] = duration
    ctx["can_cancel"] = ctx["job"].status in (*ACTIVE_STATES, MANUAL)
    ctx["can_retry"] = ctx["is_latest"] and ctx["job"].status in job_actions.RETRYABLE
    return render(request, "ci/job.html", ctx)


def _job_action(request: Request, action: Any) -> Any:
    job_id = request.path_params["id"]
    user = require_user(request)

    def work(session: Session) -> str:
        ctx = _ctx(session, request)
        job = pipelines.get_job(session, ctx["repo"], job_id)
        result: Job = action(session, user, job)
        return f"{_base(ctx['ref'])}/jobs/{result.id}"

    return work


async def cancel_job(request: Request) -> Response:
    await read_form(request)
    return await _act(request, _job_action(request, job_actions.cancel_job), N_("The job was canceled."))


async def retry_job(request: Request) -> Response:
    await read_form(request)
    return await _act(request, _job_action(request, job_actions.retry_job), N_("The job will run again."))


async def play_job(request: Request) -> Response:
    await read_form(request)
    return await _act(request, _job_action(request, job_actions.play_job), N_("The job was started."))


async def start_job_now(request: Request) -> Response:
    await read_form(request)
    return await _act(request, _job_action(request, job_actions.start_now), N_("The delayed job was started."))


async def unschedule_job(request: Request) -> Response:
    await read_form(request)
    action = _job_action(request, job_actions.unschedule)
    return await _act(request, action, N_("The job was unscheduled: start it by hand when you want it to run."))


# --- run pipeline ---------------------------------------------------------------------------------------------


def _ref_names(settings: Settings, ref: RepoRef) -> tuple[list[str], list[str]]:
    git = repos.open_git(settings.repos_dir, ref)
    return [b.name for b in git.branches()], [t.name for t in git.tags()]


async def _run_form(request: Request, form: dict[str, Any] | None = None, error: ForgeError | None = None) -> Response:
    ctx = await run_db(request, lambda s: _ctx(s, request, Access.WRITE))
    branches, tags = await run_in_threadpool(_ref_names, settings_of(request), ctx["ref"])
    rows = list((form or {}).get("variables", []))
    rows += [("", "")] * max(VARIABLE_ROWS - len(rows), 1)
    ctx.update(
        branches=branches,
        tags=tags,
        form_ref=(form or {}).get("ref") or request.query_params.get("ref") or ctx["repo"].default_branch,
        variable_rows=rows,
        error=error,
    )
    return render(request, "ci/run.html", ctx, status=error.status if error else 200)


async def run_form(request: Request) -> Response:
    return await _run_form(request)


async def run_pipeline(request: Request) -> Response:
    form = await read_form(request)
    user = require_user(request)
    settings = settings_of(request)
    ref_name = str(form.get("ref", "")).strip()
    keys = [str(k) for k in form.getlist("key")]
    values = [str(v) for v in form.getlist("value")]
    pairs = list(zip(keys, values, strict=False))
    ctx = await run_db(request, lambda s: _ctx(s, request, Access.WRITE))
    try:
        run_variables = pipelines.parse_run_variables(pairs)

        def work(session: Session) -> int:
            ref = repos.get_repo_by_id(session, ctx["repo"].id)
            assert ref is not None
            pipeline = pipelines.run_pipeline(session, settings, ref, user, ref_name, run_variables)
            assert pipeline.id is not None
            return pipeline.id

        pipeline_id = await run_db(request, work)
    except ForgeError as exc:
        status_exc = exc if exc.status != 404 else InvalidInput(exc.message, **exc.params)
        return await _run_form(request, {"ref": ref_name, "variables": [p for p in pairs if p[0] or p[1]]},
                               status_exc)
    return redirect(request, f"{_base(ctx['ref'])}/pipelines/{pipeline_id}", N_("Pipeline #%(id)s was created."),
                    id=pipeline_id)


# --- lint ----------------------------------------------------------------------------------------------------


async def lint_page(request: Request) -> Response:
    ctx = await run_db(request, lambda s: _ctx(s, request))
    settings = settings_of(request)

    def current() -> str:
        git = repos.open_git(settings.repos_dir, ctx["ref"])
        tip = git.ref_target(f"refs/heads/{ctx['repo'].default_branch}")
        found = pipelines.read_config(git, tip) if tip else None
        return found.text or "" if found is not None else ""

    ctx["text"] = await run_in_threadpool(current)
    ctx["result"] = None
    return render(request, "ci/lint.html", ctx)


async def lint_submit(request: Request) -> Response:
    form = await read_form(request)
    ctx = await run_db(request, lambda s: _ctx(s, request))
    text = str(form.get("content", ""))
    if len(text.encode()) > MAX_LINT_BYTES:
        raise InvalidInput(N_("The pipeline file is larger than 1 MiB."))
    ctx["text"] = text
    settings = settings_of(request)
    git = repos.open_git(settings.repos_dir, ctx["ref"])
    ctx["result"] = await run_in_threadpool(ci_lint.lint_text, git, ctx["ref"], text, settings.public_url())
    return render(request, "ci/lint.html", ctx)


_R = "/{owner}/{repo}/-"

routes: list[BaseRoute] = [
    Route(_R + "/pipelines", pipelines_page, methods=["GET"], name="ci_pipelines"),
    Route(_R + "/pipelines", run_pipeline, methods=["POST"], name="ci_run_pipeline"),
    Route(_R + "/pipelines/new", run_form, methods=["GET"], name="ci_run_form"),
    Route(_R + "/pipelines/{id:int}", pipeline_page, methods=["GET"], name="ci_pipeline"),
    Route(_R + "/pipelines/{id:int}/cancel", cancel_pipeline, methods=["POST"], name="ci_cancel_pipeline"),
    Route(_R + "/pipelines/{id:int}/retry", retry_pipeline, methods=["POST"], name="ci_retry_pipeline"),
    Route(_R + "/jobs/{id:int}", job_page, methods=["GET"], name="ci_job"),
    Route(_R + "/jobs/{id:int}/cancel", cancel_job, methods=["POST"], name="ci_cancel_job"),
    Route(_R + "/jobs/{id:int}/retry", retry_job, methods=["POST"], name="ci_retry_job"),
    Route(_R + "/jobs/{id:int}/play", play_job, methods=["POST"], name="ci_play_job"),
    Route(_R + "/jobs/{id:int}/start-now", start_job_now, methods=["POST"], name="ci_start_job_now"),
    Route(_R + "/jobs/{id:int}/unschedule", unschedule_job, methods=["POST"], name="ci_unschedule_job"),
    Route(_R + "/ci/lint", lint_page, methods=["GET"], name="ci_lint"),
    Route(_R + "/ci/lint", lint_submit, methods=["POST"], name="ci_lint_submit"),
]
