"""Managing runners: who sees and manages which runners, their online state and current jobs, pause, resume and
delete.

Site administrators manage every runner (``scope`` None); an organisation's owners its organisation runners; a
repository's administrators its repository runners. A runner outside the caller's scope is "not found".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session, col, select

from ci import notify, tokens
from ci.models import RUNNING, Job, Runner
from ci.tokens import Scope
from forge.accounts.models import Account, AccountKind
from forge.db.models_base import utcnow
from forge.errors import NotFound, PermissionDenied
from forge.i18n import N_
from forge.repos.models import Repository
from forge.repos.services import get_repo_by_id

# A runner that called within this many seconds is shown as online (it calls at least every 30 s when idle).
ONLINE_SECONDS = 60


@dataclass(frozen=True)
class RunningJob:
    id: int
    name: str
    repo_full_name: str


@dataclass(frozen=True)
class RunnerView:
    runner: Runner
    online: bool
    where: str  # "" for instance runners, the organisation's name, or the repository's owner/name
    jobs: list[RunningJob]

    @property
    def labels(self) -> list[str]:
        return self.runner.labels.split()


def _where(session: Session, runner: Runner) -> str:
    if runner.scope == tokens.ORG and runner.owner_id is not None:
        org = session.get(Account, runner.owner_id)
        return org.name if org is not None else ""
    if runner.scope == tokens.REPO and runner.repo_id is not None:
        ref = get_repo_by_id(session, runner.repo_id)
        return ref.full_name if ref is not None else ""
    return ""


def _views(session: Session, runners: list[Runner]) -> list[RunnerView]:
    ids = [r.id for r in runners]
    running = session.exec(
        select(Job).where(col(Job.runner_id).in_(ids), col(Job.status) == RUNNING).order_by(col(Job.id))
    ).all() if ids else []
    names: dict[int, str] = {}
    by_runner: dict[int, list[RunningJob]] = {}
    for job in running:
        if job.repo_id not in names:
            ref = get_repo_by_id(session, job.repo_id)
            names[job.repo_id] = ref.full_name if ref is not None else ""
        assert job.id is not None and job.runner_id is not None
        by_runner.setdefault(job.runner_id, []).append(RunningJob(job.id, job.name, names[job.repo_id]))
    cutoff = utcnow() - timedelta(seconds=ONLINE_SECONDS)
    return [
        RunnerView(
            runner=r,
            online=r.last_seen_at is not None and r.last_seen_at >= cutoff,
            where=_where(session, r),
            jobs=by_runner.get(r.id or 0, []),
        )
        for r in runners
    ]


def _scoped(scope: Scope | None):  # type: ignore[no-untyped-def]
    stmt = select(Runner)
    if scope is not None:
        stmt = stmt.where(Runner.scope == scope.kind)
        if scope.kind == tokens.ORG:
            stmt = stmt.where(Runner.owner_id == scope.owner_id)
        elif scope.kind == tokens.REPO:
            stmt = stmt.where(Runner.repo_id == scope.repo_id)
    return stmt


def _require(session: Session, actor: Account | None, scope: Scope | None) -> None:
    if scope is None:
        if actor is None or not actor.is_admin:
            raise PermissionDenied(N_("Only site administrators can see this page."))
        return
    tokens.require_administer(session, actor, scope)


def list_runners(session: Session, actor: Account | None, scope: Scope | None) -> list[RunnerView]:
    """The runners of ``scope`` (every runner when None: site administrators only), newest first."""
    _require(session, actor, scope)
    runners = list(session.exec(_scoped(scope).order_by(col(Runner.id).desc())))
    return _views(session, runners)


def shared_runners(session: Session, repo: Repository) -> list[RunnerView]:
    """Runners of the instance and of the repository's organisation, which also take this repository's jobs."""
    owner = session.get(Account, repo.owner_id)
    stmt = select(Runner).where(Runner.scope == tokens.INSTANCE)
    runners = list(session.exec(stmt.order_by(col(Runner.id))))
    if owner is not None and owner.kind == AccountKind.ORG:
        runners += list(session.exec(_scoped(Scope.org(owner)).order_by(col(Runner.id))))
    return _views(session, runners)


def get_runner(session: Session, actor: Account | None, scope: Scope | None, runner_id: int) -> Runner:
    _require(session, actor, scope)
    runner = session.get(Runner, runner_id) if tokens.valid_id(runner_id) else None
    if runner is None or (scope is not None and not scope.matches(runner)):
        raise NotFound(N_("Runner #%(id)s does not exist here."), id=runner_id)
    return runner


def runner_view(session: Session, actor: Account | None, scope: Scope | None, runner_id: int) -> RunnerView:
    """One runner with its online state, as the lists show it."""
    return _views(session, [get_runner(session, actor, scope, runner_id)])[0]


def set_active(session: Session, actor: Account | None, scope: Scope | None, runner_id: int,
               active: bool) -> Runner:
    """Pause (no new jobs; running ones finish) or resume a runner."""
    runner = get_runner(session, actor, scope, runner_id)
    runner.is_active = active
    session.add(runner)
    if active:
        notify.after_commit(session, notify.JOBS_PENDING)
    return runner


def delete_runner(session: Session, actor: Account | None, scope: Scope | None, runner_id: int) -> Runner:
    """Delete a runner: its token stops working at once. Jobs it is running keep their job tokens, so they can
    still finish; if the runner is gone for good they fail as "runner lost"."""
    runner = get_runner(session, actor, scope, runner_id)
    session.delete(runner)
    return runner
