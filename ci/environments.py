"""Environments and deployments (docs/ci.md, "Environments and deployments"), with GitLab's semantics.

A job whose spec has ``environment`` (``action: start``, the default) records a deployment when a runner takes it
(``running``) and finishes it with the job (``success``/``failed``/``canceled``); the environment is made on first
use. ``prepare``, ``verify`` and ``access`` jobs touch the environment but record no deployment. A successful
``action: stop`` job stops the environment. The environment's current deployment is its newest successful one.

People act through ``stop_environment`` (plays the ``on_stop`` job of the current deployment's pipeline, or stops
the environment at once when there is none, as GitLab does), ``redeploy`` (retries an earlier deployment's job —
GitLab's rollback: the new attempt's deployment becomes the newest, so the older commit is what is deployed) and
``delete_environment``. Pages read through ``list_environments``, ``deployments_page`` and ``job_page_facts``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select, update

from ci import job_actions
from ci.background import periodic
from ci.config.envnames import environment_slug, environment_tier
from ci.jobstate import fresh_jobs, latest_attempts
from ci.models import ACTIVE_STATES, CANCELED, FAILED, MANUAL, RUNNING, SKIPPED, SUCCESS, Job, Pipeline
from ci.models.environments import AVAILABLE, STOPPED, STOPPING, TIERS, Deployment, DeploymentCounter, Environment
from forge.accounts.models import Account
from forge.db.engine import session_scope
from forge.db.models_base import utcnow
from forge.errors import ForgeError, InvalidInput, NotFound
from forge.i18n import N_
from forge.permissions import Access, require_repo_access
from forge.repos.services import get_repo_by_id
from forge.settings import Settings

# Actions that record a deployment; the others only use the environment (GitLab: prepare, verify, access).
START = "start"
STOP = "stop"
NO_DEPLOYMENT_ACTIONS = ("prepare", "verify", "access")
FINAL_DEPLOYMENT_STATES = (SUCCESS, FAILED, CANCELED)

def _safe_url(url: object) -> str:
    """Only http(s) links are shown as the environment's button (a ``javascript:`` URL would run in our page)."""
    if not isinstance(url, str) or len(url) > 1024:
        return ""
    parts = urlsplit(url.strip())
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else ""


@dataclass(frozen=True)
class JobEnvironment:
    """The ``environment`` of a job's spec, with its defaults filled in."""

    name: str
    url: str = ""
    action: str = START
    on_stop: str = ""
    tier: str = ""
    auto_stop_in: int | None = None


def job_environment(job: Job) -> JobEnvironment | None:
    """What the job's spec says about its environment (None when it has none). The job column ``environment`` is
    the expanded name the pipeline code stored; the spec's name is the fallback."""
    raw = (job.spec or {}).get("environment")
    spec: dict[str, Any] = raw if isinstance(raw, dict) else {}
    name = (job.environment or str(spec.get("name") or "")).strip()
    if not name:
        return None
    action = str(spec.get("action") or START)
    tier = str(spec.get("deployment_tier") or "")
    auto_stop = spec.get("auto_stop_in")
    return JobEnvironment(
        name=name[:255],
        url=_safe_url(spec.get("url")),
        action=action,
        on_stop=str(spec.get("on_stop") or "")[:255],
        tier=tier if tier in TIERS else "",
        auto_stop_in=int(auto_stop) if isinstance(auto_stop, int | float) and not isinstance(auto_stop, bool)
        and auto_stop > 0 else None,
    )


# --- recording (dispatcher hooks) -----------------------------------------------------------------------------


def _insert_ignoring_conflict(session: Session, table: Any, values: dict[str, Any]) -> None:
    """INSERT that does nothing when a unique key already exists: two workers creating the same environment (or
    the same counter row) at once both go on, and neither transaction — the job claim — is rolled back."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(table).values(**values).on_conflict_do_nothing())


def _find_environment(session: Session, repo_id: int, name: str) -> Environment | None:
    stmt = select(Environment).where(Environment.repo_id == repo_id, Environment.name == name)
    return session.exec(stmt.execution_options(populate_existing=True)).first()


def ensure_environment(session: Session, repo_id: int, spec: JobEnvironment) -> Environment:
    """The repository's environment named ``spec.name``, made (available, tier guessed) when missing."""
    found = _find_environment(session, repo_id, spec.name)
    if found is None:
        now = utcnow()
        _insert_ignoring_conflict(session, Environment.__table__, {  # type: ignore[attr-defined]
            "repo_id": repo_id, "name": spec.name, "slug": environment_slug(spec.name), "external_url": spec.url,
            "tier": environment_tier(spec.name, spec.tier), "state": AVAILABLE, "auto_stop_at": None,
            "created_at": now, "updated_at": now,
        })
        found = _find_environment(session, repo_id, spec.name)
        assert found is not None
    return found


def _next_iid(session: Session, repo_id: int) -> int:
    """The repository's next deployment number. The UPDATE row-locks the counter until the transaction ends, so
    concurrent deployments of one repository are numbered one after the other."""
    _insert_ignoring_conflict(session, DeploymentCounter.__table__,  # type: ignore[attr-defined]
                              {"repo_id": repo_id, "last_iid": 0})
    session.execute(update(DeploymentCounter).where(col(DeploymentCounter.repo_id) == repo_id)
                    .values(last_iid=col(DeploymentCounter.last_iid) + 1))
    return session.execute(select(DeploymentCounter.last_iid)
                           .where(col(DeploymentCounter.repo_id) == repo_id)).scalar_one()


def deployment_of_job(session: Session, job_id: int) -> Deployment | None:
    return session.exec(select(Deployment).where(Deployment.job_id == job_id)).first()


def _create_deployment(session: Session, job: Job, spec: JobEnvironment, user_id: int | None,
                       redeploy_of_id: int | None = None) -> Deployment:
    environment = ensure_environment(session, job.repo_id, spec)
    pipeline = session.get(Pipeline, job.pipeline_id)
    assert pipeline is not None and environment.id is not None
    deployment = Deployment(
        repo_id=job.repo_id, environment_id=environment.id, iid=_next_iid(session, job.repo_id), job_id=job.id,
        pipeline_id=pipeline.id, sha=pipeline.sha, ref=pipeline.ref, ref_kind=pipeline.ref_kind,
        # Who asked for this deployment: given, else whoever played or retried the job, else the pipeline's user.
        user_id=next((u for u in (user_id, job.user_id, pipeline.triggered_by_id) if u is not None), None),
        on_stop=spec.on_stop,
        redeploy_of_id=redeploy_of_id,
    )
    session.add(deployment)
    session.flush()
    return deployment


def record_actor(session: Session, job: Job, actor: Account | None, redeploy_of_id: int | None = None) -> None:
    """Note who asked for ``job`` (played or retried it) when it deploys: its deployment is made now
    (``created``) with that person, and ``on_job_started`` only moves it to ``running``. Call it right after
    making or playing the job; a job without an environment (or not a ``start`` one) is left alone."""
    spec = job_environment(job)
    if spec is None or spec.action != START or job.id is None or deployment_of_job(session, job.id) is not None:
        return
    _create_deployment(session, job, spec, actor.id if actor is not None else None, redeploy_of_id)


def on_job_started(session: Session, job: Job) -> None:
    """A runner took ``job``: its deployment is ``running`` (made now unless ``record_actor`` made it)."""
    spec = job_environment(job)
    if spec is None or job.id is None:
        return
    if spec.action == STOP:
        environment = _find_environment(session, job.repo_id, spec.name)
        if environment is not None and environment.state == AVAILABLE:
            environment.state = STOPPING
            environment.updated_at = utcnow()
            session.add(environment)
        return
    if spec.action != START:
        ensure_environment(session, job.repo_id, spec)  # prepare / verify / access: no deployment
        return
    deployment = deployment_of_job(session, job.id) or _create_deployment(session, job, spec, None)
    deployment.status = RUNNING
    deployment.started_at = job.started_at or utcnow()
    session.add(deployment)


def on_job_finished(session: Session, job: Job) -> None:
    """``job`` ended: its deployment takes the job's result; a successful deployment makes the environment
    available (with the job's URL, tier and auto-stop time); a successful stop job stops it, a failed one leaves
    it available."""
    spec = job_environment(job)
    if spec is None or job.id is None:
        return
    now = utcnow()
    environment = _find_environment(session, job.repo_id, spec.name)
    if spec.action == STOP:
        if environment is None:
            return
        if job.status == SUCCESS:
            environment.state, environment.auto_stop_at = STOPPED, None
        elif environment.state == STOPPING:
            environment.state = AVAILABLE
        environment.updated_at = now
        session.add(environment)
        return
    if spec.action != START:
        return
    deployment = deployment_of_job(session, job.id)
    if deployment is None or job.status not in FINAL_DEPLOYMENT_STATES:
        return
    deployment.status = job.status
    deployment.finished_at = job.finished_at or now
    session.add(deployment)
    if job.status == SUCCESS and environment is not None:
        environment.state = AVAILABLE
        if spec.url:
            environment.external_url = spec.url
        if spec.tier:
            environment.tier = spec.tier
        if spec.auto_stop_in is not None:
            environment.auto_stop_at = now + timedelta(seconds=spec.auto_stop_in)
        environment.updated_at = now
        session.add(environment)


# --- actions --------------------------------------------------------------------------------------------------


def _require_write(session: Session, actor: Account | None, repo_id: int) -> None:
    ref = get_repo_by_id(session, repo_id)
    if ref is None:
        raise NotFound(N_("Repository not found."))
    require_repo_access(session, actor, ref.repo, Access.WRITE)


def get_environment(session: Session, repo_id: int, environment_id: int) -> Environment:
    environment = session.get(Environment, environment_id)
    if environment is None or environment.repo_id != repo_id:
        raise NotFound(N_("Environment not found."))
    return environment


def get_deployment(session: Session, environment: Environment, iid: int) -> Deployment:
    stmt = select(Deployment).where(Deployment.repo_id == environment.repo_id, Deployment.iid == iid,
                                    Deployment.environment_id == environment.id)
    deployment = session.exec(stmt).first()
    if deployment is None:
        raise NotFound(N_("Deployment not found."))
    return deployment


def current_deployment(session: Session, environment: Environment) -> Deployment | None:
    """What is deployed: the newest successful deployment."""
    stmt = (select(Deployment).where(Deployment.environment_id == environment.id, Deployment.status == SUCCESS)
            .order_by(col(Deployment.iid).desc()))
    return session.exec(stmt).first()


def _latest_attempt(session: Session, pipeline_id: int, name: str) -> Job | None:
    return next((j for j in latest_attempts(fresh_jobs(session, pipeline_id)) if j.name == name), None)


def redeploy(session: Session, actor: Account | None, environment: Environment, iid: int) -> Job:
    """Run deployment ``iid``'s job again (GitLab's "re-deploy" / rollback): a new attempt of that job in its own
    pipeline, so the same commit with the same spec is deployed, by ``actor``. When that job was retried since,
    its newest attempt (same pipeline, same commit) is the one run again."""
    _require_write(session, actor, environment.repo_id)
    deployment = get_deployment(session, environment, iid)
    if deployment.status != SUCCESS:
        raise InvalidInput(N_("Only a successful deployment can be deployed again."))
    old = session.get(Job, deployment.job_id) if deployment.job_id is not None else None
    if old is None:
        raise InvalidInput(N_("The job of deployment #%(iid)s no longer exists."), iid=iid)
    target = _latest_attempt(session, old.pipeline_id, old.name) or old
    if target.status in (*ACTIVE_STATES, MANUAL):
        raise InvalidInput(N_("Job “%(name)s” of that pipeline is already waiting or running."), name=target.name)
    new = job_actions.retry_job(session, actor, target)
    record_actor(session, new, actor, redeploy_of_id=deployment.id)
    return new


def stop_environment(session: Session, actor: Account | None, environment: Environment) -> Job | None:
    """Stop an environment: play (or run again) the ``on_stop`` job of its current deployment's pipeline and mark
    it ``stopping`` until that job succeeds; with no such job, stop it at once (GitLab). The job run, or None."""
    _require_write(session, actor, environment.repo_id)
    if environment.state == STOPPED:
        raise InvalidInput(N_("Environment “%(name)s” is already stopped."), name=environment.name)
    latest = current_deployment(session, environment)
    stop_job = None
    if latest is not None and latest.on_stop and latest.pipeline_id is not None:
        stop_job = _latest_attempt(session, latest.pipeline_id, latest.on_stop)
    started: Job | None = None
    if stop_job is not None:
        if stop_job.status == MANUAL:
            started = job_actions.play_job(session, actor, stop_job)
        elif stop_job.status in job_actions.RETRYABLE:
            started = job_actions.retry_job(session, actor, stop_job)
        elif stop_job.status == RUNNING:
            raise InvalidInput(N_("The stop job “%(name)s” is already running."), name=stop_job.name)
        elif stop_job.status in ACTIVE_STATES:
            raise InvalidInput(N_("The stop job “%(name)s” cannot start yet: it waits for earlier jobs of its "
                                  "pipeline."), name=stop_job.name)
        # A skipped stop job (its rules left it out) cannot run: stop the environment directly, as GitLab does.
    session.refresh(environment)
    environment.state = STOPPING if started is not None else STOPPED
    if started is None:
        environment.auto_stop_at = None
    environment.updated_at = utcnow()
    session.add(environment)
    session.flush()
    return started


def delete_environment(session: Session, actor: Account | None, environment: Environment) -> None:
    """Delete a stopped environment and its deployment history (GitLab only deletes stopped environments)."""
    _require_write(session, actor, environment.repo_id)
    if environment.state != STOPPED:
        raise InvalidInput(N_("Stop environment “%(name)s” before deleting it."), name=environment.name)
    for deployment in session.exec(select(Deployment).where(Deployment.environment_id == environment.id)):
        session.delete(deployment)
    session.flush()
    session.delete(environment)
    session.flush()


def auto_stop_due(session: Session, environment_id: int) -> None:
    """Stop one environment whose ``auto_stop_at`` has passed, as the person behind its current deployment (as
    GitLab does); when that person may no longer write to the repository, it is just marked stopped."""
    environment = session.get(Environment, environment_id)
    if environment is None or environment.state != AVAILABLE:
        return
    latest = current_deployment(session, environment)
    actor = session.get(Account, latest.user_id) if latest is not None and latest.user_id is not None else None
    try:
        stop_environment(session, actor, environment)
    except ForgeError:
        session.refresh(environment)
        environment.state, environment.auto_stop_at, environment.updated_at = STOPPED, None, utcnow()
        session.add(environment)


@periodic(60)
def auto_stop(engine: Engine, settings: Settings) -> None:
    """Stop environments past their ``auto_stop_in`` time. Each is claimed by clearing its ``auto_stop_at`` with
    a conditional UPDATE, so with several workers exactly one stops it."""
    with session_scope(engine) as session:
        now = utcnow()
        stmt = select(Environment.id).where(col(Environment.state) == AVAILABLE, col(Environment.auto_stop_at) <= now)
        due = [i for i in session.exec(stmt.limit(100)) if i is not None]
    for environment_id in due:
        with session_scope(engine) as session:
            won = session.execute(update(Environment).where(col(Environment.id) == environment_id,
                                                            col(Environment.auto_stop_at) <= now)
                                  .values(auto_stop_at=None))
            if won.rowcount == 1:  # type: ignore[attr-defined]
                auto_stop_due(session, environment_id)


# --- reading --------------------------------------------------------------------------------------------------


@dataclass
class EnvironmentRow:
    environment: Environment
    latest: Deployment | None  # the newest deployment, whatever its status
    job: Job | None  # the latest deployment's job
    user: Account | None
    status: str = ""  # the latest deployment's status as shown (``effective_status``)


@dataclass
class Folder:
    """Environments named ``<folder>/<name>`` listed together (GitLab's environment folders: review apps)."""

    name: str
    rows: list[EnvironmentRow] = field(default_factory=list)


def effective_status(deployment: Deployment, job: Job | None) -> str:
    """A deployment whose job ended without ever running (canceled or skipped while waiting) shows the job's
    end rather than "created" forever."""
    if deployment.status == "created" and job is not None and job.status in (CANCELED, SKIPPED):
        return CANCELED
    return deployment.status


def _accounts(session: Session, ids: set[int | None]) -> dict[int, Account]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {a.id: a for a in session.exec(select(Account).where(col(Account.id).in_(wanted))) if a.id is not None}


def _jobs(session: Session, ids: set[int | None]) -> dict[int, Job]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {j.id: j for j in session.exec(select(Job).where(col(Job.id).in_(wanted))) if j.id is not None}


@dataclass
class EnvironmentList:
    items: list[EnvironmentRow | Folder]
    counts: dict[str, int]  # {"available": n, "stopped": m}
    has_more: bool


def list_environments(session: Session, repo_id: int, stopped: bool, page: int = 1,
                      per_page: int = 50) -> EnvironmentList:
    """One page of the repository's available (or stopped) environments by name, ``review/*``-like names grouped
    in folders, each with its newest deployment; and the count of each scope."""
    counts: dict[str, int] = {state: number for state, number in session.execute(
        select(Environment.state, func.count()).where(Environment.repo_id == repo_id)
        .group_by(col(Environment.state)))}
    scope_counts = {"available": counts.get(AVAILABLE, 0) + counts.get(STOPPING, 0),
                    "stopped": counts.get(STOPPED, 0)}
    states = [STOPPED] if stopped else [AVAILABLE, STOPPING]
    environments = list(session.exec(select(Environment).where(Environment.repo_id == repo_id,
                                                               col(Environment.state).in_(states))
                                     .order_by(col(Environment.name)).offset((page - 1) * per_page)
                                     .limit(per_page + 1)))
    has_more = len(environments) > per_page
    environments = environments[:per_page]
    newest_ids = select(func.max(Deployment.id)).where(
        col(Deployment.environment_id).in_([e.id for e in environments])).group_by(col(Deployment.environment_id))
    newest = {d.environment_id: d for d in session.exec(select(Deployment).where(col(Deployment.id).in_(newest_ids)))}
    jobs = _jobs(session, {d.job_id for d in newest.values()})
    users = _accounts(session, {d.user_id for d in newest.values()})
    items: list[EnvironmentRow | Folder] = []
    folders: dict[str, Folder] = {}
    for environment in environments:
        latest = newest.get(environment.id or 0)
        job = jobs.get(latest.job_id or 0) if latest else None
        row = EnvironmentRow(environment, latest, job, users.get(latest.user_id or 0) if latest else None,
                             effective_status(latest, job) if latest else "")
        folder_name, slash, _ = environment.name.partition("/")
        if not slash:
            items.append(row)
            continue
        if folder_name not in folders:
            folders[folder_name] = Folder(folder_name)
            items.append(folders[folder_name])
        folders[folder_name].rows.append(row)
    return EnvironmentList(items, scope_counts, has_more)


@dataclass
class DeploymentRow:
    deployment: Deployment
    status: str
    job: Job | None
    user: Account | None
    redeploy_of_iid: int | None


def deployments_page(session: Session, environment: Environment, page: int, per_page: int
                     ) -> tuple[list[DeploymentRow], bool]:
    """One page of the environment's deployments, newest first; and whether older ones exist."""
    stmt = (select(Deployment).where(Deployment.environment_id == environment.id)
            .order_by(col(Deployment.iid).desc()).offset((page - 1) * per_page).limit(per_page + 1))
    rows = list(session.exec(stmt))
    has_older = len(rows) > per_page
    rows = rows[:per_page]
    jobs = _jobs(session, {d.job_id for d in rows})
    users = _accounts(session, {d.user_id for d in rows})
    sources = {d.id: d.iid for d in session.exec(select(Deployment).where(
        col(Deployment.id).in_({d.redeploy_of_id for d in rows if d.redeploy_of_id is not None})))}
    return [DeploymentRow(d, effective_status(d, jobs.get(d.job_id or 0)), jobs.get(d.job_id or 0),
                          users.get(d.user_id or 0), sources.get(d.redeploy_of_id or 0)) for d in rows], has_older


def stop_job_of(session: Session, environment: Environment) -> Job | None:
    """The job the Stop button would run (None: the environment is simply marked stopped)."""
    latest = current_deployment(session, environment)
    if latest is None or not latest.on_stop or latest.pipeline_id is None:
        return None
    return _latest_attempt(session, latest.pipeline_id, latest.on_stop)


def job_page_facts(session: Session, job: Job) -> dict[str, Any]:
    """The job page's environment block (``ci/job_environment.html``): ``env_block`` is None for jobs without an
    environment."""
    spec = job_environment(job)
    if spec is None:
        return {"env_block": None}
    environment = _find_environment(session, job.repo_id, spec.name)
    deployment = deployment_of_job(session, job.id) if job.id is not None else None
    return {"env_block": {
        "name": spec.name, "action": spec.action, "environment": environment,
        "url": spec.url or (environment.external_url if environment is not None else ""),
        "deployment": deployment,
        "deployment_status": effective_status(deployment, job) if deployment is not None else "",
    }}
