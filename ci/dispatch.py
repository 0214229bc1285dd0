"""The server side of the runner protocol (docs/ci.md, "Runner protocol"): registration, handing out jobs exactly
once, state reports, cancel watches, heartbeats, and failing jobs whose runner went away or that ran too long.

Handing out: a pending job goes to exactly one runner because the claim is one conditional ``UPDATE … WHERE id = ?
AND status = 'pending'`` whose row count says who won; that holds on SQLite and PostgreSQL, for any number of server
workers and runners. The long poll (:func:`request_job`) tries to claim, then sleeps until a job becomes pending in
this worker (``ci.notify``) or 100 ms pass (a job made pending by another worker is found by the next try).

Every transition to a final state (success, failed, canceled) goes through :func:`_finish`, which stores the held
back end of the log and calls ``ci.jobstate.on_job_finished`` in the same transaction.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import anyio.to_thread
from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from ci import job_hooks, jobstate, logs, notify, tokens
from ci.background import periodic
from ci.job_payload import Payload, build_payload, job_timeout
from ci.models import CANCELED, FAILED, PENDING, RUNNING, SUCCESS, Job, Runner
from forge.db.engine import session_scope
from forge.db.models_base import utcnow
from forge.errors import AuthenticationRequired, InvalidInput
from forge.i18n import N_
from forge.repos.models import Repository
from forge.settings import Settings

MAX_WAIT = 30.0  # longest long poll a runner may ask for, seconds
POLL_INTERVAL = 0.1  # database re-check while waiting, for changes made by other server workers
TIMEOUT_GRACE = 60  # the runner kills a job at its timeout; the server fails it this much later if it did not
EXECUTORS = ("docker", "shell")
MAX_CONCURRENCY = 64
# Reasons a runner may give for a failed job (docs/ci.md, "Job states").
# What a runner may report (docs/ci.md, "Job states"); archived_failure: the artifacts could not be uploaded.
FAILURE_REASONS = (
    "script_failure", "job_timeout", "image_pull_failure", "system_failure", "config_error", "archived_failure",
)
RUNNER_LOST = "runner_lost"
JOB_TIMEOUT = "job_timeout"
# Contact times are written at most this often, so a chatty runner does not turn every call into a write.
_TOUCH_EVERY = timedelta(seconds=5)
_LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+/-]{0,63}$")
# Pending jobs looked at per query while matching a runner's labels.
_CANDIDATE_PAGE = 200



# --- registration ------------------------------------------------------------------------------------------


def parse_labels(value: object) -> list[str]:
    """Labels from a list (the API) or a space/comma separated string (forms); each checked, duplicates dropped."""
    if value is None:
        return []
    items = re.split(r"[\s,]+", value) if isinstance(value, str) else value
    if not isinstance(items, list):
        raise InvalidInput(N_("Labels must be a list of words."))
    labels: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidInput(N_("Labels must be a list of words."))
        if not item:
            continue
        if not _LABEL_RE.match(item):
            raise InvalidInput(N_("“%(label)s” is not a valid label: use letters, digits and . _ - : + / (up to 64)."),
                               label=item[:80])
        if item not in labels:
            labels.append(item)
    return labels


def register_runner(
    session: Session,
    registration_token: str,
    *,
    name: str,
    labels: object = None,
    concurrency: object = 1,
    executor: str = "docker",
    version: str = "",
) -> tuple[Runner, str]:
    """Register a runner with a registration token; returns it with its runner token (shown this once)."""
    reg = tokens.find_registration_token(session, registration_token)
    if reg is None:
        raise AuthenticationRequired(N_("This registration token is unknown or was revoked."))
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > 255:
        raise InvalidInput(N_("Give the runner a name of up to 255 characters."))
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= MAX_CONCURRENCY:
        raise InvalidInput(N_("Concurrency must be a whole number from 1 to %(max)s."), max=MAX_CONCURRENCY)
    if executor not in EXECUTORS:
        raise InvalidInput(N_("Unknown executor “%(executor)s”: use docker or shell."), executor=str(executor)[:40])
    label_list = parse_labels(labels)
    if len(" ".join(label_list)) > 1024:
        raise InvalidInput(N_("Too many labels."))
    secret = tokens.new_secret(tokens.RUNNER_PREFIX)
    runner = Runner(
        name=name,
        token_hash=tokens.hash_token(secret),
        token_prefix=tokens.shown_part(secret),
        scope=reg.scope,
        owner_id=reg.owner_id,
        repo_id=reg.repo_id,
        labels=" ".join(label_list),
        concurrency=concurrency,
        executor=executor,
        version=(version or "")[:64] if isinstance(version, str) else "",
        created_by_id=reg.created_by_id,
        last_seen_at=utcnow(),
    )
    session.add(runner)
    session.flush()
    return runner, secret


def authenticate_runner(session: Session, secret: str) -> Runner:
    runner = tokens.find_runner(session, secret)
    if runner is None:
        raise AuthenticationRequired(N_("This runner token is unknown; the runner may have been deleted."))
    return runner


def authenticate_job(session: Session, job_id: int, secret: str) -> Job:
    """The job ``job_id`` if ``secret`` is its job token; the call counts as contact from its runner."""
    job = tokens.find_job(session, secret)
    if job is None or job.id != job_id:
        raise AuthenticationRequired(N_("This job token is not valid for job %(id)s."), id=job_id)
    touch_job(session, job)
    return job


# --- contact times -----------------------------------------------------------------------------------------


def _stale(column: Any, now: datetime) -> ColumnElement[bool]:
    return or_(column.is_(None), column < now - _TOUCH_EVERY)


def _due(seen: datetime | None, now: datetime) -> bool:
    # Checked before writing: on SQLite even an UPDATE that matches nothing takes the database's write lock.
    return seen is None or seen < now - _TOUCH_EVERY


def touch_runner(session: Session, runner: Runner) -> None:
    """Record that the runner called (shown as online; kept in the row at most every few seconds)."""
    now = utcnow()
    if _due(runner.last_seen_at, now):
        session.execute(
            update(Runner).where(col(Runner.id) == runner.id, _stale(col(Runner.last_seen_at), now))
            .values(last_seen_at=now).execution_options(synchronize_session=False)
        )


def _touch_job(session: Session, job: Job, now: datetime) -> None:
    if job.status == RUNNING and _due(job.last_contact_at, now):
        session.execute(
            update(Job).where(col(Job.id) == job.id, _stale(col(Job.last_contact_at), now))
            .values(last_contact_at=now).execution_options(synchronize_session=False)
        )


def touch_job(session: Session, job: Job) -> None:
    """Record that the runner holding ``job`` called about it (runner-lost detection)."""
    _touch_job(session, job, utcnow())
    runner = session.get(Runner, job.runner_id) if job.runner_id is not None else None
    if runner is not None:
        touch_runner(session, runner)


# --- handing out jobs --------------------------------------------------------------------------------------


def _scope_filter(runner: Runner) -> ColumnElement[bool] | None:
    if runner.scope == tokens.ORG:
        return col(Job.repo_id).in_(select(col(Repository.id)).where(col(Repository.owner_id) == runner.owner_id))
    if runner.scope == tokens.REPO:
        return col(Job.repo_id) == runner.repo_id
    return None


def _busy(runner_id: int) -> Any:
    """How many jobs the runner is running, as a subquery usable inside the claim's UPDATE."""
    busy = Job.__table__.alias("busy")  # type: ignore[attr-defined]
    return (
        select(func.count()).select_from(busy)
        .where(busy.c.runner_id == runner_id, busy.c.status == RUNNING)
        .scalar_subquery()
    )


def _matching_pending(session: Session, runner: Runner) -> list[int]:
    """Pending jobs this runner may take (scope, tags among its labels), oldest first."""
    labels = set(runner.labels.split())
    stmt = select(col(Job.id), col(Job.tags)).where(col(Job.status) == PENDING, col(Job.cancel_requested).is_(False))
    scope = _scope_filter(runner)
    if scope is not None:
        stmt = stmt.where(scope)
    found: list[int] = []
    last = 0
    while not found:
        rows = session.execute(
            stmt.where(col(Job.id) > last).order_by(col(Job.id)).limit(_CANDIDATE_PAGE)
        ).all()
        if not rows:
            break
        found = [job_id for job_id, tags in rows if set(tags.split()) <= labels]
        last = rows[-1][0]
    return found


def try_claim(engine: Engine, runner_id: int, public_url: str) -> Payload | None:
    """One attempt to hand ``runner_id`` a job: the job's payload, or None when there is nothing for it."""
    with session_scope(engine) as session:
        runner = session.get(Runner, runner_id)
        if runner is None or not runner.is_active:
            return None
        touch_runner(session, runner)
        running = session.execute(
            select(func.count()).select_from(Job).where(col(Job.runner_id) == runner_id, col(Job.status) == RUNNING)
        ).scalar_one()
        if running >= runner.concurrency:
            return None
        candidates = _matching_pending(session, runner)
        concurrency = runner.concurrency
    for job_id in candidates:
        secret = tokens.new_secret(tokens.JOB_PREFIX)
        with session_scope(engine) as session:
            now = utcnow()
            won = session.execute(
                update(Job)
                .where(col(Job.id) == job_id, col(Job.status) == PENDING, col(Job.cancel_requested).is_(False),
                       _busy(runner_id) < concurrency)
                .values(status=RUNNING, runner_id=runner_id, token_hash=tokens.hash_token(secret),
                        started_at=now, last_contact_at=now)
                .execution_options(synchronize_session=False)
            )
            if won.rowcount != 1:  # type: ignore[attr-defined]
                continue  # another runner (or worker) got it first, or this runner became full
            job = session.get(Job, job_id, populate_existing=True)
            assert job is not None
            job_hooks.job_started(session, job)
            notify.after_commit(session, notify.job_key(job_id))
            return build_payload(session, job, secret, public_url)
    return None


async def request_job(
    engine: Engine,
    runner_id: int,
    public_url: str,
    wait: float,
    gone: Callable[[], Awaitable[bool]] | None = None,
) -> Payload | None:
    """The long poll: a job for the runner as soon as there is one, or None after ``wait`` seconds (or when the
    runner hung up, so no job is handed to a connection nobody reads)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(0.0, min(wait, MAX_WAIT))
    with notify.hub.subscribe(notify.JOBS_PENDING) as sub:
        while True:
            if gone is not None and await gone():
                return None
            payload = await anyio.to_thread.run_sync(try_claim, engine, runner_id, public_url)
            if payload is not None:
                return payload
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            await sub.wait(min(POLL_INTERVAL, remaining))


# --- state reports, cancel watch, heartbeat ----------------------------------------------------------------


def visible_state(job: Job) -> str:
    """The state a runner is told: a job whose cancel was asked for is canceled, even before that is stored."""
    if job.cancel_requested and job.status not in (SUCCESS, FAILED):
        return CANCELED
    return job.status


def _finish(session: Session, job_id: int, status: str, *, reason: str = "", exit_code: int | None = None,
            extra: ColumnElement[bool] | None = None) -> Job | None:
    """Move a running job to a final state, once: the stored log is completed and the pipeline told. None if the
    job was no longer running (someone else finished it first)."""
    stmt = update(Job).where(col(Job.id) == job_id, col(Job.status) == RUNNING)
    if extra is not None:
        stmt = stmt.where(extra)
    done = session.execute(
        stmt.values(status=status, failure_reason=reason, exit_code=exit_code, finished_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        return None
    job = session.get(Job, job_id, populate_existing=True)
    assert job is not None
    logs.flush_tail(session, job)
    job_hooks.job_finished(session, job)
    jobstate.on_job_finished(session, job)
    # Following jobs may have become pending, and the runner has a free slot.
    notify.after_commit(session, notify.job_key(job_id), notify.JOBS_PENDING)
    return job


def report_state(session: Session, job: Job, state: object, exit_code: object = None,
                 failure_reason: object = None) -> str:
    """Apply a runner's state report; the job's state afterwards. A final job is left as it is."""
    assert job.id is not None
    if state not in (RUNNING, SUCCESS, FAILED, CANCELED):
        raise InvalidInput(N_("The state must be running, success or failed."))
    if exit_code is not None and (isinstance(exit_code, bool) or not isinstance(exit_code, int)
                                  or not -(2**31) <= exit_code < 2**31):
        raise InvalidInput(N_("exit_code must be a whole number."))
    if job.cancel_requested and job.status == RUNNING:
        # The cancel wins over whatever the runner reports; end the job now if nobody did.
        _finish(session, job.id, CANCELED, reason="canceled", exit_code=exit_code if state != RUNNING else None)
        return CANCELED
    if job.status != RUNNING or state == RUNNING:
        return visible_state(job)
    if state == CANCELED:
        raise InvalidInput(N_("Only a job whose cancel was asked for can end canceled."))
    if state == SUCCESS:
        reason = ""
    else:
        reason = failure_reason if isinstance(failure_reason, str) and failure_reason else "script_failure"
        if reason not in FAILURE_REASONS:
            raise InvalidInput(N_("Unknown failure reason “%(reason)s”."), reason=reason[:40])
    finished = _finish(session, job.id, str(state), reason=reason, exit_code=exit_code)
    if finished is None:
        session.refresh(job)
        return visible_state(job)
    return finished.status


def current_state(engine: Engine, job_id: int) -> str:
    with session_scope(engine) as session:
        job = session.get(Job, job_id)
        return visible_state(job) if job is not None else CANCELED


async def watch(engine: Engine, job_id: int, wait: float) -> str:
    """The long poll that tells a runner of a cancel at once: the job's state as soon as it is not running, or
    after ``wait`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(0.0, min(wait, MAX_WAIT))
    with notify.hub.subscribe(notify.job_key(job_id)) as sub:
        while True:
            state = await anyio.to_thread.run_sync(current_state, engine, job_id)
            remaining = deadline - loop.time()
            if state != RUNNING or remaining <= 0:
                return state
            await sub.wait(min(POLL_INTERVAL, remaining))


def heartbeat(session: Session, runner: Runner, job_ids: object) -> list[int]:
    """The runner is alive and says which jobs it runs; those it should stop (canceled, finished by the server,
    or not its own) are returned."""
    if not isinstance(job_ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in job_ids):
        raise InvalidInput(N_("jobs must be a list of job ids."))
    assert runner.id is not None
    touch_runner(session, runner)
    listed = set(job_ids[:1000])
    stop: list[int] = []
    now = utcnow()
    for job_id in sorted(listed):
        job = session.get(Job, job_id) if tokens.valid_id(job_id) else None
        if job is None or job.runner_id != runner.id or job.status != RUNNING or job.cancel_requested:
            stop.append(job_id)
            continue
        _touch_job(session, job, now)
    # A canceled job the runner no longer runs has stopped: it ends now rather than when it would count as lost.
    dropped = session.execute(
        select(col(Job.id)).where(col(Job.runner_id) == runner.id, col(Job.status) == RUNNING,
                                  col(Job.cancel_requested).is_(True))
    ).scalars().all()
    for job_id in dropped:
        if job_id not in listed:
            _finish(session, job_id, CANCELED, reason="canceled")
    return stop


# --- jobs whose runner went away, or that ran too long -----------------------------------------------------


def _last_contact() -> Any:
    return func.coalesce(col(Job.last_contact_at), col(Job.started_at))


def reap_lost_jobs(engine: Engine, settings: Settings) -> list[int]:
    """Fail running jobs nobody has called about for FORGE_CI_RUNNER_LOST_AFTER seconds (reason runner_lost)."""
    cutoff = utcnow() - timedelta(seconds=settings.ci_runner_lost_after)
    with session_scope(engine) as session:
        ids = session.execute(
            select(col(Job.id)).where(col(Job.status) == RUNNING, _last_contact() < cutoff)
        ).scalars().all()
    failed = []
    for job_id in ids:
        with session_scope(engine) as session:
            # Checked again in the UPDATE: the runner may have called since the query above. A job whose cancel
            # was asked for ends canceled: its runner most likely stopped it and then went away.
            still = _last_contact() < cutoff
            if (_finish(session, job_id, CANCELED, reason="canceled", extra=and_(still, col(Job.cancel_requested)))
                    or _finish(session, job_id, FAILED, reason=RUNNER_LOST, extra=still)):
                failed.append(job_id)
    return failed


def reap_timed_out_jobs(engine: Engine, settings: Settings) -> list[int]:
    """Fail running jobs past their timeout plus a grace period (the runner should have ended them itself)."""
    now = utcnow()
    with session_scope(engine) as session:
        rows = session.execute(select(Job).where(col(Job.status) == RUNNING)).scalars().all()
        overdue = [
            job.id for job in rows
            if job.started_at is not None and job.id is not None
            and job.started_at + timedelta(seconds=job_timeout(job) + TIMEOUT_GRACE) < now
        ]
    failed = []
    for job_id in overdue:
        with session_scope(engine) as session:
            if _finish(session, job_id, FAILED, reason=JOB_TIMEOUT):
                failed.append(job_id)
    return failed


@periodic(10)
def reap(engine: Engine, settings: Settings) -> None:
    """Every 10 s in every worker; safe in several at once (each job is finished by one conditional UPDATE)."""
    reap_lost_jobs(engine, settings)
    reap_timed_out_jobs(engine, settings)
