"""Pipelines and the job state machine (docs/ci.md, "Job states").

``create_pipeline`` reads the pipeline file at a commit, plans it and stores the pipeline with its jobs (or a
``config_error`` pipeline with the file's errors); ``advance`` is the one place jobs move from ``created`` to
``pending``/``manual``/``skipped`` and the pipeline's status is derived from its jobs. Everything that changes a
job (the dispatcher finishing it, cancel, retry, play) ends by calling ``advance``, which first locks the pipeline
row: two jobs finishing at once in two workers are then judged one after the other, so the later one always sees
the earlier one done and the next stage is never forgotten.

Only the latest attempt of each job name counts; a retry adds a row (``retry_of_id``) and keeps the old one.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select, update

from ci import config as ci_config
from ci import notify, statuses, variables
from ci.config.spec import ConfigErrors, PlannedJob
from ci.models import (
    ACTIVE_STATES,
    CANCELED,
    CONFIG_ERROR,
    CREATED,
    FAILED,
    MANUAL,
    PENDING,
    RUNNING,
    SKIPPED,
    SUCCESS,
    Job,
    Pipeline,
)
from forge.accounts.models import Account
from forge.db.models_base import utcnow
from forge.errors import InvalidInput, NotFound
from forge.git import changes
from forge.git.repository import CommitInfo, GitRepo
from forge.i18n import N_
from forge.permissions import Access, require_repo_access
from forge.repos.models import Repository
from forge.repos.services import RepoRef, get_repo_by_id, open_git
from forge.settings import Settings

CONFIG_FILES = (".forge-ci.yml", ".gitlab-ci.yml")
MAX_CONFIG_BYTES = 1024 * 1024
DEFAULT_TIMEOUT = 3600
GIT_DEPTH = 20
MAX_RUN_VARIABLES = 50
FINAL_PIPELINE_STATES = (SUCCESS, FAILED, CANCELED, SKIPPED, CONFIG_ERROR)
# Job states a user may retry (GitLab: a finished job, whatever its result, except skipped ones).
RETRYABLE = (SUCCESS, FAILED, CANCELED)


@dataclass(frozen=True)
class ConfigFile:
    path: str
    text: str | None  # None: present but unreadable (too large, not a file, not UTF-8)
    problem: str = ""


@dataclass(frozen=True)
class Trigger:
    """Why a pipeline is made: a push event or a person's "Run pipeline"."""

    ref: RepoRef
    ref_name: str  # short name: "main", "v1.0"
    ref_kind: str  # branch / tag
    sha: str
    source: str  # push / web / api
    before_sha: str = ""
    push_event_id: int | None = None
    actor_id: int | None = None
    variables: dict[str, str] = field(default_factory=dict)  # given to "Run pipeline"; win over the file's
    changed_paths: tuple[str, ...] | None = None  # None: unknown, so every rules:changes matches


@dataclass(frozen=True)
class Outcome:
    """A pipeline, or why none was made: "no_config", "workflow" (workflow:rules said no), "no_jobs"."""

    pipeline: Pipeline | None
    reason: str = ""


# --- reading and planning -------------------------------------------------------------------------------------


def read_config(git: GitRepo, sha: str) -> ConfigFile | None:
    """The pipeline file at commit ``sha``: ``.forge-ci.yml``, else ``.gitlab-ci.yml``; None when neither exists."""
    entries = {e.name: e for e in git.root_entries(sha)}
    for path in CONFIG_FILES:
        entry = entries.get(path)
        if entry is None:
            continue
        data = git.read_blob_at(sha, path, MAX_CONFIG_BYTES) if entry.kind == "blob" else None
        if data is None:
            return ConfigFile(path, None, N_("The file is not a regular file or is larger than 1 MiB."))
        try:
            return ConfigFile(path, data.decode("utf-8"))
        except UnicodeDecodeError:
            return ConfigFile(path, None, N_("The file is not valid UTF-8 text."))
    return None


def exists_checker(git: GitRepo, sha: str) -> Callable[[str], bool]:
    """``rules:exists``: whether any file of the commit matches a glob; the file list is read once, on first use."""
    listed: list[frozenset[str] | None] = []

    def exists(pattern: str) -> bool:
        if not listed:
            listed.append(changes.file_paths(git, sha))
        paths = listed[0]
        if paths is None:  # too many files to list: like GitLab past its limit, count it as present
            return True
        pattern = pattern.lstrip("/")
        return pattern in paths or any(ci_config.glob_matches(pattern, p) for p in paths)

    return exists


def _config_errors(exc: ConfigErrors) -> list[dict[str, Any]]:
    return [{"line": e.line, "message": e.message} for e in exc.errors]


# --- creating ------------------------------------------------------------------------------------------------


def create_pipeline(session: Session, settings: Settings, git: GitRepo, trigger: Trigger) -> Outcome:
    """Read, plan and store the pipeline ``trigger`` asks for (see ``Outcome`` for when there is none)."""
    commit = git.resolve_commit(trigger.sha)
    # An annotated tag's ref names the tag object: the pipeline (and its commit status) belongs to the commit.
    trigger = dataclasses.replace(trigger, sha=commit.sha)
    found = read_config(git, trigger.sha)
    if found is None:
        return Outcome(None, "no_config")
    server_url = settings.public_url()
    facts = variables.PipelineFacts(trigger.ref, trigger.ref_name, trigger.ref_kind, commit, trigger.before_sha,
                                    trigger.source, server_url)
    predefined = variables.pipeline_variables(facts)
    errors: list[dict[str, Any]] | None = None
    planned = None
    if found.text is None:
        errors = [{"line": None, "message": found.problem}]
    else:
        try:
            config = ci_config.load(found.text, found.path)
            changed = list(trigger.changed_paths) if trigger.changed_paths is not None else None
            planned = ci_config.plan(config, {**predefined, **trigger.variables}, changed,
                                     exists_checker(git, trigger.sha))
        except ConfigErrors as exc:
            errors = _config_errors(exc)
    if planned is not None and planned.skipped_by_workflow:
        return Outcome(None, "workflow")
    if planned is not None and not planned.jobs:
        return Outcome(None, "no_jobs")
    pipeline = _pipeline_row(trigger, commit, found.path)
    if errors is not None:
        pipeline.status = CONFIG_ERROR
        pipeline.config_errors = errors
        pipeline.finished_at = pipeline.created_at
        session.add(pipeline)
        session.flush()
        _sync_commit_status(session, pipeline)
        return Outcome(pipeline)
    assert planned is not None
    session.add(pipeline)
    session.flush()
    assert pipeline.id is not None
    jobs = [_created_job(p, pipeline.id, pipeline.repo_id, " ".join(p.tags)) for p in planned.jobs]
    session.add_all(jobs)
    session.flush()
    project_path = trigger.ref.full_name
    for job, p in zip(jobs, planned.jobs, strict=True):
        job.spec = _spec(p, job, pipeline, server_url, project_path, predefined, trigger.variables)
        session.add(job)
    session.flush()
    advance(session, pipeline)
    return Outcome(pipeline)


def _pipeline_row(trigger: Trigger, commit: CommitInfo, config_path: str) -> Pipeline:
    assert trigger.ref.repo.id is not None
    return Pipeline(
        repo_id=trigger.ref.repo.id,
        ref=trigger.ref_name,
        ref_kind=trigger.ref_kind,
        sha=trigger.sha,
        before_sha=trigger.before_sha,
        source=trigger.source,
        push_event_id=trigger.push_event_id,
        triggered_by_id=trigger.actor_id,
        status=CREATED,
        config_path=config_path,
        variables=dict(trigger.variables) or None,
        commit_title=commit.summary[:255],
    )


def _created_job(source: PlannedJob | Job, pipeline_id: int, repo_id: int, tags: str) -> Job:
    """A new ``created`` row for ``source``'s job (name, stage, when, allow_failure, needs): a planned job's first
    attempt or a retry of an earlier attempt."""
    return Job(
        pipeline_id=pipeline_id,
        repo_id=repo_id,
        name=source.name,
        stage=source.stage,
        stage_index=source.stage_index,
        status=CREATED,
        when=source.when,
        allow_failure=source.allow_failure,
        needs=list(source.needs) if source.needs is not None else None,
        tags=tags,
    )


def _spec(p: PlannedJob, job: Job, pipeline: Pipeline, server_url: str, project_path: str,
          predefined: dict[str, str], run_variables: dict[str, str]) -> dict[str, Any]:
    """The job payload's stored part (docs/ci.md, "Stored job spec"); the dispatcher adds the rest."""
    assert job.id is not None and pipeline.id is not None
    job_level = variables.job_variables(server_url, project_path, pipeline.id, job.id, job.name, job.stage)
    image = None
    if p.image is not None:
        image = {"name": p.image.name,
                 "entrypoint": list(p.image.entrypoint) if p.image.entrypoint is not None else None}
    return {
        "image": image,
        "before_script": list(p.before_script),
        "script": list(p.script),
        "after_script": list(p.after_script),
        # The pipeline's own variables win over the file's, as they did when its rules were evaluated.
        "variables": variables.variable_list(p.variables, predefined, job_level, run_variables),
        "timeout": p.timeout_seconds or DEFAULT_TIMEOUT,
        # The clone URL, sha and ref come from the pipeline and repository when the job is handed out, so a
        # repository renamed meanwhile is still found.
        "git_depth": GIT_DEPTH,
    }


def _require_write(session: Session, actor: Account | None, repo_id: int) -> RepoRef:
    ref = get_repo_by_id(session, repo_id)
    if ref is None:
        raise NotFound(N_("Repository not found."))
    require_repo_access(session, actor, ref.repo, Access.WRITE)
    return ref


def parse_run_variables(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The variables typed into "Run pipeline" (rows with an empty name are ignored); InvalidInput names a bad one."""
    result: dict[str, str] = {}
    for key, value in pairs:
        key = key.strip()
        if not key and not value:
            continue
        if not variables.valid_name(key):
            raise InvalidInput(N_("“%(name)s” is not a valid variable name: use letters, digits and _, not "
                                  "starting with a digit."), name=key)
        if len(value) > variables.MAX_VALUE:
            raise InvalidInput(N_("The value of %(name)s is too long."), name=key)
        result[key] = value
    if len(result) > MAX_RUN_VARIABLES:
        raise InvalidInput(N_("At most %(max)s variables can be given."), max=MAX_RUN_VARIABLES)
    return result


def run_pipeline(session: Session, settings: Settings, repo_ref: RepoRef, actor: Account, ref: str,
                 run_variables: dict[str, str]) -> Pipeline:
    """"Run pipeline" on branch or tag ``ref`` with extra variables; needs write access. Raises InvalidInput when
    nothing would run (no pipeline file, workflow:rules, no job matches)."""
    require_repo_access(session, actor, repo_ref.repo, Access.WRITE)
    git = open_git(settings.repos_dir, repo_ref)
    wanted = ref.strip()
    if not wanted:
        raise InvalidInput(N_("Choose a branch or tag to run the pipeline on."))
    if wanted.startswith(("refs/heads/", "refs/tags/")):
        candidates = [(wanted, "branch" if wanted.startswith("refs/heads/") else "tag")]
    else:
        candidates = [(f"refs/heads/{wanted}", "branch"), (f"refs/tags/{wanted}", "tag")]
    found = next(((full, kind, git.ref_target(full)) for full, kind in candidates if git.ref_target(full)), None)
    if found is None:
        raise NotFound(N_("“%(rev)s” is not a branch or tag of this repository."), rev=wanted)
    full, kind, sha = found
    assert sha is not None
    name = full.split("/", 2)[2]
    commit = git.resolve_commit(sha)  # a tag may point at an annotated tag object: run on its commit
    trigger = Trigger(repo_ref, name, kind, commit.sha, "web", actor_id=actor.id, variables=run_variables)
    outcome = create_pipeline(session, settings, git, trigger)
    if outcome.pipeline is None:
        messages = {
            "no_config": N_("There is no .forge-ci.yml or .gitlab-ci.yml at %(rev)s."),
            "workflow": N_("The pipeline file's workflow:rules do not allow a pipeline for %(rev)s."),
            "no_jobs": N_("No job of the pipeline file would run for %(rev)s."),
        }
        raise InvalidInput(messages[outcome.reason], rev=name)
    return outcome.pipeline


# --- the state machine ---------------------------------------------------------------------------------------


def latest_attempts(jobs: Iterable[Job]) -> list[Job]:
    """The newest attempt of each job name, in stage order and then in file order."""
    newest: dict[str, Job] = {}
    for job in jobs:
        current = newest.get(job.name)
        if current is None or (job.id or 0) > (current.id or 0):
            newest[job.name] = job
    first_id: dict[str, int] = {}
    for job in jobs:
        first_id[job.name] = min(first_id.get(job.name, job.id or 0), job.id or 0)
    return sorted(newest.values(), key=lambda j: (j.stage_index, first_id[j.name]))


def _prerequisites(job: Job, jobs: list[Job]) -> list[Job]:
    """The jobs ``job`` waits for: its ``needs`` (names not in the pipeline are left out, as GitLab's optional
    needs), or every job of the earlier stages."""
    if job.needs is not None:
        wanted = set(job.needs)
        return [j for j in jobs if j.name in wanted and j.name != job.name]
    return [j for j in jobs if j.stage_index < job.stage_index]


def _waiting(job: Job, prereqs: list[Job]) -> bool:
    if any(p.status in ACTIVE_STATES for p in prereqs):
        return True
    # A manual job that was not played does not hold up later stages (GitLab's default for when: manual), but a
    # job that names it in ``needs`` waits until it has been played and has finished.
    return job.needs is not None and any(p.status == MANUAL for p in prereqs)


def _decide(job: Job, prereqs: list[Job]) -> str:
    """What a created job whose prerequisites are done becomes (GitLab's ``when`` semantics)."""
    failed = any(p.status == FAILED and not p.allow_failure for p in prereqs)
    canceled = any(p.status == CANCELED for p in prereqs)
    # A needed job that was skipped (its own condition was false) leaves nothing to build on.
    blocked = job.needs is not None and any(p.status == SKIPPED for p in prereqs)
    if job.when == "always":
        return PENDING
    if job.when == "on_failure":
        return PENDING if failed else SKIPPED
    if failed or canceled or blocked:
        return SKIPPED
    return MANUAL if job.when == "manual" else PENDING


def pipeline_status(jobs: Iterable[Job]) -> str:
    """A pipeline's status from its jobs' latest attempts (GitLab's composite status): failures of
    ``allow_failure`` jobs count as success and manual jobs nobody played are left out."""
    latest = latest_attempts(jobs)
    states = [SUCCESS if j.status == FAILED and j.allow_failure else j.status for j in latest]
    counted = [s for s in states if s != MANUAL]
    # Queued counts as running (docs/ci.md): the dispatcher does not report a job's start to the pipeline, and a
    # pipeline shown "pending" while one of its jobs runs would be wrong; the job page says "waiting for a runner".
    if any(s in (RUNNING, PENDING) for s in counted):
        return RUNNING
    if any(s == CREATED for s in counted) or not counted:
        # Nothing can move until someone plays a manual job (only jobs that wait for one are left).
        return MANUAL
    if all(s == SKIPPED for s in counted):
        return SKIPPED
    if any(s == FAILED for s in counted):
        return FAILED
    if any(s == CANCELED for s in counted):
        return CANCELED
    return SUCCESS


def _lock_pipeline(session: Session, pipeline_id: int) -> Pipeline:
    # FOR UPDATE on PostgreSQL; SQLite has one writer at a time anyway (the caller has already written).
    stmt = select(Pipeline).where(Pipeline.id == pipeline_id).with_for_update().execution_options(
        populate_existing=True)
    return session.exec(stmt).one()


def _jobs_of(session: Session, pipeline_id: int) -> list[Job]:
    stmt = select(Job).where(Job.pipeline_id == pipeline_id).order_by(col(Job.id)).execution_options(
        populate_existing=True)
    return list(session.exec(stmt))


def advance(session: Session, pipeline: Pipeline) -> Pipeline:
    """Move every created job whose turn has come, then recompute the pipeline's status (and the commit's
    "ci/forge" status when it changed). Idempotent; call it after any job change."""
    pipeline_id = pipeline.id
    assert pipeline_id is not None
    pipeline = _lock_pipeline(session, pipeline_id)
    if pipeline.status == CONFIG_ERROR:
        return pipeline
    all_jobs = _jobs_of(session, pipeline_id)
    jobs = latest_attempts(all_jobs)
    now = utcnow()
    moved = True
    while moved:  # a job that becomes skipped or manual may release the next one at once
        moved = False
        for job in jobs:
            if job.status != CREATED:
                continue
            prereqs = _prerequisites(job, jobs)
            if _waiting(job, prereqs):
                continue
            job.status = _decide(job, prereqs)
            if job.status == PENDING:
                job.queued_at = now
            elif job.status == SKIPPED:
                job.finished_at = now
            session.add(job)
            moved = True
    status = pipeline_status(jobs)
    started = [j.started_at for j in all_jobs if j.started_at is not None]
    changed = status != pipeline.status
    pipeline.status = status
    pipeline.started_at = min(started) if started else None
    if status in FINAL_PIPELINE_STATES:
        finished = [j.finished_at for j in jobs if j.finished_at is not None]
        pipeline.finished_at = pipeline.finished_at or (max(finished) if finished else now)
    else:
        pipeline.finished_at = None
    session.add(pipeline)
    session.flush()
    if changed:
        _sync_commit_status(session, pipeline)
    return pipeline


_DESCRIPTIONS = {
    CREATED: "Pipeline created",
    PENDING: "Pipeline is waiting for a runner",
    RUNNING: "Pipeline is running",
    MANUAL: "Pipeline is waiting for a manual action",
    SUCCESS: "Pipeline passed",
    FAILED: "Pipeline failed",
    CANCELED: "Pipeline was canceled",
    SKIPPED: "Pipeline was skipped",
    CONFIG_ERROR: "The pipeline file has errors",
}


def _sync_commit_status(session: Session, pipeline: Pipeline) -> None:
    assert pipeline.id is not None
    # The link is built from pipeline_id where it is shown, so it stays right when the repository is renamed.
    description = f"#{pipeline.id}: {_DESCRIPTIONS.get(pipeline.status, pipeline.status)}"
    statuses.set_pipeline_status(session, pipeline.repo_id, pipeline.sha, pipeline.id, pipeline.status,
                                 description, "")


def on_job_finished(session: Session, job: Job) -> None:
    """Called by the dispatcher in the same transaction as a job reaching a final state: starts the jobs that
    waited for it and recomputes the pipeline's status and commit status."""
    session.flush()
    pipeline = session.get(Pipeline, job.pipeline_id)
    if pipeline is not None:
        advance(session, pipeline)


def on_job_started(session: Session, job: Job) -> None:
    """Optional for the dispatcher, after a claim: records the pipeline's start time at once (otherwise it is set
    when the first job finishes). The status needs no call: a queued job already counts as running."""
    on_job_finished(session, job)


# --- user actions --------------------------------------------------------------------------------------------


def get_pipeline(session: Session, repo: Repository, pipeline_id: int) -> Pipeline:
    pipeline = session.get(Pipeline, pipeline_id)
    if pipeline is None or pipeline.repo_id != repo.id:
        raise NotFound(N_("Pipeline #%(id)s does not exist in this repository."), id=pipeline_id)
    return pipeline


def get_job(session: Session, repo: Repository, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None or job.repo_id != repo.id:
        raise NotFound(N_("Job #%(id)s does not exist in this repository."), id=job_id)
    return job


def _cancel_rows(session: Session, job_ids: list[int]) -> None:
    """Cancel jobs by id: those not running yet at once, running ones by asking their runner (the dispatcher
    makes them ``canceled`` when the runner reports or is lost). Conditional updates, so a job a runner claims at
    this very moment is asked to stop rather than overwritten."""
    if not job_ids:
        return
    now = utcnow()
    session.exec(
        update(Job).where(col(Job.id).in_(job_ids), col(Job.status).in_([CREATED, PENDING, MANUAL]))
        .values(status=CANCELED, cancel_requested=True, failure_reason="canceled", finished_at=now)
    )
    session.exec(
        update(Job).where(col(Job.id).in_(job_ids), col(Job.status) == RUNNING).values(cancel_requested=True)
    )
    # Core updates are not seen by the session hooks of ci.notify: wake the runners' cancel watches ourselves.
    notify.after_commit(session, *(notify.job_key(i) for i in job_ids))


def cancel_job(session: Session, actor: Account | None, job: Job) -> Job:
    _require_write(session, actor, job.repo_id)
    if job.status not in (*ACTIVE_STATES, MANUAL):
        raise InvalidInput(N_("Job #%(id)s has already finished."), id=job.id)
    assert job.id is not None
    _cancel_rows(session, [job.id])
    pipeline = session.get(Pipeline, job.pipeline_id)
    assert pipeline is not None
    advance(session, pipeline)
    session.refresh(job)
    return job


def cancel_pipeline(session: Session, actor: Account | None, pipeline: Pipeline) -> Pipeline:
    _require_write(session, actor, pipeline.repo_id)
    assert pipeline.id is not None
    jobs = latest_attempts(_jobs_of(session, pipeline.id))
    active = sorted(j.id for j in jobs if j.id is not None and j.status in (*ACTIVE_STATES, MANUAL))
    if not active:
        raise InvalidInput(N_("Pipeline #%(id)s has nothing left to cancel."), id=pipeline.id)
    _cancel_rows(session, active)
    return advance(session, pipeline)


def play_job(session: Session, actor: Account | None, job: Job) -> Job:
    """Start a manual job."""
    _require_write(session, actor, job.repo_id)
    result = session.exec(
        update(Job).where(col(Job.id) == job.id, col(Job.status) == MANUAL).values(status=PENDING, queued_at=utcnow())
    )
    if result.rowcount != 1:
        raise InvalidInput(N_("Job #%(id)s is not waiting to be started by hand."), id=job.id)
    assert job.id is not None
    notify.after_commit(session, notify.job_key(job.id), notify.JOBS_PENDING)
    pipeline = session.get(Pipeline, job.pipeline_id)
    assert pipeline is not None
    advance(session, pipeline)
    session.refresh(job)
    return job


def _dependents(name: str, stage_index: int, jobs: list[Job]) -> set[str]:
    """Names of the jobs that wait, directly or through others, for job ``name``."""
    found: set[str] = set()
    frontier = [(name, stage_index)]
    while frontier:
        current, index = frontier.pop()
        for j in jobs:
            if j.name in found or j.name == name:
                continue
            waits = current in j.needs if j.needs is not None else j.stage_index > index
            if waits:
                found.add(j.name)
                frontier.append((j.name, j.stage_index))
    return found


def _retry_rows(session: Session, jobs: list[Job], targets: list[Job]) -> list[Job]:
    now = utcnow()
    new_jobs = []
    for old in targets:
        new = _created_job(old, old.pipeline_id, old.repo_id, old.tags)
        new.spec = copy.deepcopy(old.spec)
        new.retry_of_id = old.id
        session.add(new)
        new_jobs.append(new)
    session.flush()
    for old, new in zip(targets, new_jobs, strict=True):
        assert new.id is not None
        _renumber(new, old)
        # Asked for by a person: the job runs again once what it waits for is done, whatever its ``when`` said.
        replaced = [new if j.name == new.name else j for j in jobs]
        prereqs = _prerequisites(new, replaced)
        if not any(p.status in ACTIVE_STATES or p.name in {t.name for t in targets} for p in prereqs):
            new.status = PENDING
            new.queued_at = now
        session.add(new)
    # Jobs skipped because of what is now retried get their chance again (GitLab resets them to created).
    again: set[str] = set()
    for old in targets:
        again |= _dependents(old.name, old.stage_index, jobs)
    for j in jobs:
        if j.name in again and j.status == SKIPPED:
            j.status = CREATED
            j.finished_at = None
            session.add(j)
    session.flush()
    return new_jobs


def _renumber(new: Job, old: Job) -> None:
    """A retry is a new job: its CI_JOB_ID / CI_JOB_URL name the new row."""
    spec = dict(new.spec)
    values = []
    for v in spec.get("variables", []):
        v = dict(v)
        if v.get("key") == "CI_JOB_ID":
            v["value"] = str(new.id)
        elif v.get("key") == "CI_JOB_URL":
            v["value"] = str(v.get("value", "")).rsplit("/", 1)[0] + f"/{new.id}"
        values.append(v)
    spec["variables"] = values
    new.spec = spec


def retry_job(session: Session, actor: Account | None, job: Job) -> Job:
    """Run a finished job again as a new job (the old one stays, for its log)."""
    _require_write(session, actor, job.repo_id)
    pipeline = _lock_pipeline(session, job.pipeline_id)
    if pipeline.status == CONFIG_ERROR:
        raise InvalidInput(N_("This pipeline has no jobs to retry."))
    jobs = latest_attempts(_jobs_of(session, job.pipeline_id))
    latest = next(j for j in jobs if j.name == job.name)
    if latest.id != job.id:
        raise InvalidInput(N_("Job #%(id)s was already retried; retry its latest attempt."), id=job.id)
    if job.status not in RETRYABLE:
        raise InvalidInput(N_("Only finished jobs can be retried."))
    new = _retry_rows(session, jobs, [job])[0]
    advance(session, pipeline)
    session.refresh(new)
    return new


def retry_failed(session: Session, actor: Account | None, pipeline: Pipeline) -> list[Job]:
    """Retry every failed or canceled job of a pipeline (the latest attempts)."""
    _require_write(session, actor, pipeline.repo_id)
    pipeline_id = pipeline.id
    assert pipeline_id is not None
    pipeline = _lock_pipeline(session, pipeline_id)
    jobs = latest_attempts(_jobs_of(session, pipeline_id))
    targets = [j for j in jobs if j.status in (FAILED, CANCELED)]
    if not targets:
        raise InvalidInput(N_("Pipeline #%(id)s has no failed or canceled jobs to retry."), id=pipeline.id)
    new_jobs = _retry_rows(session, jobs, targets)
    advance(session, pipeline)
    return new_jobs


# --- reading for pages ---------------------------------------------------------------------------------------


def stages_of(jobs: Iterable[Job]) -> list[tuple[str, list[Job]]]:
    """(stage, its jobs' latest attempts) in stage order, for the pipeline graph."""
    columns: dict[tuple[int, str], list[Job]] = {}
    for job in latest_attempts(jobs):
        columns.setdefault((job.stage_index, job.stage), []).append(job)
    return [(stage, members) for (_, stage), members in sorted(columns.items())]


def list_pipelines(session: Session, repo_id: int, page: int, per_page: int,
                   ref: str = "") -> tuple[list[Pipeline], bool]:
    """One page of a repository's pipelines, newest first, and whether an older page exists."""
    stmt = select(Pipeline).where(Pipeline.repo_id == repo_id)
    if ref:
        stmt = stmt.where(Pipeline.ref == ref)
    rows = list(session.exec(stmt.order_by(col(Pipeline.id).desc()).offset((page - 1) * per_page)
                             .limit(per_page + 1)))
    return rows[:per_page], len(rows) > per_page


def pipelines_for_sha(session: Session, repo_id: int, sha: str, limit: int = 10) -> list[Pipeline]:
    stmt = (select(Pipeline).where(Pipeline.repo_id == repo_id, Pipeline.sha == sha)
            .order_by(col(Pipeline.id).desc()).limit(limit))
    return list(session.exec(stmt))


def jobs_of(session: Session, pipeline_id: int) -> list[Job]:
    stmt = select(Job).where(Job.pipeline_id == pipeline_id).order_by(col(Job.id))
    return list(session.exec(stmt))


def attempts_of(session: Session, job: Job) -> list[Job]:
    """Every attempt of ``job``'s name in its pipeline, oldest first."""
    stmt = (select(Job).where(Job.pipeline_id == job.pipeline_id, Job.name == job.name).order_by(col(Job.id)))
    return list(session.exec(stmt))
