"""CI caches: one archive per repository and key, restored by runners before a job's script and saved after it
(docs/ci.md, "Caches").

Protected and unprotected refs never share a cache (GitLab's default since 15.0): the key a runner asks for gets a
``-protected`` or ``-non_protected`` suffix here, on the server, from the pipeline's ref, so a job on any branch
that a developer can push to cannot plant files that a protected branch's job would then restore and run.
``cache:unprotect: true`` in the job opts that key out of the separation (the non-protected suffix in all cases,
as GitLab does). A merge request pipeline for a pull request from a fork runs someone else's code: its caches
get a ``-pull-<id>`` suffix of their own (whatever ``unprotect`` says), so it can neither read the repository's
caches nor plant files that the repository's own pipelines would restore. Caches are kept until replaced, cleared,
or unused for :data:`MAX_UNUSED_DAYS` days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from ci.models import RUNNING, Job, Pipeline
from ci.models.artifacts import CacheEntry
from ci.project_variables import receives_secrets
from ci.storage import Spooled, StoredFile, file_store, new_key
from ci.variables import MERGE_REQUEST_SOURCE
from forge.accounts.models import Account
from forge.db.engine import session_scope
from forge.db.models_base import utcnow
from forge.errors import Conflict, InvalidInput, NotFound
from forge.i18n import N_
from forge.permissions import Access, require_repo_access
from forge.repos.protection import list_rules, matching_rule
from forge.repos.services import RepoRef, get_repo_by_id
from forge.settings import Settings

KEY_MAX = 255
PROTECTED = "-protected"
NON_PROTECTED = "-non_protected"
MAX_UNUSED_DAYS = 30
# A cache read touches its row at most this often (on SQLite every write takes the database's write lock).
_TOUCH_EVERY = timedelta(hours=1)
RACE_ATTEMPTS = 10

__all__ = ["CacheEntry", "check_key", "ref_is_protected"]


def check_key(key: str) -> str:
    """GitLab's rules for a cache key: not empty, no ``/`` (nor its URL encoding), not only dots."""
    if not key or len(key) > KEY_MAX or any(not c.isprintable() for c in key):
        raise InvalidInput(N_("key must be a cache key of 1 to %(max)s printable characters."), max=KEY_MAX)
    if "/" in key or "%2f" in key.lower() or key.replace("%2E", ".").replace("%2e", ".").strip(".") == "":
        raise InvalidInput(N_("A cache key may not contain “/” or be made only of dots."))
    return key


def ref_is_protected(session: Session, pipeline: Pipeline) -> bool:
    """Whether the pipeline's ref is protected: a branch matching a protection rule. The forge has no tag
    protection rules, so tags count as unprotected."""
    if pipeline.ref_kind != "branch":
        return False
    ref = get_repo_by_id(session, pipeline.repo_id)
    return ref is not None and matching_rule(list_rules(session, ref), pipeline.ref) is not None


def _unprotected_by_job(job: Job, key: str) -> bool:
    for entry in (job.spec or {}).get("cache") or []:
        if isinstance(entry, dict) and entry.get("unprotect") and (
                entry.get("key") == key or key in (entry.get("fallback_keys") or [])):
            return True
    return False


@dataclass(frozen=True)
class CacheTarget:
    repo_id: int
    key: str  # with the protection suffix
    limit: int  # bytes


def cache_target(session: Session, job: Job, settings: Settings, key: str) -> CacheTarget:
    """Check that ``job`` (authenticated by its token) may use caches now, and the stored key for ``key``."""
    if job.status != RUNNING or job.cancel_requested:
        raise Conflict(N_("Job %(id)s is not running: it cannot use caches any more."), id=job.id)
    check_key(key)
    pipeline = session.get(Pipeline, job.pipeline_id)
    if pipeline is None:
        raise NotFound(N_("This job's pipeline no longer exists."))
    protected = ref_is_protected(session, pipeline) and not _unprotected_by_job(job, key)
    suffix = PROTECTED if protected else NON_PROTECTED
    if pipeline.source == MERGE_REQUEST_SOURCE and not receives_secrets(session, pipeline):
        suffix = f"-pull-{pipeline.pull_id or 0}"
    return CacheTarget(job.repo_id, key + suffix, settings.ci_cache_max_mb * 1024 * 1024)


def _find(session: Session, repo_id: int, key: str) -> CacheEntry | None:
    return session.execute(
        select(CacheEntry).where(col(CacheEntry.repo_id) == repo_id, col(CacheEntry.key) == key)
        .execution_options(populate_existing=True)
    ).scalars().first()


def lookup(session: Session, target: CacheTarget) -> StoredFile:
    """The stored cache for a restore (NotFound on a miss); records that it was used."""
    row = _find(session, target.repo_id, target.key)
    if row is None:
        raise NotFound(N_("No cache for this key."))
    now = utcnow()
    if row.last_used_at < now - _TOUCH_EVERY:
        session.execute(update(CacheEntry).where(col(CacheEntry.id) == row.id).values(last_used_at=now)
                        .execution_options(synchronize_session=False))
    return StoredFile(row.storage_key, "cache.zip", row.size)


def storage_key_for(target: CacheTarget) -> str:
    return new_key("caches", target.repo_id) + ".zip"


def record(session: Session, target: CacheTarget, spooled: Spooled, storage_key: str) -> str:
    """Insert or replace the cache row; the storage key it named before ("" when new), to delete after commit.
    Two jobs saving the same key at once: a compare-and-swap on the storage key makes the later one replace the
    earlier one's file (see ``ci.artifacts.record_upload``), so no file is left unnamed."""
    now = utcnow()
    values: dict[str, Any] = {"size": spooled.size, "sha256": spooled.sha256, "storage_key": storage_key,
                              "updated_at": now, "last_used_at": now}
    for _attempt in range(RACE_ATTEMPTS):
        row = _find(session, target.repo_id, target.key)
        if row is None:
            try:
                with session.begin_nested():
                    session.add(CacheEntry(repo_id=target.repo_id, key=target.key, created_at=now, **values))
                    session.flush()
            except IntegrityError:
                continue
            return ""
        done = session.execute(
            update(CacheEntry).where(col(CacheEntry.id) == row.id, col(CacheEntry.storage_key) == row.storage_key)
            .values(**values).execution_options(synchronize_session=False)
        )
        if done.rowcount == 1:  # type: ignore[attr-defined]
            return row.storage_key
    raise Conflict(N_("Another job is saving this cache; try again."))


# --- the repository's caches (settings page) and clean-up ----------------------------------------------------


@dataclass(frozen=True)
class CacheSummary:
    entries: list[CacheEntry]
    total_size: int


def repo_caches(session: Session, repo_id: int) -> CacheSummary:
    rows = list(session.execute(
        select(CacheEntry).where(col(CacheEntry.repo_id) == repo_id).order_by(col(CacheEntry.key))
    ).scalars())
    return CacheSummary(rows, sum(r.size for r in rows))


def total_size(session: Session) -> int:
    """Bytes of all caches of the forge (for administrators)."""
    return int(session.execute(select(func.coalesce(func.sum(col(CacheEntry.size)), 0))).scalar_one())


def clear(session: Session, actor: Account, ref: RepoRef) -> list[str]:
    """Delete every cache of the repository ("Clear runner caches"); the storage keys to delete after commit."""
    require_repo_access(session, actor, ref.repo, Access.WRITE)
    rows = list(session.execute(select(CacheEntry).where(col(CacheEntry.repo_id) == ref.repo.id)).scalars())
    for row in rows:
        session.delete(row)
    return [r.storage_key for r in rows]


def remove_unused(engine: Engine, settings: Settings, now: datetime | None = None,
                  days: int = MAX_UNUSED_DAYS) -> int:
    """Delete caches nobody restored or saved for ``days`` days (rows first, conditionally; then files)."""
    cutoff = (now or utcnow()) - timedelta(days=days)
    store = file_store(settings)
    with session_scope(engine) as session:
        stale = session.execute(
            select(col(CacheEntry.id), col(CacheEntry.storage_key)).where(col(CacheEntry.last_used_at) < cutoff)
        ).all()
        gone = []
        for cache_id, key in stale:
            done = session.execute(
                delete(CacheEntry).where(col(CacheEntry.id) == cache_id, col(CacheEntry.last_used_at) < cutoff)
                .execution_options(synchronize_session=False)
            )
            if done.rowcount == 1:  # type: ignore[attr-defined]
                gone.append(key)
    for key in gone:
        store.delete(key)
    return len(gone)
