"""The runner API under ``/api/v1/runners`` (docs/ci.md, "Runner protocol"): thin JSON handlers over ci.dispatch.

Runners authenticate with ``Authorization: Bearer frn_…`` (their runner token) and, for calls about one job, with
that job's ``fjt_…`` token; the auth middleware leaves these paths alone. No cookie is involved, so there is nothing
for CSRF to protect (only browser forms, read through web.forms.read_form, check CSRF tokens). Errors are
``{"error": "<sentence>"}`` in English (a runner is a program, not a reader) with the HTTP status.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ci import dispatch, logs, project_variables
from forge.errors import AuthenticationRequired, ForgeError, InvalidInput
from forge.i18n import N_
from web.forms import read_json_object
from web.state import app_state, run_db, settings_of

PREFIX = "/api/v1/runners"
MAX_JSON_BYTES = 64 * 1024
MAX_LOG_CHUNK = 8 * 1024 * 1024

Handler = Callable[[Request], Awaitable[Response]]


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _api(handler: Handler) -> Handler:
    """Domain errors as the protocol's JSON errors."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except logs.LogGap as exc:
            return _error(416, str(exc), length=exc.length)
        except ForgeError as exc:
            headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
            response = _error(exc.status, str(exc))
            if headers:
                response.headers.update(headers)
            return response

    return wrapped


def _bearer(request: Request) -> str:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() not in ("bearer", "token") or not value.strip():
        raise AuthenticationRequired(N_("Send the token as “Authorization: Bearer <token>”."))
    return value.strip()


def _wait(value: object) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            value = None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value or value < 0:
        raise InvalidInput(N_("wait must be a number of seconds (at most 30)."))
    return min(float(value), dispatch.MAX_WAIT)


def _job_id(request: Request) -> int:
    job_id: int = request.path_params["job_id"]
    return job_id


@_api
async def register(request: Request) -> Response:
    body = await read_json_object(request, MAX_JSON_BYTES)

    def work(session: Any) -> tuple[int | None, str]:
        runner, secret = dispatch.register_runner(
            session,
            str(body.get("registration_token") or ""),
            name=body.get("name") or "",
            labels=body.get("labels"),
            concurrency=body.get("concurrency", 1),
            executor=body.get("executor") or "docker",
            version=body.get("version") or "",
        )
        return runner.id, secret

    runner_id, secret = await run_db(request, work)
    return JSONResponse({"id": runner_id, "token": secret}, status_code=201)


@_api
async def request_job(request: Request) -> Response:
    secret = _bearer(request)
    body = await read_json_object(request, MAX_JSON_BYTES)
    wait = _wait(body.get("wait", dispatch.MAX_WAIT))
    runner = await run_db(request, lambda s: dispatch.authenticate_runner(s, secret))
    assert runner.id is not None
    payload = await dispatch.request_job(
        app_state(request).engine, runner.id, settings_of(request).public_url(), wait, gone=request.is_disconnected
    )
    if payload is None:
        return Response(status_code=204)
    return JSONResponse(payload)


@_api
async def append_log(request: Request) -> Response:
    secret = _bearer(request)
    job_id = _job_id(request)
    raw_offset = request.query_params.get("offset", "")
    if not raw_offset.isdigit():
        raise InvalidInput(N_("offset must be the byte offset the data starts at."))
    offset = int(raw_offset)
    data = await request.body()
    if len(data) > MAX_LOG_CHUNK:
        return _error(413, f"Send at most {MAX_LOG_CHUNK} bytes at a time.")

    def work(session: Any) -> tuple[int, str]:
        job = dispatch.authenticate_job(session, job_id, secret)
        # The job token itself is a secret too (it is CI_JOB_TOKEN in the job's environment), and so are the masked
        # repository/organisation variables the job was given (kept sealed, not in its spec).
        secrets = [secret, *project_variables.job_masked_values(session, job)]
        appended = logs.append(session, job_id, offset, data, logs.masked_values(job, secrets))
        return appended.length, dispatch.visible_state(job)

    length, state = await run_db(request, work)
    return JSONResponse({"length": length, "state": state})


@_api
async def report_state(request: Request) -> Response:
    secret = _bearer(request)
    job_id = _job_id(request)
    body = await read_json_object(request, MAX_JSON_BYTES)

    def work(session: Any) -> str:
        job = dispatch.authenticate_job(session, job_id, secret)
        return dispatch.report_state(session, job, body.get("state"), body.get("exit_code"),
                                     body.get("failure_reason"))

    return JSONResponse({"state": await run_db(request, work)})


@_api
async def watch(request: Request) -> Response:
    secret = _bearer(request)
    job_id = _job_id(request)
    wait = _wait(request.query_params.get("wait", str(dispatch.MAX_WAIT)))
    await run_db(request, lambda s: dispatch.authenticate_job(s, job_id, secret))
    state = await dispatch.watch(app_state(request).engine, job_id, wait)
    return JSONResponse({"state": state})


@_api
async def heartbeat(request: Request) -> Response:
    secret = _bearer(request)
    body = await read_json_object(request, MAX_JSON_BYTES)

    def work(session: Any) -> list[int]:
        runner = dispatch.authenticate_runner(session, secret)
        return dispatch.heartbeat(session, runner, body.get("jobs", []))

    return JSONResponse({"cancel": await run_db(request, work)})


routes: list[BaseRoute] = [
    Route(PREFIX + "/register", register, methods=["POST"], name="runner_register"),
    Route(PREFIX + "/jobs/request", request_job, methods=["POST"], name="runner_request_job"),
    Route(PREFIX + "/jobs/{job_id:int}/log", append_log, methods=["PUT"], name="runner_job_log"),
    Route(PREFIX + "/jobs/{job_id:int}/state", report_state, methods=["POST"], name="runner_job_state"),
    Route(PREFIX + "/jobs/{job_id:int}/watch", watch, methods=["GET"], name="runner_job_watch"),
    Route(PREFIX + "/heartbeat", heartbeat, methods=["POST"], name="runner_heartbeat"),
]
