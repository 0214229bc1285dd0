"""Creating pipelines and reading them back (docs/ci.md).

``create_pipeline`` reads the pipeline file at a commit, plans it and stores the pipeline with its jobs (or a
``config_error`` pipeline with the file's errors), then hands it to the state machine (``ci.jobstate``). What a
person does to an existing pipeline (cancel, retry, play) is in ``ci.job_actions``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from ci import config as ci_config
from ci import lifecycle, variables, webhook_events
from ci.config.spec import ConfigError, ConfigErrors
from ci.job_spec import stored_spec
from ci.jobstate import advance, latest_attempts, new_job_row, sync_commit_status
from ci.models import (
    CONFIG_ERROR,
    CREATED,
    Job,
    Pipeline,
)
from forge.accounts.models import Account
from forge.db.models_base import utcnow
from forge.errors import InvalidInput, NotFound
from forge.git import changes, trees
from forge.git.repository import CommitInfo, GitRepo
from forge.i18n import N_
from forge.issues.models import OPEN, Issue
from forge.permissions import Access, require_repo_access
from forge.pulls.models import PullRequest
from forge.repos import protection
from forge.repos.models import Repository
from forge.repos.services import RepoRef, get_repo_by_id, open_git
from forge.settings import Settings

CONFIG_FILES = (".forge-ci.yml", ".gitlab-ci.yml")
MAX_CONFIG_BYTES = 1024 * 1024
MAX_RUN_VARIABLES = 50
UNTRUSTED_WARNING = N_("This pipeline runs code from a fork: its jobs' environments and resource groups are "
                       "ignored, and it gets no CI/CD variables of the repository or organisation.")


@dataclass(frozen=True)
class ConfigFile:
    path: str
    text: str | None  # None: present but unreadable (too large, not a file, not UTF-8)
    problem: str = ""


@dataclass(frozen=True)
class Trigger:
    """Why a pipeline is made: a push event, a person's "Run pipeline", or pull request activity (a merge request
    pipeline: ``ref_kind`` "pull", ``ref_name`` the head branch, ``pull_id`` set; ``ci.merge_requests``)."""

    ref: RepoRef
    ref_name: str  # short name: "main", "v1.0"
    ref_kind: str  # branch / tag / pull
    sha: str
    source: str  # push / web / api / schedule / trigger / merge_request_event
    before_sha: str = ""
    push_event_id: int | None = None
    actor_id: int | None = None
    variables: dict[str, str] = field(default_factory=dict)  # given to "Run pipeline"; win over the file's
    changed_paths: tuple[str, ...] | None = None  # None: unknown, so every rules:changes matches
    pull_id: int | None = None  # the pull request of a merge request pipeline
    # More predefined variables (CI_MERGE_REQUEST_*): rules see them, the file's variables cannot replace them.
    predefined: dict[str, str] = field(default_factory=dict)
    # False for code from outside the repository (a pull request from a fork): its jobs get no environment (no
    # deployments, no stopping one) and no resource group (it cannot hold up the repository's deployments).
    trusted: bool = True


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


def include_reader(git: GitRepo, sha: str) -> ci_config.IncludeReader:
    """``include: local``: the text of a file of commit ``sha`` (None when missing, too large or not UTF-8)."""

    def read(path: str) -> str | None:
        data = git.read_blob_at(sha, path, MAX_CONFIG_BYTES)
        if data is None:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return None

    return read


def blob_id_reader(git: GitRepo, sha: str) -> Callable[[str], str | None]:
    """``cache:key:files``: the blob id of a file at commit ``sha`` (None when it is missing or a directory)."""
    commit = git.resolve_commit(sha)

    def blob_id(path: str) -> str | None:
        try:
            found = trees.read_file(git, trees.Location(sha, commit, path.strip("/"), "commit"), max_bytes=0)
        except NotFound:
            return None
        return found.sha

    return blob_id


def compare_reader(git: GitRepo, sha: str) -> Callable[[str], list[str] | None]:
    """``rules:changes:compare_to``: the paths changed on commit ``sha`` since it forked from ``ref`` (a branch,
    tag or commit; GitLab diffs from their merge base), None when ``ref`` names nothing. Past the diff limit every
    file of the commit counts as changed, as an unknown change list does."""

    def compare(ref: str) -> list[str] | None:
        try:
            other = git.resolve_commit(ref).sha
        except NotFound:
            return None
        base = changes.merge_base(git, other, sha) or other
        found = changes.changed_paths(git, base, sha)
        if found is None:
            return sorted(changes.file_paths(git, sha) or ())
        return list(found)

    return compare


def ref_protected(session: Session, ref: RepoRef, ref_name: str, ref_kind: str) -> bool:
    """Whether a pipeline runs for a protected ref (CI_COMMIT_REF_PROTECTED; protected variables and caches):
    a branch matched by a protection rule. Tags cannot be protected on this forge."""
    if ref_kind != "branch":
        return False
    return protection.matching_rule(protection.list_rules(session, ref), ref_name) is not None


def open_merge_requests(session: Session, ref: RepoRef, branch: str, limit: int = 4) -> str:
    """GitLab's CI_OPEN_MERGE_REQUESTS: up to four open pull requests whose head is ``branch`` of ``ref``, as
    "owner/repo!number" separated by commas ("" for none). Files test it to skip a branch pipeline when a merge
    request pipeline runs for the same commit (``if: $CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS`` → never)."""
    rows = session.exec(
        select(PullRequest.base_repo_id, Issue.number)
        .join(Issue, col(Issue.id) == PullRequest.issue_id)
        .where(PullRequest.head_repo_id == ref.repo.id, PullRequest.head_branch == branch, Issue.state == OPEN)
        .order_by(col(Issue.id)).limit(limit)
    ).all()
    names: list[str] = []
    for base_repo_id, number in rows:
        base = ref if base_repo_id == ref.repo.id else get_repo_by_id(session, base_repo_id)
        if base is not None:
            names.append(f"{base.full_name}!{number}")
    return ",".join(names)


def _config_errors(exc: ConfigErrors) -> list[dict[str, Any]]:
    return [{"line": e.line, "message": e.message} for e in exc.errors]


def _config_warnings(warnings: Iterable[ConfigError]) -> list[dict[str, Any]] | None:
    """The pipeline's ``config_warnings``: what of the file was left out or is probably not meant; None when
    nothing is (the pipeline page shows them)."""
    found = [{"line": w.line, "message": w.message} for w in warnings]
    return found or None


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
    created_at = utcnow()
    facts = variables.PipelineFacts(trigger.ref, trigger.ref_name, trigger.ref_kind, commit, trigger.before_sha,
                                    trigger.source, server_url,
                                    ref_protected(session, trigger.ref, trigger.ref_name, trigger.ref_kind),
                                    created_at)
    predefined = {**variables.pipeline_variables(facts), **trigger.predefined}
    if trigger.ref_kind == "branch":
        opened = open_merge_requests(session, trigger.ref, trigger.ref_name)
        if opened:
            predefined["CI_OPEN_MERGE_REQUESTS"] = opened
    errors: list[dict[str, Any]] | None = None
    warnings: list[dict[str, Any]] | None = None
    planned = None
    if found.text is None:
        errors = [{"line": None, "message": found.problem}]
    else:
        try:
            changed = list(trigger.changed_paths) if trigger.changed_paths is not None else None
            exists = exists_checker(git, trigger.sha)
            own = {**predefined, **trigger.variables}
            config = ci_config.load(found.text, found.path, include_reader(git, trigger.sha),
                                    ci_config.IncludeContext(own, exists, changed))
            warnings = _config_warnings(config.warnings)
            planned = ci_config.plan(config, own, changed, exists, blob_id_reader(git, trigger.sha),
                                     compare_reader(git, trigger.sha))
            warnings = _config_warnings((*config.warnings, *planned.warnings))
        except ConfigErrors as exc:
            errors = _config_errors(exc)
    if planned is not None and planned.skipped_by_workflow:
        return Outcome(None, "workflow")
    if planned is not None and not planned.jobs:
        return Outcome(None, "no_jobs")
    pipeline = _pipeline_row(trigger, commit, found.path)
    pipeline.created_at = created_at
    if not trigger.trusted and planned is not None and any(
            p.environment is not None or p.resource_group for p in planned.jobs):
        warnings = [*(warnings or []), {"line": None, "message": UNTRUSTED_WARNING}]
    pipeline.config_warnings = warnings
    if errors is not None:
        pipeline.status = CONFIG_ERROR
        pipeline.config_errors = errors
        pipeline.finished_at = pipeline.created_at
        session.add(pipeline)
        session.flush()
        sync_commit_status(session, pipeline)
        webhook_events.pipeline_changed(session, pipeline, CREATED)
        return Outcome(pipeline)
    assert planned is not None
    session.add(pipeline)
    session.flush()
    assert pipeline.id is not None
    jobs = [new_job_row(p, pipeline.id, pipeline.repo_id, " ".join(p.tags)) for p in planned.jobs]
    session.add_all(jobs)
    session.flush()
    project_path = trigger.ref.full_name
    for job, p in zip(jobs, planned.jobs, strict=True):
        job.spec = stored_spec(p, job, pipeline, server_url, project_path, predefined, trigger.variables)
        if not trigger.trusted:
            job.spec.update(environment=None, resource_group=None)
        # The columns the lifecycle and environments read without opening the spec (docs/ci.md, "Delivery").
        job.interruptible = p.interruptible
        job.resource_group = str(job.spec.get("resource_group") or "")[:255]
        environment = job.spec.get("environment")
        job.environment = str(environment["name"])[:255] if environment else ""
        session.add(job)
    session.flush()
    advance(session, pipeline)
    # A newer pipeline may make older ones on the same branch redundant (interruptible jobs; ci.lifecycle).
    lifecycle.cancel_redundant(session, pipeline)
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
        pull_id=trigger.pull_id,
        triggered_by_id=trigger.actor_id,
        status=CREATED,
        config_path=config_path,
        variables=dict(trigger.variables) or None,
        commit_title=commit.summary[:255],
    )


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
                 run_variables: dict[str, str], source: str = "web") -> Pipeline:
    """"Run pipeline" on branch or tag ``ref`` with extra variables, as ``actor`` who needs write access (also for
    ``source`` "schedule" and "trigger": the schedule's or token's owner). Raises InvalidInput when nothing would
    run (no pipeline file, workflow:rules, no job matches)."""
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
    trigger = Trigger(repo_ref, name, kind, commit.sha, source, actor_id=actor.id, variables=run_variables)
    outcome = create_pipeline(session, settings, git, trigger)
    if outcome.pipeline is None:
        messages = {
            "no_config": N_("There is no .forge-ci.yml or .gitlab-ci.yml at %(rev)s."),
            "workflow": N_("The pipeline file's workflow:rules do not allow a pipeline for %(rev)s."),
            "no_jobs": N_("No job of the pipeline file would run for %(rev)s."),
        }
        raise InvalidInput(messages[outcome.reason], rev=name)
    return outcome.pipeline


# --- reading ---------------------------------------------------------------------------------------------------


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


def filter_pipelines(session: Session, repo_id: int, offset: int, limit: int, *, ref: str = "", status: str = "",
                     source: str = "") -> tuple[list[Pipeline], int]:
    """A slice of a repository's pipelines, newest first, filtered by ref, status and source ("" for any), with
    how many match in all (the REST API's paged list)."""
    stmt = select(Pipeline).where(Pipeline.repo_id == repo_id)
    for column, value in ((Pipeline.ref, ref), (Pipeline.status, status), (Pipeline.source, source)):
        if value:
            stmt = stmt.where(column == value)
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    rows = session.exec(stmt.order_by(col(Pipeline.id).desc()).offset(offset).limit(limit))
    return list(rows), int(total)


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
