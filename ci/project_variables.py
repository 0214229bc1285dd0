"""CI/CD variables of repositories and organisations: managing them, and giving them to jobs.

GitLab's semantics (docs.gitlab.com/ci/variables):

* **Masked** values are replaced by ``[MASKED]`` in job logs (by the runner, and again by the server when it
  stores the log). Only values that can be found reliably in a log may be masked: at least 8 characters, one line,
  no spaces, and — unless the variable is *raw* — only the Base64 alphabet plus ``@ : . ~ - _ / + =`` (GitLab's
  ``Ci::Maskable::REGEX``; a raw masked value may hold any non-blank characters, ``MASK_AND_RAW_REGEX``).
* **Protected** variables are given only to pipelines of protected branches (``forge.repos.protection``); the
  forge has no protected tags, so a tag pipeline never gets them.
* **File** variables reach the job as the path of a file holding the value (the runner writes it).
* **Raw** variables are given as written; other values have ``$NAME`` / ``${NAME}`` references expanded
  against the job's variables when a runner takes the job, like GitLab's server does (``$$`` is a ``$``).
* **Environment scope** (``*`` by default) limits a variable to jobs whose ``environment`` matches; ``*`` is a
  wildcard. A job without an environment only gets ``*`` variables. When one key has several matching scopes at
  the same level, the most specific one wins (an exact name, then the longest pattern, then ``*``).

Precedence, highest first (GitLab's): variables given to "Run pipeline", a schedule or a trigger > repository
variables > organisation variables > the file's job variables > the file's global variables > predefined
variables. ``CI_JOB_TOKEN`` can never be replaced.

Values are stored sealed by ``ci.secret_box``; a page never shows a value after saving except when the repository
or organisation owner (or a site administrator) asks to reveal one, which is logged.

Forks: a pipeline gets the variables of the repository it runs in (and of that repository's organisation), never
those of the repository it was forked from: nothing here follows ``fork_of_id``. :func:`receives_secrets` is the
one place that decides whether a pipeline gets any at all (see there for merge-request pipelines from forks).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, col, select

from ci import secret_box
from ci.config.expand import REFERENCE_RE, VariableLoop, expand_all, substitute
from ci.models import Job, Pipeline
from ci.models.variables import CiVariable, JobSecrets
from ci.variables import JOB_TOKEN_KEY, MAX_VALUE, MERGE_REQUEST_SOURCE, valid_name
from forge.accounts import orgs
from forge.accounts.models import Account, AccountKind
from forge.db.models_base import utcnow
from forge.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from forge.i18n import N_
from forge.permissions import Access, repo_access, require_repo_access
from forge.pulls.models import PullRequest
from forge.repos.protection import list_rules, matching_rule
from forge.repos.services import RepoRef, get_repo_by_id

log = logging.getLogger("forge.ci")

MIN_MASKED = 8
MAX_DESCRIPTION = 255
MAX_SCOPE = 255
MAX_VARIABLES = 200  # per repository or organisation
# GitLab's Ci::Maskable::REGEX (expanded values) and MASK_AND_RAW_REGEX (raw values).
_MASKABLE = re.compile(r"[A-Za-z0-9_+=/@:.~-]+")
_BLANK = re.compile(r"[ \t\r\n\f\v]")
# Pipelines of these sources run the repository's own code, pushed or started by people with write access.
TRUSTED_SOURCES = frozenset({"push", "web", "schedule", "trigger", "api"})


# --- where variables live ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """A repository's or an organisation's variables."""

    repo: RepoRef | None = None
    org: Account | None = None

    @classmethod
    def of_repo(cls, ref: RepoRef) -> Place:
        return cls(repo=ref)

    @classmethod
    def of_org(cls, org: Account) -> Place:
        if org.kind != AccountKind.ORG:
            raise NotFound(N_("Organisation not found."))
        return cls(org=org)

    @property
    def name(self) -> str:
        if self.repo is not None:
            return self.repo.full_name
        assert self.org is not None
        return self.org.name

    def where(self) -> Any:
        if self.repo is not None:
            return col(CiVariable.repo_id) == self.repo.repo.id
        assert self.org is not None
        return col(CiVariable.owner_id) == self.org.id


def require_manage(session: Session, actor: Account | None, place: Place) -> None:
    """Repository variables: repository admins; organisation variables: its owners (site admins always)."""
    if place.repo is not None:
        require_repo_access(session, actor, place.repo.repo, Access.ADMIN)
    else:
        assert place.org is not None
        orgs.require_owner(session, place.org, actor)


def may_reveal(session: Session, actor: Account | None, place: Place) -> bool:
    """Seeing a saved value again: the repository's owner (the owning user, owners of the owning organisation)
    or the organisation's owners, and site administrators. Repository admins may replace a value, not read it."""
    if actor is None:
        return False
    if place.repo is not None:
        return repo_access(session, actor, place.repo.repo) >= Access.OWNER
    assert place.org is not None
    return orgs.is_owner(session, place.org, actor)


# --- checking what people type -------------------------------------------------------------------------------


@dataclass(frozen=True)
class VariableInput:
    """A variable as typed into the form. ``value`` None keeps the stored value (editing)."""

    key: str
    value: str | None
    description: str = ""
    masked: bool = False
    protected: bool = False
    is_file: bool = False
    raw: bool = False
    environment_scope: str = "*"


def check_key(key: str) -> str:
    key = key.strip()
    if not key:
        raise InvalidInput(N_("Give the variable a key."))
    if not valid_name(key):
        raise InvalidInput(N_("“%(name)s” is not a valid key: use letters, digits and _, not starting with a digit "
                              "(at most 255 characters)."), name=key[:80])
    if key == JOB_TOKEN_KEY:
        raise InvalidInput(N_("%(name)s is set by the forge for every job and cannot be replaced."), name=key)
    return key


def check_maskable(value: str, raw: bool) -> None:
    """Refuse a value the log masking could not find reliably (GitLab's rules, with a reason)."""
    if _BLANK.search(value):
        raise InvalidInput(N_("A masked value must be a single line without spaces."))
    if len(value) < MIN_MASKED:
        raise InvalidInput(N_("A masked value must have at least %(min)s characters."), min=MIN_MASKED)
    if not raw and not _MASKABLE.fullmatch(value):
        bad = "".join(sorted({c for c in value if not _MASKABLE.fullmatch(c)}))
        raise InvalidInput(N_("This value cannot be masked because it contains %(chars)s. Masked values may only "
                              "use letters, digits and @ : . ~ - _ / + = — or mark the variable raw (not "
                              "expanded) to mask any characters except spaces."), chars=bad[:20])


def check_scope(scope: str) -> str:
    scope = scope.strip() or "*"
    if len(scope) > MAX_SCOPE or any(ord(c) < 32 for c in scope):
        raise InvalidInput(N_("The environment scope must be an environment name or a pattern with * (at most "
                              "%(max)s characters)."), max=MAX_SCOPE)
    return scope


def _check(data: VariableInput, value: str) -> VariableInput:
    if len(value) > MAX_VALUE:
        raise InvalidInput(N_("The value is too long: at most %(max)s characters."), max=MAX_VALUE)
    if len(data.description) > MAX_DESCRIPTION:
        raise InvalidInput(N_("The description is too long: at most %(max)s characters."), max=MAX_DESCRIPTION)
    if data.masked:
        check_maskable(value, data.raw)
    return VariableInput(check_key(data.key), value, data.description.strip(), data.masked, data.protected,
                         data.is_file, data.raw, check_scope(data.environment_scope))


# --- managing ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VariableRow:
    """One line of a variables page; ``readable`` is False when the value can no longer be decrypted."""

    variable: CiVariable
    readable: bool


def list_variables(session: Session, actor: Account | None, place: Place) -> list[VariableRow]:
    require_manage(session, actor, place)
    rows = session.exec(
        select(CiVariable).where(place.where())
        .order_by(col(CiVariable.key), col(CiVariable.environment_scope), col(CiVariable.id))
    ).all()
    if not rows:
        return []
    box = secret_box.for_session(session)
    return [VariableRow(v, box.can_open(v.value_sealed)) for v in rows]


def get_variable(session: Session, actor: Account | None, place: Place, variable_id: int) -> CiVariable:
    require_manage(session, actor, place)
    variable = session.get(CiVariable, variable_id)
    if variable is None or not _belongs(variable, place):
        raise NotFound(N_("That variable was not found."))
    return variable


def _belongs(variable: CiVariable, place: Place) -> bool:
    if place.repo is not None:
        return variable.repo_id == place.repo.repo.id and variable.owner_id is None
    assert place.org is not None
    return variable.owner_id == place.org.id and variable.repo_id is None


def _same_key(session: Session, place: Place, key: str, scope: str, other_than: int | None) -> bool:
    stmt = select(CiVariable.id).where(place.where(), CiVariable.key == key, CiVariable.environment_scope == scope)
    return any(found != other_than for found in session.exec(stmt).all())


def create_variable(session: Session, actor: Account, place: Place, data: VariableInput) -> CiVariable:
    require_manage(session, actor, place)
    checked = _check(data, data.value or "")
    if _same_key(session, place, checked.key, checked.environment_scope, None):
        raise Conflict(N_("A variable %(name)s with environment scope %(scope)s already exists."),
                       name=checked.key, scope=checked.environment_scope)
    count = len(session.exec(select(CiVariable.id).where(place.where())).all())
    if count >= MAX_VARIABLES:
        raise InvalidInput(N_("At most %(max)s variables can be set here."), max=MAX_VARIABLES)
    variable = CiVariable(
        repo_id=place.repo.repo.id if place.repo is not None else None,
        owner_id=place.org.id if place.org is not None else None,
        key=checked.key, value_sealed=secret_box.for_session(session).seal(checked.value or ""),
        created_by_id=actor.id,
    )
    _apply(variable, checked)
    session.add(variable)
    session.flush()
    log.info("CI variable %s (environment %s) of %s created by %s", checked.key, checked.environment_scope,
             place.name, actor.name)
    return variable


def update_variable(session: Session, actor: Account, place: Place, variable_id: int,
                    data: VariableInput) -> CiVariable:
    """Change a variable; an empty ``value`` keeps the stored one (which must still be readable)."""
    variable = get_variable(session, actor, place, variable_id)
    box = secret_box.for_session(session)
    value = data.value if data.value else box.open(variable.value_sealed)
    checked = _check(data, value)
    if _same_key(session, place, checked.key, checked.environment_scope, variable.id):
        raise Conflict(N_("A variable %(name)s with environment scope %(scope)s already exists."),
                       name=checked.key, scope=checked.environment_scope)
    variable.key = checked.key
    if data.value:
        variable.value_sealed = box.seal(value)
    _apply(variable, checked)
    variable.updated_at = utcnow()
    session.add(variable)
    session.flush()
    log.info("CI variable %s (environment %s) of %s changed by %s", checked.key, checked.environment_scope,
             place.name, actor.name)
    return variable


def _apply(variable: CiVariable, checked: VariableInput) -> None:
    variable.description = checked.description
    variable.masked = checked.masked
    variable.protected = checked.protected
    variable.is_file = checked.is_file
    variable.raw = checked.raw
    variable.environment_scope = checked.environment_scope


def delete_variable(session: Session, actor: Account, place: Place, variable_id: int) -> CiVariable:
    variable = get_variable(session, actor, place, variable_id)
    session.delete(variable)
    session.flush()
    log.info("CI variable %s (environment %s) of %s deleted by %s", variable.key, variable.environment_scope,
             place.name, actor.name)
    return variable


def reveal_variable(session: Session, actor: Account, place: Place, variable_id: int) -> tuple[CiVariable, str]:
    """The saved value of one variable, for an owner who asked to see it; the reveal is logged (audit)."""
    variable = get_variable(session, actor, place, variable_id)
    if not may_reveal(session, actor, place):
        raise PermissionDenied(N_("Only the owner or a site administrator can reveal a saved value."))
    value = secret_box.for_session(session).open(variable.value_sealed)
    log.warning("AUDIT: CI variable %s (id %s, environment %s) of %s revealed by %s", variable.key, variable.id,
                variable.environment_scope, place.name, actor.name)
    return variable, value


# --- giving variables to a job -------------------------------------------------------------------------------


def receives_secrets(session: Session, pipeline: Pipeline) -> bool:
    """Whether ``pipeline`` gets repository and organisation variables at all.

    Pipelines of :data:`TRUSTED_SOURCES` run code of the repository they belong to, pushed or started by someone
    with write access. A merge request pipeline (``merge_request_event``) does too when its pull request's head
    branch lives in the same repository; one for a pull request from a fork runs the fork's code — written by
    anyone who can read the repository — in the base repository, and gets no repository or organisation variables
    at all (GitLab runs such pipelines in the fork instead; docs/ci.md, "Merge request pipelines"). Any other
    source gets nothing by default."""
    if pipeline.source == MERGE_REQUEST_SOURCE:
        if pipeline.pull_id is None:
            return False
        pull = session.get(PullRequest, pipeline.pull_id)
        return pull is not None and pull.head_repo_id is not None and pull.head_repo_id == pipeline.repo_id
    return pipeline.source in TRUSTED_SOURCES


def ref_is_protected(session: Session, ref: RepoRef, pipeline: Pipeline) -> bool:
    """A branch matching a protection rule; the forge has no protected tags, so tags never are."""
    if pipeline.ref_kind != "branch":
        return False
    return matching_rule(list_rules(session, ref), pipeline.ref) is not None


def scope_matches(scope: str, environment: str) -> bool:
    """GitLab's environment scope: ``*`` matches every job; otherwise only jobs with an environment whose name
    matches, ``*`` standing for any characters (including ``/``)."""
    if scope == "*":
        return True
    if not environment:
        return False
    pattern = ".*".join(re.escape(part) for part in scope.split("*"))
    return re.fullmatch(pattern, environment) is not None


def _specificity(scope: str) -> tuple[int, int]:
    # An exact name beats any pattern; among patterns the one with more fixed characters; "*" comes last.
    return (0 if "*" in scope else 1, len(scope.replace("*", "")))


def _pick(rows: Iterable[CiVariable], environment: str) -> dict[str, CiVariable]:
    chosen: dict[str, CiVariable] = {}
    for row in rows:
        if not scope_matches(row.environment_scope, environment):
            continue
        current = chosen.get(row.key)
        if current is None or _specificity(row.environment_scope) > _specificity(current.environment_scope):
            chosen[row.key] = row
    return chosen


def applicable_variables(session: Session, ref: RepoRef, pipeline: Pipeline,
                         environment: str) -> tuple[dict[str, CiVariable], dict[str, CiVariable]]:
    """The organisation's and the repository's variables a job of ``pipeline`` gets, each by key."""
    if not receives_secrets(session, pipeline):
        return {}, {}
    owner_id = ref.owner.id if ref.owner.kind == AccountKind.ORG else None
    clause = col(CiVariable.repo_id) == ref.repo.id
    if owner_id is not None:
        clause = or_(clause, col(CiVariable.owner_id) == owner_id)
    stmt = select(CiVariable).where(clause)
    rows = list(session.exec(stmt.order_by(col(CiVariable.id))).all())
    if not rows:
        return {}, {}
    if not ref_is_protected(session, ref, pipeline):
        rows = [r for r in rows if not r.protected]
    org_rows = [r for r in rows if r.owner_id is not None and r.owner_id == owner_id]
    repo_rows = [r for r in rows if r.repo_id == ref.repo.id]
    return _pick(org_rows, environment), _pick(repo_rows, environment)


def _predefined(key: str) -> bool:
    return key == "CI" or key.startswith(("CI_", "FORGE_", "GITLAB_"))


def _replace_known(value: str, known: Mapping[str, str]) -> str:
    """Expand references to ``known`` names only; ``$$`` and every other reference stay exactly as written."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if match.group() != "$$" and name in known:
            return known[name]
        return match.group()

    return REFERENCE_RE.sub(replace, value)


def _expand(entries: dict[str, dict[str, Any]], ours: dict[str, CiVariable], run_keys: set[str]) -> None:
    """Expand, in place, ``$NAME`` references in the values of repository/organisation variables (not raw) and in
    the file's variables that name one of them (unknown when the pipeline was planned)."""
    # A reference to a file variable would be its path in the job; the path is only known on the runner, so such
    # references are left for the job's shell.
    files = {k for k, e in entries.items() if e.get("file")}
    expandable = {k: e["value"] for k, e in entries.items()
                  if k in ours and k not in run_keys and not ours[k].raw and k not in files}
    outer = {k: e["value"] for k, e in entries.items() if k not in expandable and k not in files}
    try:
        expanded = expand_all(expandable, outer)
    except VariableLoop:
        # A circle between variables: each is expanded one level, so the job still runs and the log shows it.
        expanded = {k: substitute(v, outer, keep=k) for k, v in expandable.items()}
    known = {**outer, **expanded}
    for key, value in expanded.items():
        entries[key]["value"] = value
    for key, entry in entries.items():
        if key in ours and key not in run_keys and not ours[key].raw and key in files:
            entry["value"] = substitute(entry["value"], known, keep=key)
    secrets_known = {k: known[k] for k in ours if k in known and k not in run_keys}
    for key, entry in entries.items():
        if key in ours or key in run_keys or _predefined(key) or "$" not in entry["value"]:
            continue
        entry["value"] = _replace_known(entry["value"], {k: v for k, v in secrets_known.items() if k != key})


def merge_into(session: Session, job: Job, pipeline: Pipeline, variables: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The job's final variable list: ``variables`` (predefined, the file's, the run's) with the repository's and
    organisation's variables merged in by precedence. Later entries win over earlier ones with the same key; the
    list returned has one entry per key. Called by the dispatcher when a runner takes ``job``; the masked values
    given are kept (sealed) for the server's log masking."""
    ref = get_repo_by_id(session, job.repo_id)
    if ref is None:
        return variables
    org_vars, repo_vars = applicable_variables(session, ref, pipeline, job.environment)
    if not org_vars and not repo_vars:
        return variables
    box = secret_box.for_session(session)
    entries: dict[str, dict[str, Any]] = {}
    for var in variables:
        entries.pop(var["key"], None)  # keep the position of the winner
        entries[var["key"]] = dict(var)
    run_keys = set((pipeline.variables or {}).keys())
    ours: dict[str, CiVariable] = {}
    for level in (org_vars, repo_vars):
        for key, row in level.items():
            if key in run_keys or key == JOB_TOKEN_KEY:
                continue  # what the person running the pipeline gave wins
            try:
                value = box.open(row.value_sealed)
            except secret_box.SecretUnreadable:
                log.warning("CI variable %s (id %s) cannot be decrypted (FORGE_SECRET_KEY changed?); job %s runs "
                            "without it", row.key, row.id, job.id)
                continue
            entries.pop(key, None)
            entries[key] = {"key": key, "value": value, "masked": row.masked, "file": row.is_file}
            ours[key] = row
    _expand(entries, ours, run_keys)
    masked = sorted({e["value"] for k, e in entries.items() if k in ours and e["masked"] and e["value"]})
    _remember_masked(session, box, job, masked)
    return list(entries.values())


def _remember_masked(session: Session, box: secret_box.SecretBox, job: Job, values: list[str]) -> None:
    assert job.id is not None
    row = session.get(JobSecrets, job.id)
    if not values:
        if row is not None:
            session.delete(row)
        return
    sealed = box.seal(json.dumps(values))
    if row is None:
        session.add(JobSecrets(job_id=job.id, masked_sealed=sealed))
    else:
        row.masked_sealed = sealed
        session.add(row)


def job_masked_values(session: Session, job: Job) -> list[str]:
    """The repository/organisation values that were given masked to ``job``, for the server's log masking."""
    if job.id is None:
        return []
    row = session.get(JobSecrets, job.id)
    if row is None:
        return []
    try:
        values = json.loads(secret_box.for_session(session).open(row.masked_sealed))
    except (secret_box.SecretUnreadable, secret_box.SecretsUnavailable, ValueError):
        log.warning("the masked values of job %s cannot be read; its log is masked by the runner only", job.id)
        return []
    return [str(v) for v in values if isinstance(v, str) and v]
