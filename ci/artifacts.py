"""Job artifacts: the archive and report files runners upload, what later jobs download, what the job page shows,
and their expiry (docs/ci.md, "Artifacts").

Uploads are checked (the job is running, the type and name are valid, the archive is a safe zip) before anything
is recorded; recording is one row insert or update, so a failed upload never touches the artifact already there
and a resend replaces it (the runner retries uploads). Files that a replaced or deleted row no longer names are
removed after the transaction commits; the periodic clean-up also removes any a crash left behind.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from ci import caches
from ci.artifact_zip import BadArchive
from ci.background import periodic
from ci.models import RUNNING, SUCCESS, Job, Pipeline
from ci.models.artifacts import ARCHIVE, FILE_TYPES, JUNIT, Artifact, ArtifactData, CacheEntry
from ci.storage import FileStore, Spooled, StoredFile, file_store, new_key
from forge.accounts.models import Account
from forge.db.engine import session_scope
from forge.db.models_base import utcnow
from forge.errors import Conflict, InvalidInput, NotFound
from forge.i18n import N_
from forge.permissions import Access, require_repo_access
from forge.repos.services import RepoRef
from forge.settings import Settings

ARCHIVE_FILENAME = "artifacts.zip"
# A report is parsed in memory by the job-finished hook; larger files would only be refused there.
REPORT_MAX_BYTES = 30 * 1024 * 1024
NEVER = "never"
# Files no row names (a crash between writing a file and committing its row) are removed once this old.
ORPHAN_AGE = 24 * 3600
# Retries of a row replacement that lost a race with a simultaneous upload of the same file.
RACE_ATTEMPTS = 10

__all__ = ["ARCHIVE", "JUNIT", "BadArchive"]


def _aware(value: datetime) -> datetime:
    # UTCDateTime columns come back aware; values built in tests may not be.
    return value if value.tzinfo is not None else value.replace(tzinfo=utcnow().tzinfo)


def _latest_successful() -> Any:
    """Ids of the newest successful pipeline of each ref of each repository. GitLab keeps ("locks") the
    artifacts of these even past their expiry, so the latest build of a branch stays downloadable until a newer
    successful pipeline replaces it (its "Keep artifacts from most recent successful jobs" default)."""
    return (select(func.max(col(Pipeline.id))).where(col(Pipeline.status) == SUCCESS)
            .group_by(col(Pipeline.repo_id), col(Pipeline.ref), col(Pipeline.ref_kind)))


def _live(now: datetime) -> Any:
    return or_(col(Artifact.expire_at).is_(None), col(Artifact.expire_at) > now,
               col(Artifact.pipeline_id).in_(_latest_successful()))


def _locked(session: Session, pipeline_id: int) -> bool:
    pipeline = session.get(Pipeline, pipeline_id)
    if pipeline is None or pipeline.status != SUCCESS:
        return False
    newest = session.execute(
        select(func.max(col(Pipeline.id))).where(col(Pipeline.repo_id) == pipeline.repo_id,
                                                 col(Pipeline.ref) == pipeline.ref,
                                                 col(Pipeline.ref_kind) == pipeline.ref_kind,
                                                 col(Pipeline.status) == SUCCESS)
    ).scalar_one()
    return bool(newest == pipeline_id)


# --- uploads -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UploadTarget:
    """Where an upload goes, decided (and its job checked) before its body is read."""

    job_id: int
    pipeline_id: int
    repo_id: int
    file_type: str
    filename: str
    expire_at: datetime | None
    limit: int  # bytes


def _filename(file_type: str, value: str) -> str:
    if file_type == ARCHIVE:
        return ARCHIVE_FILENAME
    name = value.strip()
    if (not name or len(name) > 255 or name.startswith("/") or "\\" in name or "\x00" in name
            or any(p in ("", ".", "..") for p in name.split("/"))):
        raise InvalidInput(N_("filename must be the report's relative path in the project (up to 255 characters)."))
    return name


def expiry(value: object, default_days: int, now: datetime | None = None) -> datetime | None:
    """When an upload expires: ``value`` is seconds (int or digits), "never" (kept), or None/"" for the
    instance default (``FORGE_CI_ARTIFACTS_EXPIRE_DAYS``; 0 keeps)."""
    now = now or utcnow()
    if value is None or value == "":
        return now + timedelta(days=default_days) if default_days > 0 else None
    if value == NEVER or (isinstance(value, int) and not isinstance(value, bool) and value < 0):
        return None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value > 100 * 365 * 86400:
        raise InvalidInput(N_("expire_in must be a number of seconds, “never”, or empty for the default."))
    return now + timedelta(seconds=value)


def upload_target(session: Session, job: Job, settings: Settings, file_type: str, filename: str,
                  expire_in: str | None) -> UploadTarget:
    """Check that ``job`` (authenticated by its token) may upload now, and where the upload goes."""
    assert job.id is not None
    if job.status != RUNNING or job.cancel_requested:
        raise Conflict(N_("Job %(id)s is not running: it cannot upload artifacts any more."), id=job.id)
    if file_type not in FILE_TYPES:
        raise InvalidInput(N_("type must be one of: %(types)s."), types=", ".join(FILE_TYPES))
    spec_artifacts = (job.spec or {}).get("artifacts") or {}
    # The runner passes the job's own expire_in; the spec is the fallback (a runner may not send it).
    raw = expire_in if expire_in not in (None, "") else spec_artifacts.get("expire_in")
    limit = settings.ci_artifact_max_mb * 1024 * 1024
    if file_type != ARCHIVE:
        limit = min(limit, REPORT_MAX_BYTES)
    return UploadTarget(job.id, job.pipeline_id, job.repo_id, file_type, _filename(file_type, filename),
                        expiry(raw, settings.ci_artifacts_expire_days), limit)


def storage_key_for(target: UploadTarget) -> str:
    return new_key("artifacts", target.repo_id, target.job_id) + ".zip"


def _find(session: Session, job_id: int, file_type: str, filename: str) -> Artifact | None:
    return session.execute(
        select(Artifact).where(col(Artifact.job_id) == job_id, col(Artifact.file_type) == file_type,
                               col(Artifact.filename) == filename)
        .execution_options(populate_existing=True)
    ).scalars().first()


def _store_data(session: Session, artifact_id: int, data: bytes) -> None:
    for _attempt in range(RACE_ATTEMPTS):
        done = session.execute(update(ArtifactData).where(col(ArtifactData.artifact_id) == artifact_id)
                               .values(data=data).execution_options(synchronize_session=False))
        if done.rowcount == 1:  # type: ignore[attr-defined]
            return
        try:
            with session.begin_nested():
                session.add(ArtifactData(artifact_id=artifact_id, data=data))
                session.flush()
            return
        except IntegrityError:
            continue
    raise Conflict(N_("Another upload of the same file is in progress; try again."))


def record_upload(session: Session, target: UploadTarget, spooled: Spooled, storage_key: str,
                  data: bytes | None = None) -> str:
    """Insert or replace the artifact row (archives: ``storage_key`` names the stored file; reports: ``data``);
    the storage key the row named before, to be deleted after commit ("" when none).

    Several uploads of the same file may race (a runner retrying a slow upload). The replacement is a compare-and-
    swap on the storage key, so each upload learns exactly the key it replaced and no file is left unnamed: one
    that lost the race reads the row again and replaces the winner's file instead."""
    values: dict[str, Any] = {"size": spooled.size, "sha256": spooled.sha256, "storage_key": storage_key,
              "expire_at": target.expire_at, "created_at": utcnow()}
    for _attempt in range(RACE_ATTEMPTS):
        row = _find(session, target.job_id, target.file_type, target.filename)
        if row is None:
            row = Artifact(job_id=target.job_id, pipeline_id=target.pipeline_id, repo_id=target.repo_id,
                           file_type=target.file_type, filename=target.filename, **values)
            try:
                with session.begin_nested():  # two first uploads at once: the loser replaces the winner's row
                    session.add(row)
                    session.flush()
            except IntegrityError:
                continue
            old_key = ""
        else:
            old_key = row.storage_key
            done = session.execute(
                update(Artifact).where(col(Artifact.id) == row.id, col(Artifact.storage_key) == old_key)
                .values(**values).execution_options(synchronize_session=False)
            )
            if done.rowcount != 1:  # type: ignore[attr-defined]
                continue
        if data is not None:
            assert row.id is not None
            _store_data(session, row.id, data)
        return old_key
    raise Conflict(N_("Another upload of the same file is in progress; try again."))


# --- dependencies --------------------------------------------------------------------------------------------


def _latest_archives(session: Session, pipeline_id: int, names: list[str], now: datetime) -> dict[str, Artifact]:
    """For each job name, the archive of the newest attempt in the pipeline that has a live one."""
    if not names:
        return {}
    rows = session.execute(
        select(Artifact, col(Job.name)).join(Job, col(Job.id) == Artifact.job_id)
        .where(col(Artifact.pipeline_id) == pipeline_id, col(Artifact.file_type) == ARCHIVE,
               col(Job.name).in_(names), _live(now))
        .order_by(col(Artifact.job_id))
    ).all()
    return {name: artifact for artifact, name in rows}  # later (newer) attempts win


def payload_dependencies(session: Session, job: Job) -> list[dict[str, Any]]:
    """The archives the runner downloads before ``job``'s script (contract: job_id, name, filename, size), in
    the order the spec's ``artifact_sources`` names them; jobs without a live archive are left out."""
    names = [str(n) for n in (job.spec or {}).get("artifact_sources") or []]
    found = _latest_archives(session, job.pipeline_id, names, utcnow())
    return [
        {"job_id": found[n].job_id, "name": n, "filename": found[n].filename, "size": found[n].size}
        for n in dict.fromkeys(names) if n in found
    ]


def dependency_archive(session: Session, job: Job, other_job_id: int) -> StoredFile:
    """The archive of ``other_job_id`` for the runner of ``job``: only a job of the same pipeline, with a live
    archive (the job token of one pipeline must not read another pipeline's, let alone repository's, files)."""
    if job.status != RUNNING:
        raise Conflict(N_("Job %(id)s is not running."), id=job.id)
    other = session.get(Job, other_job_id)
    row = _find(session, other_job_id, ARCHIVE, ARCHIVE_FILENAME) if other is not None else None
    if other is None or other.pipeline_id != job.pipeline_id or row is None or not _is_live(session, row):
        raise NotFound(N_("Job %(id)s of this pipeline has no artifacts."), id=other_job_id)
    return StoredFile(row.storage_key, row.filename, row.size)


def _is_live(session: Session, row: Artifact) -> bool:
    return row.expire_at is None or _aware(row.expire_at) > utcnow() or _locked(session, row.pipeline_id)


# --- reports (read by the test report hook) ------------------------------------------------------------------


def job_reports(session: Session, job_id: int, file_type: str = JUNIT) -> list[Artifact]:
    """The report files of one type a job uploaded, by file name."""
    return list(session.execute(
        select(Artifact).where(col(Artifact.job_id) == job_id, col(Artifact.file_type) == file_type)
        .order_by(col(Artifact.filename))
    ).scalars())


def open_artifact(session: Session, artifact: Artifact) -> bytes:
    """The bytes of a report artifact (reports are stored in the database; archives are not read this way)."""
    blob = session.get(ArtifactData, artifact.id) if artifact.id is not None else None
    if blob is None:
        raise NotFound(N_("This report file is no longer stored."))
    return blob.data


# --- the job page ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchiveFacts:
    """What the job page shows about a job's archive."""

    size: int
    created_at: datetime
    expire_at: datetime | None
    expired: bool
    download_name: str
    # Past its expiry but kept: the newest successful pipeline of its ref.
    locked: bool = False

    @property
    def size_text(self) -> str:
        return human_size(self.size)


def human_size(size: int) -> str:
    """"12.3 MiB", "4.0 KiB", "17 B" (binary units, the same in every language)."""
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def download_name(job: Job) -> str:
    """``artifacts:name`` (already expanded by the planner) or "artifacts", plus ".zip", made safe as a name."""
    name = str(((job.spec or {}).get("artifacts") or {}).get("name") or "").strip()
    name = posixpath.basename(name.replace("\\", "/")) or "artifacts"
    name = "".join(c for c in name if c.isprintable())[:200] or "artifacts"
    return name if name.endswith(".zip") else f"{name}.zip"


def job_archive(session: Session, job: Job) -> Artifact | None:
    assert job.id is not None
    return _find(session, job.id, ARCHIVE, ARCHIVE_FILENAME)


def job_page_facts(session: Session, job: Job) -> dict[str, Any]:
    """``artifacts_archive``: :class:`ArchiveFacts` or None (merged into the job page's context)."""
    row = job_archive(session, job)
    if row is None:
        return {"artifacts_archive": None}
    expire_at = _aware(row.expire_at) if row.expire_at else None
    overdue = expire_at is not None and expire_at <= utcnow()
    locked = overdue and _locked(session, row.pipeline_id)
    return {"artifacts_archive": ArchiveFacts(row.size, _aware(row.created_at), expire_at, overdue and not locked,
                                              download_name(job), locked)}


def readable_archive(session: Session, job: Job) -> StoredFile:
    """The job's live archive for the download and browse pages (the caller has checked read access)."""
    row = job_archive(session, job)
    if row is None or not _is_live(session, row):
        raise NotFound(N_("Job %(id)s has no artifacts (they may have expired)."), id=job.id)
    return StoredFile(row.storage_key, download_name(job), row.size)


def keep(session: Session, actor: Account, ref: RepoRef, job: Job) -> None:
    """"Keep": the archive no longer expires (GitLab's "Keep" button)."""
    require_repo_access(session, actor, ref.repo, Access.WRITE)
    row = job_archive(session, job)
    if row is None or not _is_live(session, row):
        raise InvalidInput(N_("This job has no artifacts to keep."))
    row.expire_at = None
    session.add(row)


def erase(session: Session, actor: Account, ref: RepoRef, job: Job) -> list[str]:
    """Delete all of the job's artifacts (archive and reports); the storage keys to delete after commit."""
    require_repo_access(session, actor, ref.repo, Access.WRITE)
    rows = list(session.execute(select(Artifact).where(col(Artifact.job_id) == job.id)).scalars())
    if not rows:
        raise InvalidInput(N_("This job has no artifacts to delete."))
    for row in rows:
        session.delete(row)
    return [r.storage_key for r in rows if r.storage_key]


def remove_files(store: FileStore, keys: list[str]) -> None:
    for key in keys:
        if key:
            store.delete(key)


# --- latest successful artifacts by ref (GitLab's /-/jobs/artifacts/<ref>/download?job=name) -----------------


def latest_job_on_ref(session: Session, repo_id: int, ref: str, name: str) -> Job:
    """The job called ``name`` of the newest successful pipeline on branch or tag ``ref`` that ran it with a
    live archive."""
    now = utcnow()
    row = session.execute(
        select(Job).join(Pipeline, col(Pipeline.id) == Job.pipeline_id)
        .join(Artifact, col(Artifact.job_id) == Job.id)
        .where(col(Pipeline.repo_id) == repo_id, col(Pipeline.ref) == ref, col(Pipeline.status) == SUCCESS,
               col(Job.name) == name, col(Artifact.file_type) == ARCHIVE, _live(now))
        .order_by(col(Pipeline.id).desc(), col(Job.id).desc()).limit(1)
    ).scalars().first()
    if row is None:
        raise NotFound(N_("No successful pipeline on %(ref)s has artifacts of a job called “%(name)s”."),
                       ref=ref, name=name)
    return row


# --- repository summary ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobArtifactRow:
    job: Job
    size: int
    expire_at: datetime | None


def repo_artifacts(session: Session, repo_id: int, limit: int = 100) -> tuple[list[JobArtifactRow], int, int]:
    """The newest jobs with live archives, and the repository's total artifact size and file count."""
    now = utcnow()
    rows = session.execute(
        select(Artifact, Job).join(Job, col(Job.id) == Artifact.job_id)
        .where(col(Artifact.repo_id) == repo_id, col(Artifact.file_type) == ARCHIVE, _live(now))
        .order_by(col(Artifact.job_id).desc()).limit(limit)
    ).all()
    sizes = list(session.execute(select(col(Artifact.size)).where(col(Artifact.repo_id) == repo_id)).scalars())
    listed = [JobArtifactRow(job, art.size, _aware(art.expire_at) if art.expire_at else None) for art, job in rows]
    return listed, sum(sizes), len(sizes)


def storage_totals(session: Session) -> tuple[int, int]:
    """Bytes of all artifacts and all caches of the forge (for an administrators' overview)."""
    artifacts_total = session.execute(select(func.coalesce(func.sum(col(Artifact.size)), 0))).scalar_one()
    return int(artifacts_total), caches.total_size(session)


# --- expiry ---------------------------------------------------------------------------------------------------


def remove_expired(engine: Engine, settings: Settings, now: datetime | None = None, batch: int = 500) -> int:
    """Delete artifacts past their expiry, except those of the newest successful pipeline of their ref (GitLab
    keeps them until a newer one succeeds): the row first (conditionally, so a "Keep" clicked meanwhile wins and a
    second worker finds nothing), then its file. Safe to run in several workers at once; returns rows deleted."""
    now = now or utcnow()
    store = file_store(settings)
    removed = 0
    while True:
        with session_scope(engine) as session:
            due = session.execute(
                select(col(Artifact.id), col(Artifact.storage_key))
                .where(col(Artifact.expire_at) <= now, col(Artifact.pipeline_id).not_in(_latest_successful()))
                .order_by(col(Artifact.id)).limit(batch)
            ).all()
            gone: list[str] = []
            for artifact_id, key in due:
                done = session.execute(
                    delete(Artifact).where(col(Artifact.id) == artifact_id, col(Artifact.expire_at) <= now)
                    .execution_options(synchronize_session=False)
                )
                if done.rowcount == 1:  # type: ignore[attr-defined]
                    removed += 1
                    gone.append(key)
        remove_files(store, gone)  # after the commit: a rolled back delete must still find its file
        if len(due) < batch:
            return removed


def remove_orphans(engine: Engine, settings: Settings, older_than: float = ORPHAN_AGE) -> int:
    """Delete stored archives no row names (a server that died between storing a file and committing its row, a
    job or repository deleted with its rows), and stale upload spool files."""
    store = file_store(settings)
    store.clear_spool(older_than)
    removed = 0
    for prefix, column in (("artifacts", col(Artifact.storage_key)), ("caches", col(CacheEntry.storage_key))):
        keys = list(store.keys(prefix, older_than))
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            with session_scope(engine) as session:
                named = set(session.execute(select(column).where(column.in_(chunk))).scalars())
            for key in chunk:
                if key not in named:
                    store.delete(key)
                    removed += 1
    return removed


@periodic(600)
def clean_up(engine: Engine, settings: Settings) -> None:
    """Every 10 minutes in every worker (GitLab's expiry job runs hourly; each step is safe to run concurrently)."""
    remove_expired(engine, settings)
    caches.remove_unused(engine, settings)
    remove_orphans(engine, settings)
