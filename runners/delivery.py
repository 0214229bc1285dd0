"""What moves in and out of a job's checkout around its scripts: caches, the artifacts of earlier jobs, and this
job's own artifacts and test reports (GitLab Runner's ``restore_cache``, ``download_artifacts``, ``archive_cache``
and ``upload_artifacts`` stages).

Each step writes GitLab-like lines to the job log. The rules that decide the job's result are GitLab's: a cache
that cannot be restored or saved is a warning and never changes the result; an earlier job's archive that cannot
be downloaded or extracted fails the job (``system_failure``; GitLab says ``dependency_failure``, which this
protocol does not have); artifacts that cannot be uploaded fail it with ``archived_failure``; "no files to upload"
is a warning. Archives are made in and read from ``scratch`` (a directory of the job's workspace), never in memory.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from runners.archive import ArchiveError, Matches, extract_zip, match_paths, write_zip
from runners.errors import ClientError, JobGone, ProtocolError
from runners.executors.common import FileTransport, JobControl, error_line, section, warning_line
from runners.logs import MaskingLog
from runners.payload import JobCache

log = logging.getLogger("forge_runner")

ARCHIVE_FILENAME = "artifacts.zip"


class DeliveryFailure(Exception):
    """A step that fails the job: ``reason`` is the failure reason, the message goes to the log."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class Context:
    """One job's view for these steps."""

    out: MaskingLog
    files: FileTransport | None
    control: JobControl
    checkout: Path  # the project directory on this host
    project_dir: str  # CI_PROJECT_DIR as the job sees it
    env: dict[str, str]  # the job's variables (paths may use them)
    scratch: Path  # where archives are made and downloaded

    def temp(self, name: str) -> Path:
        self.scratch.mkdir(parents=True, exist_ok=True)
        path = self.scratch / name
        path.unlink(missing_ok=True)
        return path


def _applies(when: str, succeeded: bool) -> bool:
    return when == "always" or (when == "on_failure") == (not succeeded)


def _report_matches(ctx: Context, found: Matches, noun: str) -> None:
    for warning in found.warnings:
        warning_line(ctx.out, warning)
    for pattern, count in found.counts:
        if count:
            ctx.out.text(f"{pattern}: found {count} matching {noun} files and directories\n")
        else:
            warning_line(ctx.out, f"{pattern}: no matching files. Ensure that the {noun} path is relative to the "
                                  "working directory")
    for pattern, count in found.excluded:
        ctx.out.text(f"{pattern}: excluded {count} files\n")


# ---------------------------------------------------------------------------------------------------------------
# Caches


def restore_caches(ctx: Context, caches: tuple[JobCache, ...]) -> None:
    """Restore each cache whose policy pulls: its key, then its ``fallback_keys``, then ``CACHE_FALLBACK_KEY``;
    the first one found wins. A miss or an error is a line in the log, never a failure."""
    pulling = [c for c in caches if c.policy in ("pull", "pull-push")]
    if not pulling:
        return
    section(ctx.out, "Restoring cache")
    if ctx.files is None:
        warning_line(ctx.out, "this run cannot reach the forge's cache; continuing without it")
        return
    for index, cache in enumerate(pulling):
        keys = [cache.key, *cache.fallback_keys]
        global_fallback = ctx.env.get("CACHE_FALLBACK_KEY", "")
        if global_fallback and global_fallback not in keys:
            keys.append(global_fallback)
        restored = False
        for key in dict.fromkeys(keys):
            if ctx.control.is_set():
                return
            ctx.out.text(f"Checking cache for {key}...\n")
            archive = ctx.temp(f"cache-{index}.zip")
            try:
                found = ctx.files.get_cache(key, archive)
            except JobGone:
                raise
            except ClientError as exc:
                warning_line(ctx.out, f"Failed to download the cache {key}: {exc}")
                continue
            if not found:
                ctx.out.text(f"No cache found for {key}\n")
                continue
            try:
                count = extract_zip(archive, ctx.checkout)
            except (ArchiveError, OSError) as exc:
                warning_line(ctx.out, f"Failed to extract the cache {key}: {exc}")
                continue
            finally:
                archive.unlink(missing_ok=True)
            ctx.out.text(f"Successfully extracted cache {key} ({count} files and directories)\n")
            restored = True
            break
        if not restored:
            warning_line(ctx.out, f"no cache found for {cache.key}; the job continues without it")


def save_caches(ctx: Context, caches: tuple[JobCache, ...], succeeded: bool) -> None:
    """Archive and upload each cache whose policy pushes and whose ``when`` fits the result. Never fails the job."""
    pushing = [c for c in caches if c.policy in ("push", "pull-push") and _applies(c.when, succeeded)]
    if not pushing:
        return
    section(ctx.out, f"Saving cache for {'successful' if succeeded else 'failed'} job")
    if ctx.files is None:
        warning_line(ctx.out, "this run cannot reach the forge's cache; the cache is not saved")
        return
    for index, cache in enumerate(pushing):
        if ctx.control.is_set():
            return
        ctx.out.text(f"Creating cache {cache.key}...\n")
        found = match_paths(ctx.checkout, cache.paths, project_dir=ctx.project_dir, env=ctx.env,
                            untracked=cache.untracked)
        _report_matches(ctx, found, "cache")
        if not found.entries:
            warning_line(ctx.out, f"no files to cache for {cache.key}; nothing is saved")
            continue
        archive = ctx.temp(f"cache-out-{index}.zip")
        try:
            write_zip(ctx.checkout, found.entries, archive)
            size = ctx.files.put_cache(cache.key, archive)
        except JobGone:
            raise
        except (ClientError, OSError) as exc:
            warning_line(ctx.out, f"Failed to save the cache {cache.key}: {exc}")
            continue
        finally:
            archive.unlink(missing_ok=True)
        ctx.out.text(f"Created cache {cache.key} ({_size(size)})\n")


# ---------------------------------------------------------------------------------------------------------------
# Artifacts


def download_dependencies(ctx: Context, dependencies: tuple[tuple[int, str], ...]) -> None:
    """Download and extract the archive of each ``(job id, name)`` into the checkout; ``DeliveryFailure`` when
    one cannot be had."""
    if not dependencies:
        return
    section(ctx.out, "Downloading artifacts")
    if ctx.files is None:
        raise DeliveryFailure("system_failure", "this run cannot reach the forge to download artifacts")
    for job_id, name in dependencies:
        if ctx.control.is_set():
            return
        ctx.out.text(f"Downloading artifacts for {name} ({job_id})...\n")
        archive = ctx.temp(f"dependency-{job_id}.zip")
        try:
            try:
                found = ctx.files.download_artifacts(job_id, archive)
            except JobGone:
                raise
            except ClientError as exc:
                raise DeliveryFailure("system_failure", f"Downloading the artifacts of {name} ({job_id}) failed: "
                                                        f"{exc} (a dependency failure)") from None
            if not found:
                raise DeliveryFailure("system_failure", f"The artifacts of {name} ({job_id}) are gone (expired or "
                                                        "deleted), so this job cannot run (a dependency failure)")
            try:
                count = extract_zip(archive, ctx.checkout)
            except (ArchiveError, OSError) as exc:
                raise DeliveryFailure("system_failure", f"The artifacts of {name} ({job_id}) were refused: {exc} "
                                                        "(a dependency failure)") from None
        finally:
            archive.unlink(missing_ok=True)
        ctx.out.text(f"Downloading artifacts from coordinator... ok  id={job_id} responseStatus=200 OK "
                     f"({count} files and directories)\n")


def upload_artifacts(ctx: Context, paths: tuple[str, ...], exclude: tuple[str, ...], untracked: bool,
                     when: str, expire_in: str, junit: tuple[str, ...], succeeded: bool) -> None:
    """Upload the job's archive (per ``when``) and its JUnit reports (always, as GitLab does for reports);
    ``DeliveryFailure`` with ``archived_failure`` when the forge does not take them."""
    archive_wanted = (bool(paths) or untracked) and _applies(when, succeeded)
    if not archive_wanted and not junit:
        return
    section(ctx.out, f"Uploading artifacts for {'successful' if succeeded else 'failed'} job")
    if ctx.files is None:
        raise DeliveryFailure("archived_failure", "this run cannot reach the forge to upload artifacts")
    if archive_wanted:
        ctx.out.text("Uploading artifacts...\n")
        found = match_paths(ctx.checkout, paths, project_dir=ctx.project_dir, env=ctx.env, exclude=exclude,
                            untracked=untracked)
        _report_matches(ctx, found, "artifact")
        if not found.entries:
            warning_line(ctx.out, "No files to upload")
        else:
            archive = ctx.temp(ARCHIVE_FILENAME)
            try:
                write_zip(ctx.checkout, found.entries, archive)
                _upload(ctx, "archive", ARCHIVE_FILENAME, archive, expire_in)
            finally:
                archive.unlink(missing_ok=True)
    if junit:
        ctx.out.text("Uploading artifacts...\n")
        reports = match_paths(ctx.checkout, junit, project_dir=ctx.project_dir, env=ctx.env)
        _report_matches(ctx, reports, "artifact")
        for rel, kind in sorted(reports.entries.items()):
            if kind != "file":
                continue
            _upload(ctx, "junit", rel, ctx.checkout / rel, expire_in)


def _upload(ctx: Context, kind: str, filename: str, src: Path, expire_in: str) -> None:
    if ctx.control.is_set():
        return
    assert ctx.files is not None
    try:
        size = ctx.files.upload_artifact(kind, filename, src, expire_in)
    except JobGone:
        raise
    except ProtocolError as exc:
        error_line(ctx.out, f'Uploading artifacts as "{kind}" to coordinator... failed: {exc}')
        raise DeliveryFailure("archived_failure", f"the forge refused the {kind} artifact {filename}") from None
    except (ClientError, OSError) as exc:
        error_line(ctx.out, f'Uploading artifacts as "{kind}" to coordinator... failed: {exc}')
        raise DeliveryFailure("archived_failure", f"the {kind} artifact {filename} could not be uploaded") \
            from None
    ctx.out.text(f'Uploading artifacts as "{kind}" to coordinator... 201 Created  {filename} ({_size(size)})\n')


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024 or unit == "MiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"

