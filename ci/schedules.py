"""Pipeline schedules (docs/ci.md, "Schedules and trigger tokens"): their life cycle, and the sweep that runs due
schedules exactly once across server workers. Cron expressions are read by ``ci.cron``.

Who may do what follows GitLab: anyone with write access creates a schedule and becomes its owner; pipelines run
as the owner, so only the owner edits it (someone else takes ownership first, which needs admin access — GitLab's
Maintainer); the owner or an admin deletes it; "Run now" runs it at once as the person who asks (write access).
A schedule whose owner is gone, blocked, lost write access or may not push to its protected branch does not run,
and its page says why.

Exactly once: every worker's sweep reads the due schedules, then claims each with one conditional UPDATE that moves
``next_run_at`` forward only if it still holds the value read; only the worker whose UPDATE changed the row makes
the pipeline, in the same transaction. The next run is computed from *now*, so a server that was down for hours
runs a schedule once, not once per missed slot (as GitLab does).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from ci import pipelines
from ci.background import periodic
from ci.cron import parse_cron
from ci.models import Pipeline
from ci.models.schedules import PipelineSchedule
from forge.accounts.models import Account
from forge.db.engine import session_scope
from forge.db.models_base import utcnow
from forge.errors import ForgeError, InvalidInput, NotFound, PermissionDenied
from forge.i18n import N_
from forge.permissions import Access, repo_access, require_repo_access
from forge.repos import protection
from forge.repos.models import Repository
from forge.repos.services import RepoRef, get_repo_by_id, open_git
from forge.settings import Settings

log = logging.getLogger("forge.ci")

MAX_PER_REPO = 50
MAX_DESCRIPTION = 255
DUE_BATCH = 50
DESCRIPTION_VARIABLE = "CI_PIPELINE_SCHEDULE_DESCRIPTION"


# --- the owner and who may do what ------------------------------------------------------------------------------


def run_as_problem(session: Session, user: Account | None, ref: RepoRef, ref_name: str) -> str:
    """Why ``user`` may not run a pipeline on ``ref_name`` for a schedule or trigger token: "gone", "blocked",
    "no_write" or "protected" (a protected branch they may not push to, GitLab's "allowed to merge"); "" if they may."""
    if user is None:
        return "gone"
    if user.is_blocked or not user.is_active:
        return "blocked"
    level = repo_access(session, user, ref.repo)
    if level < Access.WRITE:
        return "no_write"
    if not ref_name.startswith("refs/tags/"):
        branch = ref_name.removeprefix("refs/heads/")
        rule = protection.matching_rule(protection.list_rules(session, ref), branch)
        if rule is not None and not protection.may_push(session, user, level, rule):
            return "protected"
    return ""


_OWNER_PROBLEMS = {
    "gone": N_("The schedule's owner no longer exists. Someone with admin access must take ownership for it to run."),
    "blocked": N_("The schedule's owner %(user)s is blocked or disabled, so it does not run. Someone with admin "
                  "access must take ownership."),
    "no_write": N_("The schedule's owner %(user)s no longer has write access to this repository, so it does not run. "
                   "Someone with admin access must take ownership."),
    "protected": N_("Branch %(branch)s is protected and the schedule's owner %(user)s may not push to it, so it does "
                    "not run."),
}


def owner_problem(session: Session, schedule: PipelineSchedule, ref: RepoRef) -> ForgeError | None:
    """Why ``schedule`` would not run now because of its owner, or None."""
    owner = session.get(Account, schedule.owner_id) if schedule.owner_id is not None else None
    code = run_as_problem(session, owner, ref, schedule.ref)
    if not code:
        return None
    return PermissionDenied(_OWNER_PROBLEMS[code], user=owner.name if owner else "",
                            branch=schedule.ref.removeprefix("refs/heads/"))


def _require_actor_may_run(session: Session, actor: Account, ref: RepoRef, ref_name: str) -> None:
    require_repo_access(session, actor, ref.repo, Access.WRITE)
    if run_as_problem(session, actor, ref, ref_name) == "protected":
        raise PermissionDenied(N_("Branch %(branch)s is protected and you may not push to it, so you cannot run "
                                  "pipelines on it."), branch=ref_name.removeprefix("refs/heads/"))


def _require_owner(session: Session, actor: Account, ref: RepoRef, schedule: PipelineSchedule) -> None:
    require_repo_access(session, actor, ref.repo, Access.WRITE)
    if schedule.owner_id != actor.id:
        raise PermissionDenied(N_("Only the schedule's owner can change it, because its pipelines run as them. "
                                  "Take ownership first."))


# --- reading ---------------------------------------------------------------------------------------------------


def get_schedule(session: Session, repo: Repository, schedule_id: int) -> PipelineSchedule:
    schedule = session.get(PipelineSchedule, schedule_id) if 0 < schedule_id <= 2**31 - 1 else None
    if schedule is None or schedule.repo_id != repo.id:
        raise NotFound(N_("Schedule #%(id)s does not exist in this repository."), id=schedule_id)
    return schedule


@dataclass(frozen=True)
class ScheduleView:
    """One row of the schedules page."""

    schedule: PipelineSchedule
    owner: Account | None
    last_pipeline: Pipeline | None
    problem: ForgeError | None  # why it would not run now (its owner)
    last_error: ForgeError | None  # why its last due run made no pipeline

    @property
    def variables(self) -> list[tuple[str, str]]:
        return [(str(v["key"]), str(v["value"])) for v in self.schedule.variables or []]


def last_pipelines(session: Session, schedule_ids: Iterable[int]) -> dict[int, Pipeline]:
    """The newest pipeline of each schedule (its "last run"), in one query."""
    ids = list(schedule_ids)
    if not ids:
        return {}
    newest = (select(func.max(Pipeline.id)).where(col(Pipeline.schedule_id).in_(ids))
              .group_by(col(Pipeline.schedule_id)))
    rows = session.exec(select(Pipeline).where(col(Pipeline.id).in_(newest)))
    return {p.schedule_id: p for p in rows if p.schedule_id is not None}


def _view(session: Session, ref: RepoRef, schedule: PipelineSchedule, last: Pipeline | None) -> ScheduleView:
    owner = session.get(Account, schedule.owner_id) if schedule.owner_id is not None else None
    error = InvalidInput(schedule.last_error, **(schedule.last_error_params or {})) if schedule.last_error else None
    return ScheduleView(schedule, owner, last, owner_problem(session, schedule, ref), error)


def list_schedules(session: Session, ref: RepoRef) -> list[ScheduleView]:
    """A repository's schedules, oldest first, with what the page shows about each."""
    rows = list(session.exec(select(PipelineSchedule).where(PipelineSchedule.repo_id == ref.repo.id)
                             .order_by(col(PipelineSchedule.id))))
    last = last_pipelines(session, [s.id for s in rows if s.id is not None])
    return [_view(session, ref, s, last.get(s.id or 0)) for s in rows]


def view_of(session: Session, ref: RepoRef, schedule: PipelineSchedule) -> ScheduleView:
    assert schedule.id is not None
    return _view(session, ref, schedule, last_pipelines(session, [schedule.id]).get(schedule.id))


# --- changing ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleInput:
    """What the schedule form sends."""

    description: str
    cron: str
    timezone: str
    ref: str
    variables: list[tuple[str, str]]  # rows as typed; empty rows are ignored
    active: bool = True


def _ref_exists(settings: Settings, ref: RepoRef, name: str) -> bool:
    git = open_git(settings.repos_dir, ref)
    if name.startswith(("refs/heads/", "refs/tags/")):
        return git.ref_target(name) is not None
    return any(git.ref_target(f"{prefix}{name}") is not None for prefix in ("refs/heads/", "refs/tags/"))


def _apply(settings: Settings, ref: RepoRef, schedule: PipelineSchedule, data: ScheduleInput) -> None:
    """Check ``data`` and write it into ``schedule``; InvalidInput names the first problem."""
    description = data.description.strip()
    if not description:
        raise InvalidInput(N_("Give the schedule a description."))
    if len(description) > MAX_DESCRIPTION:
        raise InvalidInput(N_("The description is longer than %(max)s characters."), max=MAX_DESCRIPTION)
    cron = parse_cron(data.cron, data.timezone.strip())
    ref_name = data.ref.strip()
    if not ref_name:
        raise InvalidInput(N_("Choose the branch or tag the schedule runs on."))
    if len(ref_name) > 512 or not _ref_exists(settings, ref, ref_name):
        raise InvalidInput(N_("“%(rev)s” is not a branch or tag of this repository."), rev=ref_name)
    variables = pipelines.parse_run_variables(data.variables)
    schedule.description = description
    schedule.cron = cron.expression
    schedule.timezone = cron.timezone
    schedule.ref = ref_name
    schedule.variables = [{"key": k, "value": v} for k, v in variables.items()] or None
    schedule.active = data.active
    now = utcnow()
    # Counted from now: editing never makes a run of the past happen.
    schedule.next_run_at = cron.next_after(now) if data.active else None
    schedule.updated_at = now


def create_schedule(session: Session, settings: Settings, ref: RepoRef, actor: Account,
                    data: ScheduleInput) -> PipelineSchedule:
    """A new schedule owned by ``actor`` (who needs write access)."""
    _require_actor_may_run(session, actor, ref, data.ref.strip())
    count = session.exec(select(func.count()).select_from(PipelineSchedule)
                         .where(PipelineSchedule.repo_id == ref.repo.id)).one()
    if count >= MAX_PER_REPO:
        raise InvalidInput(N_("A repository can have at most %(max)s schedules; delete one you no longer need."),
                           max=MAX_PER_REPO)
    assert ref.repo.id is not None
    schedule = PipelineSchedule(repo_id=ref.repo.id, description="", cron="", ref="", owner_id=actor.id)
    _apply(settings, ref, schedule, data)
    session.add(schedule)
    session.flush()
    return schedule


def update_schedule(session: Session, settings: Settings, ref: RepoRef, actor: Account, schedule_id: int,
                    data: ScheduleInput) -> PipelineSchedule:
    """Change a schedule; only its owner may (pipelines run as them)."""
    schedule = get_schedule(session, ref.repo, schedule_id)
    _require_owner(session, actor, ref, schedule)
    _require_actor_may_run(session, actor, ref, data.ref.strip())
    _apply(settings, ref, schedule, data)
    session.add(schedule)
    return schedule


def delete_schedule(session: Session, ref: RepoRef, actor: Account, schedule_id: int) -> None:
    """Delete a schedule: its owner, or someone with admin access. Its pipelines stay."""
    schedule = get_schedule(session, ref.repo, schedule_id)
    level = require_repo_access(session, actor, ref.repo, Access.WRITE)
    if schedule.owner_id != actor.id and level < Access.ADMIN:
        raise PermissionDenied(N_("Only the schedule's owner or a repository admin can delete it."))
    session.delete(schedule)
    session.flush()


def take_ownership(session: Session, ref: RepoRef, actor: Account, schedule_id: int) -> PipelineSchedule:
    """Make ``actor`` the owner (admin access, GitLab's Maintainer): its pipelines run as them from now on."""
    schedule = get_schedule(session, ref.repo, schedule_id)
    level = require_repo_access(session, actor, ref.repo, Access.WRITE)
    if level < Access.ADMIN and schedule.owner_id != actor.id:
        raise PermissionDenied(N_("Only a repository admin can take ownership of someone else's schedule."))
    schedule.owner_id = actor.id
    schedule.updated_at = utcnow()
    if schedule.active and schedule.next_run_at is None:
        schedule.next_run_at = parse_cron(schedule.cron, schedule.timezone).next_after(utcnow())
    session.add(schedule)
    return schedule


def _run_variables(schedule: PipelineSchedule) -> dict[str, str]:
    values = {str(v["key"]): str(v["value"]) for v in schedule.variables or []}
    values[DESCRIPTION_VARIABLE] = schedule.description
    return values


def _create(session: Session, settings: Settings, ref: RepoRef, runner: Account,
            schedule: PipelineSchedule) -> Pipeline:
    try:
        pipeline = pipelines.run_pipeline(session, settings, ref, runner, schedule.ref, _run_variables(schedule),
                                          source="schedule")
    except NotFound as exc:  # the branch or tag was deleted since: a problem of the schedule, not a missing page
        raise InvalidInput(exc.message, **exc.params) from exc
    pipeline.schedule_id = schedule.id
    session.add(pipeline)
    session.flush()
    return pipeline


def run_now(session: Session, settings: Settings, ref: RepoRef, actor: Account, schedule_id: int) -> Pipeline:
    """"Run now": the schedule's pipeline at once, as ``actor`` (write access; GitLab runs it as the person who
    asks). Its timing does not change. InvalidInput/NotFound when nothing would run."""
    schedule = get_schedule(session, ref.repo, schedule_id)
    _require_actor_may_run(session, actor, ref, schedule.ref)
    pipeline = _create(session, settings, ref, actor, schedule)
    schedule.last_run_at = utcnow()
    schedule.last_error, schedule.last_error_params = "", None
    session.add(schedule)
    return pipeline


# --- the sweep -------------------------------------------------------------------------------------------------


def due(engine: Engine, now: datetime, limit: int = DUE_BATCH) -> list[tuple[int, datetime]]:
    """(id, next_run_at as read) of active schedules due at ``now``, the most overdue first."""
    with session_scope(engine) as session:
        stmt = (select(PipelineSchedule.id, PipelineSchedule.next_run_at)
                .where(col(PipelineSchedule.active).is_(True), col(PipelineSchedule.next_run_at) <= now)
                .order_by(col(PipelineSchedule.next_run_at)).limit(limit))
        return [(i, at) for i, at in session.exec(stmt) if i is not None and at is not None]


def _claim(session: Session, schedule_id: int, seen: datetime, values: dict[str, Any]) -> bool:
    """Move the schedule on if ``next_run_at`` still holds ``seen``; True for the one caller whose update did."""
    won = session.exec(
        update(PipelineSchedule)
        .where(col(PipelineSchedule.id) == schedule_id, col(PipelineSchedule.next_run_at) == seen,
               col(PipelineSchedule.active).is_(True))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(won.rowcount == 1)


def _next_values(schedule: PipelineSchedule, now: datetime) -> dict[str, Any]:
    try:
        upcoming = parse_cron(schedule.cron, schedule.timezone).next_after(now)
    except InvalidInput:  # stored before a tzdata update removed its zone: stop rather than fire every sweep
        upcoming = None
    return {"next_run_at": upcoming, "last_run_at": now}


def fire(engine: Engine, settings: Settings, schedule_id: int, seen: datetime,
         now: datetime | None = None) -> Pipeline | None:
    """Run one due schedule if this caller wins its claim: the pipeline it made, or None (another worker had it, or
    no pipeline could be made — the schedule's ``last_error`` says why)."""
    now = now or utcnow()
    try:
        with session_scope(engine) as session:
            schedule = session.get(PipelineSchedule, schedule_id)
            if schedule is None or schedule.next_run_at != seen:
                return None
            values = _next_values(schedule, now)
            if not _claim(session, schedule_id, seen, values):
                return None
            schedule = session.get(PipelineSchedule, schedule_id, populate_existing=True)
            ref = get_repo_by_id(session, schedule.repo_id) if schedule is not None else None
            if schedule is None or ref is None:
                return None
            return _run_claimed(session, settings, ref, schedule)
    except Exception:
        # Whatever broke rolled the claim back; claim again without a pipeline so it is not retried every sweep.
        log.exception("pipeline schedule %s could not run", schedule_id)
        with session_scope(engine) as session:
            schedule = session.get(PipelineSchedule, schedule_id)
            if schedule is not None:
                _claim(session, schedule_id, seen, {
                    **_next_values(schedule, now),
                    "last_error": N_("The pipeline could not be created because of an error on the server; it was "
                                     "logged."),
                    "last_error_params": None,
                })
        return None


def _run_claimed(session: Session, settings: Settings, ref: RepoRef, schedule: PipelineSchedule) -> Pipeline | None:
    problem = owner_problem(session, schedule, ref)
    pipeline: Pipeline | None = None
    if problem is not None:
        error: ForgeError | None = problem
    else:
        owner = session.get(Account, schedule.owner_id or 0)
        assert owner is not None
        try:
            pipeline = _create(session, settings, ref, owner, schedule)
            error = None
        except (InvalidInput, PermissionDenied) as exc:  # raised before anything was written
            error = exc
    schedule.last_error = error.message if error is not None else ""
    schedule.last_error_params = dict(error.params) if error is not None and error.params else None
    session.add(schedule)
    return pipeline


def run_due(engine: Engine, settings: Settings, now: datetime | None = None) -> list[int]:
    """Run every schedule due at ``now`` that this caller wins; the ids of the pipelines it made."""
    now = now or utcnow()
    made: list[int] = []
    for schedule_id, seen in due(engine, now):
        pipeline = fire(engine, settings, schedule_id, seen, now)
        if pipeline is not None and pipeline.id is not None:
            made.append(pipeline.id)
    return made


@periodic(5)
def sweep(engine: Engine, settings: Settings) -> None:
    run_due(engine, settings)
