"""Environments pages of a repository's CI tab: the list (available / stopped, ``review/*`` names in folders), one
environment with its deployments, the re-deploy (rollback) confirmation, and the Stop / Delete buttons.

Reading needs read access (a hidden repository is a plain 404); every action needs write access, checked again by
``ci.environments``. A refusal a person can understand (already stopped, job still running) comes back as a
message on the page the button was on.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ci import environments
from ci.models import Job, Pipeline
from forge.errors import InvalidInput
from forge.i18n import N_
from forge.permissions import Access
from web.forms import read_form, redirect
from web.repo_context import repo_page_context
from web.state import require_user, run_db
from web.templating import render

PER_PAGE = 20  # deployments of one environment
PER_PAGE_ENVIRONMENTS = 50


def _ctx(session: Session, request: Request, needed: Access = Access.READ) -> dict[str, Any]:
    ctx = repo_page_context(session, request, "ci", needed)
    ctx["ci_tab"] = "environments"
    return ctx


def _page_number(request: Request) -> int:
    try:
        return max(int(request.query_params.get("page", "1")), 1)
    except ValueError:
        return 1


def _env_url(ctx: dict[str, Any], environment_id: int) -> str:
    return f"/{ctx['ref'].full_name}/-/environments/{environment_id}"


async def environments_page(request: Request) -> Response:
    stopped = request.query_params.get("scope") == "stopped"
    page = _page_number(request)

    def load(session: Session) -> dict[str, Any]:
        ctx = _ctx(session, request)
        found = environments.list_environments(session, ctx["repo"].id, stopped, page, PER_PAGE_ENVIRONMENTS)
        ctx.update(items=found.items, counts=found.counts, has_more=found.has_more, page=page,
                   scope="stopped" if stopped else "available")
        return ctx

    return render(request, "ci/environments_list.html", await run_db(request, load))


async def environment_page(request: Request) -> Response:
    environment_id = request.path_params["id"]
    page = _page_number(request)

    def load(session: Session) -> dict[str, Any]:
        ctx = _ctx(session, request)
        environment = environments.get_environment(session, ctx["repo"].id, environment_id)
        rows, has_older = environments.deployments_page(session, environment, page, PER_PAGE)
        current = environments.current_deployment(session, environment)
        ctx.update(environment=environment, deployments=rows, has_older=has_older, page=page,
                   current=current, stop_job=environments.stop_job_of(session, environment))
        return ctx

    return render(request, "ci/environments_show.html", await run_db(request, load))


async def redeploy_form(request: Request) -> Response:
    environment_id = request.path_params["id"]
    iid = request.path_params["iid"]

    def load(session: Session) -> dict[str, Any]:
        ctx = _ctx(session, request, Access.WRITE)
        environment = environments.get_environment(session, ctx["repo"].id, environment_id)
        deployment = environments.get_deployment(session, environment, iid)
        current = environments.current_deployment(session, environment)
        ctx.update(environment=environment, deployment=deployment, current=current,
                   job=session.get(Job, deployment.job_id) if deployment.job_id is not None else None,
                   pipeline=session.get(Pipeline, deployment.pipeline_id) if deployment.pipeline_id else None)
        return ctx

    return render(request, "ci/environments_redeploy.html", await run_db(request, load))


async def _act(request: Request, work: Any, back: str, message: str) -> Response:
    try:
        url, params = await run_db(request, work)
    except InvalidInput as exc:
        return redirect(request, back, exc.message, "error", **exc.params)
    return redirect(request, url, message, **params)


async def redeploy(request: Request) -> Response:
    await read_form(request)
    user = require_user(request)
    environment_id = request.path_params["id"]
    iid = request.path_params["iid"]
    back = request.url.path.rsplit("/deployments/", 1)[0]

    def work(session: Session) -> tuple[str, dict[str, Any]]:
        ctx = _ctx(session, request)
        environment = environments.get_environment(session, ctx["repo"].id, environment_id)
        job = environments.redeploy(session, user, environment, iid)
        return f"/{ctx['ref'].full_name}/-/jobs/{job.id}", {"name": environment.name}

    return await _act(request, work, back, N_("Deploying again to %(name)s."))


async def stop(request: Request) -> Response:
    await read_form(request)
    user = require_user(request)
    environment_id = request.path_params["id"]
    back = request.url.path.rsplit("/", 1)[0]

    def work(session: Session) -> tuple[str, dict[str, Any]]:
        ctx = _ctx(session, request)
        environment = environments.get_environment(session, ctx["repo"].id, environment_id)
        environments.stop_environment(session, user, environment)
        return _env_url(ctx, environment_id), {"name": environment.name}

    return await _act(request, work, back, N_("Stopping environment %(name)s."))


async def delete(request: Request) -> Response:
    await read_form(request)
    user = require_user(request)
    environment_id = request.path_params["id"]
    back = request.url.path.rsplit("/", 1)[0]

    def work(session: Session) -> tuple[str, dict[str, Any]]:
        ctx = _ctx(session, request)
        environment = environments.get_environment(session, ctx["repo"].id, environment_id)
        name = environment.name
        environments.delete_environment(session, user, environment)
        return f"/{ctx['ref'].full_name}/-/environments?scope=stopped", {"name": name}

    return await _act(request, work, back, N_("Environment %(name)s was deleted."))


_R = "/{owner}/{repo}/-/environments"

routes: list[BaseRoute] = [
    Route(_R, environments_page, methods=["GET"], name="ci_environments"),
    Route(_R + "/{id:int}", environment_page, methods=["GET"], name="ci_environment"),
    Route(_R + "/{id:int}/stop", stop, methods=["POST"], name="ci_environment_stop"),
    Route(_R + "/{id:int}/delete", delete, methods=["POST"], name="ci_environment_delete"),
    Route(_R + "/{id:int}/deployments/{iid:int}/redeploy", redeploy_form, methods=["GET"],
          name="ci_environment_redeploy_form"),
    Route(_R + "/{id:int}/deployments/{iid:int}/redeploy", redeploy, methods=["POST"],
          name="ci_environment_redeploy"),
]
