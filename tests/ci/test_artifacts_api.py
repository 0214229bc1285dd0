"""The runner protocol's artifact calls over real HTTP against the live server: uploads with a job token, the
payload's dependencies, downloads by later jobs of the same pipeline, replacement, the size limit, hostile
archives, reports, and expiry."""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

from ci import artifacts
from ci.models.artifacts import Artifact
from forge.db.engine import session_scope
from forge.db.models_base import utcnow
from tests.ci.artifact_helpers import (
    API,
    RunningJob,
    download,
    finish,
    new_pipeline,
    project,
    runner_client,
    start_job,
    upload,
    zip_bytes,
)


def _rows(server, job_id: int) -> list[Artifact]:  # type: ignore[no-untyped-def]
    with session_scope(server.engine) as s:
        return list(s.execute(select(Artifact).where(col(Artifact.job_id) == job_id)).scalars())


def _stored_files(server, job_id: int) -> list[Path]:  # type: ignore[no-untyped-def]
    root = server.settings.data_dir / "ci" / "artifacts"
    return [p for p in root.glob(f"*/{job_id}/*") if p.is_file()]


def test_upload_then_a_later_job_gets_it_as_a_dependency(server, factory) -> None:  # type: ignore[no-untyped-def]
    proj = project(server, factory)
    build = start_job(server, proj, "build", artifacts={"paths": ["dist/"], "expire_in": None})
    archive = zip_bytes({"dist/": b"", "dist/app.txt": "built by build\n"})
    resp = upload(server, build, archive)
    assert resp.status_code == 201, resp.text
    assert resp.json()["size"] == len(archive)
    assert resp.json()["sha256"] == hashlib.sha256(archive).hexdigest()
    finish(server, build)

    test = start_job(server, proj, "test", artifact_sources=["build", "lint"])
    # Only jobs that have an archive are listed; "lint" never ran.
    assert test.payload["dependencies"] == [
        {"job_id": build.id, "name": "build", "filename": "artifacts.zip", "size": len(archive)}
    ]
    got = download(server, test, build.id)
    assert got.status_code == 200, got.text
    assert got.content == archive
    assert got.headers["content-type"] == "application/zip"
    # A job with no archive: 404 with a sentence.
    missing = download(server, test, test.id)
    assert missing.status_code == 404 and "no artifacts" in missing.json()["error"]


def test_dependencies_use_the_newest_attempt_with_an_archive(server, factory) -> None:  # type: ignore[no-untyped-def]
    proj = project(server, factory)
    first = start_job(server, proj, "build")
    assert upload(server, first, zip_bytes({"a.txt": "first"})).status_code == 201
    finish(server, first, "failed")
    retry = start_job(server, proj, "build")
    second = zip_bytes({"a.txt": "second attempt"})
    assert upload(server, retry, second).status_code == 201
    finish(server, retry)
    test = start_job(server, proj, "test", artifact_sources=["build"])
    assert [d["job_id"] for d in test.payload["dependencies"]] == [retry.id]
    assert download(server, test, retry.id).content == second


def test_a_resend_replaces_the_archive_and_its_file(server, factory) -> None:  # type: ignore[no-untyped-def]
    proj = project(server, factory)
    build = start_job(server, proj)
    assert upload(server, build, zip_bytes({"v.txt": "one"})).status_code == 201
    newer = zip_bytes({"v.txt": "two", "w.txt": "more"})
    assert upload(server, build, newer).status_code == 201
    rows = _rows(server, build.id)
    assert len(rows) == 1 and rows[0].size == len(newer)
    assert len(_stored_files(server, build.id)) == 1  # the replaced file was removed
    test = start_job(server, proj, "test")
    assert download(server, test, build.id).content == newer


@pytest.fixture
def one_mib_limit(server) -> Iterator[None]:  # type: ignore[no-untyped-def]
    before = server.settings.ci_artifact_max_mb
    server.settings.ci_artifact_max_mb = 1
    yield
    server.settings.ci_artifact_max_mb = before


def test_oversized_upload_is_413_and_the_earlier_archive_stays(server, factory, one_mib_limit) -> None:  # type: ignore[no-untyped-def]
    proj = project(server, factory)
    build = start_job(server, proj)
    small = zip_bytes({"ok.txt": "fits"})
    assert upload(server, build, small).status_code == 201
    big = b"x" * (1024 * 1024 + 1)
    resp = upload(server, build, big)  # Content-Length says too much: refused before reading
    assert resp.status_code == 413 and "1 MiB" in resp.json()["error"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: refused while streaming
        for _ in range(20):
            yield b"y" * (128 * 1024)

    with runner_client(server, build.token) as c:
        resp = c.put(f"/jobs/{build.id}/artifacts", params={"type": "archive"}, content=chunks())
    assert resp.status_code == 413
    test = start_job(server, proj, "test")
    assert download(server, test, build.id).content == small
    assert len(_stored_files(server, build.id)) == 1
    assert not any((server.settings.data_dir / "ci" / "tmp").iterdir())  # no spooled leftovers


@pytest.mark.parametrize("archive", [
    zip_bytes({"../evil.sh": "echo pwned"}),
    zip_bytes({"/etc/cron.d/evil": "x"}),
    zip_bytes({"dist/../../evil": "x"}),
    zip_bytes({"dist\\..\\..\\evil": "x"}),
    zip_bytes({"ok.txt": "x"}, links={"link": "../../etc/passwd"}),
    zip_bytes({"ok.txt": "x"}, links={"dist/link": "/etc/passwd"}),
    b"this is not a zip file",
    zip_bytes({"a.txt": "x"})[:-30],  # truncated: no complete central directory
], ids=["dotdot", "absolute", "nested-dotdot", "backslash", "symlink-escape", "symlink-absolute", "not-zip",
        "truncated"])
def test_hostile_or_broken_archives_are_400_and_nothing_is_kept(server, factory, archive: bytes) -> None:  # type: ignore[no-untyped-def]
    proj = project(server, factory)
    build = start_job(server, proj)
    earlier = zip_bytes({"good.txt": "kept"})
    assert upload(server, build, earlier).status_code == 201
    resp = upload(server, build, archive)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]
    rows = _rows(server, build.id)
    assert len(rows) == 1 and rows[0].size == len(earlier)
    assert len(_stored_files(server, build.id)) == 1


def test_links_that_stay_inside_are_accepted(server, factory) -> None:  # type: ignore[no-untyped-def]
    proj = project(server, factory)
    build = start_job(server, proj)
    archive = zip_bytes({"dist/bin/tool": "#!/bin/sh\n"}, links={"dist/current": "bin/tool", "top": "dist/bin"})
    assert upload(server, build, archive).status_code == 201


def test_another_pipelines_token_cannot_download(server, factory) -> None:  # type: ignore[no-untyped-def]
    proj = project(server, factory)
    build = start_job(server, proj)
    assert upload(server, build, zip_bytes({"secret.txt": "pipeline one"})).status_code == 201
    other_pipeline = new_pipeline(server, proj)
    outsider = start_job(server, proj, "test", pipeline_id=other_pipeline)
    resp = download(server, outsider, build.id)
    assert resp.status_code == 404
    # Nor with a token of another job id, nor without a token.
    with runner_client(server, outsider.token) as c:
        assert c.get(f"/jobs/{build.id}/artifacts/{build.id}").status_code == 401
    assert httpx.get(f"{server.url}{API}/jobs/{build.id}/artifacts/{build.id}").status_code == 401


def test_a_finished_job_cannot_upload_any_more(server, factory) -> None:  # type: ignore[no-untyped-def]
    proj = project(server, factory)
    build = start_job(server, proj)
    finish(server, build)
    resp = upload(server, build, zip_bytes({"late.txt": "x"}))
    assert resp.status_code == 409 and "not running" in resp.json()["error"]
    assert _rows(server, build.id) == []


def test_bad_parameters_are_refused(server, factory) -> None:  # type: ignore[no-untyped-def]
    proj = project(server, factory)
    build = start_job(server, proj)
    assert upload(server, build, b"x", type="coverage").status_code == 422
    assert upload(server, build, b"<x/>", type="junit", filename="../report.xml").status_code == 422
    assert upload(server, build, b"<x/>", type="junit", filename="").status_code == 422
    resp = upload(server, build, zip_bytes({"a": "b"}), expire_in="soon")
    assert resp.status_code == 422 and "expire_in" in resp.json()["error"]


def test_junit_reports_are_kept_per_file_for_the_report_parser(server, factory) -> None:  # type: ignore[no-untyped-def]
    proj = project(server, factory)
    build = start_job(server, proj)
    one = b'<testsuite name="a"><testcase name="t1"/></testsuite>'
    two = b'<testsuite name="b"><testcase name="t2"><failure message="no"/></testcase></testsuite>'
    assert upload(server, build, one, type="junit", filename="reports/a.xml").status_code == 201
    assert upload(server, build, two, type="junit", filename="reports/b.xml").status_code == 201
    assert upload(server, build, two, type="junit", filename="reports/a.xml").status_code == 201  # replaces a.xml
    with session_scope(server.engine) as s:
        reports = artifacts.job_reports(s, build.id)
        assert [r.filename for r in reports] == ["reports/a.xml", "reports/b.xml"]
        assert [artifacts.open_artifact(s, r) for r in reports] == [two, two]
    assert _stored_files(server, build.id) == []  # reports live in the database


def test_expire_in_default_and_never(server, factory) -> None:  # type: ignore[no-untyped-def]
    proj = project(server, factory)
    days = server.settings.ci_artifacts_expire_days
    job = start_job(server, proj, artifacts={"paths": ["x"], "expire_in": 3600})
    assert upload(server, job, zip_bytes({"x": "1"}), expire_in="").status_code == 201  # spec's expire_in
    expire_at = _rows(server, job.id)[0].expire_at
    assert expire_at is not None and abs((expire_at - utcnow()) - timedelta(hours=1)) < timedelta(minutes=1)
    assert upload(server, job, zip_bytes({"x": "1"}), expire_in="120").status_code == 201
    expire_at = _rows(server, job.id)[0].expire_at
    assert expire_at is not None and abs((expire_at - utcnow()) - timedelta(seconds=120)) < timedelta(minutes=1)
    plain = start_job(server, proj, "plain")
    assert upload(server, plain, zip_bytes({"x": "1"})).status_code == 201
    expire_at = _rows(server, plain.id)[0].expire_at
    assert expire_at is not None and abs((expire_at - utcnow()) - timedelta(days=days)) < timedelta(minutes=1)
    kept = start_job(server, proj, "kept")
    assert upload(server, kept, zip_bytes({"x": "1"}), expire_in="never").status_code == 201
    assert _rows(server, kept.id)[0].expire_at is None


def test_expired_artifacts_are_unavailable_then_removed(server, factory) -> None:  # type: ignore[no-untyped-def]
    proj = project(server, factory)
    build = start_job(server, proj)
    assert upload(server, build, zip_bytes({"x": "1"}), expire_in="1").status_code == 201
    report = b"<testsuite/>"
    assert upload(server, build, report, type="junit", filename="r.xml", expire_in="1").status_code == 201
    kept = start_job(server, proj, "kept")
    assert upload(server, kept, zip_bytes({"y": "2"}), expire_in="never").status_code == 201
    assert len(_stored_files(server, build.id)) == 1
    later = utcnow() + timedelta(seconds=5)
    # Expired but not yet cleaned up: already not handed out.
    with session_scope(server.engine) as s:
        rows = s.execute(select(Artifact).where(col(Artifact.job_id) == build.id)).scalars().all()
        for row in rows:
            row.expire_at = utcnow() - timedelta(seconds=1)
    test = start_job(server, proj, "test", artifact_sources=["build", "kept"])
    assert [d["name"] for d in test.payload["dependencies"]] == ["kept"]
    assert download(server, test, build.id).status_code == 404

    assert artifacts.remove_expired(server.engine, server.settings, now=later) >= 2
    assert _rows(server, build.id) == []
    assert _stored_files(server, build.id) == []
    assert len(_rows(server, kept.id)) == 1 and len(_stored_files(server, kept.id)) == 1
    # Idempotent: a second run (another worker) finds nothing of this job and does not fail.
    artifacts.remove_expired(server.engine, server.settings, now=later)
    assert download(server, test, kept.id).status_code == 200


def test_orphan_files_are_swept(server, factory) -> None:  # type: ignore[no-untyped-def]
    proj = project(server, factory)
    build: RunningJob = start_job(server, proj)
    assert upload(server, build, zip_bytes({"x": "1"})).status_code == 201
    stray = server.settings.data_dir / "ci" / "artifacts" / str(proj.ref.repo.id) / str(build.id) / "deadbeef.zip"
    stray.write_bytes(b"left by a crash")
    artifacts.remove_orphans(server.engine, server.settings, older_than=0)
    assert not stray.exists()
    files = _stored_files(server, build.id)
    assert len(files) == 1 and zipfile.is_zipfile(files[0])


def test_the_latest_successful_pipeline_of_a_ref_keeps_its_artifacts(server, factory) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import update

    from ci.models import Job, Pipeline

    proj = project(server, factory)
    old = start_job(server, proj)
    assert upload(server, old, zip_bytes({"v": "1"}), expire_in="1").status_code == 201
    finish(server, old)

    def succeed(pipeline_id: int) -> None:
        with session_scope(server.engine) as s:
            s.execute(update(Pipeline).where(col(Pipeline.id) == pipeline_id).values(status="success"))

    succeed(proj.pipeline_id)
    later = utcnow() + timedelta(seconds=5)
    artifacts.remove_expired(server.engine, server.settings, now=later)
    assert len(_rows(server, old.id)) == 1  # expired, but the newest successful build of main: kept
    with session_scope(server.engine) as s:
        job = s.get(Job, old.id)
        assert job is not None
        facts = artifacts.job_page_facts(s, job)["artifacts_archive"]
        assert facts is not None and not facts.expired
    # A newer successful pipeline on main unlocks it; one on another branch would not.
    other_branch = new_pipeline(server, proj, branch="feature")
    succeed(other_branch)
    artifacts.remove_expired(server.engine, server.settings, now=later)
    assert len(_rows(server, old.id)) == 1
    newer = new_pipeline(server, proj)
    succeed(newer)
    artifacts.remove_expired(server.engine, server.settings, now=later)
    assert _rows(server, old.id) == []
    assert _stored_files(server, old.id) == []


def test_racing_uploads_and_clean_ups_do_not_fail(server, factory) -> None:  # type: ignore[no-untyped-def]
    from concurrent.futures import ThreadPoolExecutor

    proj = project(server, factory)
    build = start_job(server, proj)
    archives = [zip_bytes({"n.txt": str(i)}) for i in range(6)]
    with ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(lambda a: upload(server, build, a).status_code, archives))
    assert codes == [201] * 6
    rows = _rows(server, build.id)
    assert len(rows) == 1
    test = start_job(server, proj, "test")
    assert download(server, test, build.id).content in archives
    assert len(_stored_files(server, build.id)) == 1

    for name in ("a", "b", "c"):
        job = start_job(server, proj, name)
        assert upload(server, job, zip_bytes({name: name}), expire_in="1").status_code == 201
    later = utcnow() + timedelta(seconds=5)
    with ThreadPoolExecutor(4) as pool:
        counts = list(pool.map(lambda _: artifacts.remove_expired(server.engine, server.settings, now=later),
                               range(4)))
    assert sum(counts) >= 3
    assert len(_rows(server, build.id)) == 1  # not expired: untouched
