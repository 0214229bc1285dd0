"""Artifact pages as a reader sees them, over real HTTP: the job page's block, download, browse (directories as a
page, files raw and sandboxed), Keep and Delete for writers, GitLab's latest-artifacts URLs, the repository's
artifacts and caches page, and 404 for strangers on a private repository."""

from __future__ import annotations

import io
import zipfile

from sqlalchemy import select, update
from sqlmodel import col

from ci.models import Pipeline
from ci.models.artifacts import Artifact
from forge.db.engine import session_scope
from forge.repos import services as repos
from tests.ci.artifact_helpers import Project, RunningJob, finish, project, runner_client, start_job, upload, zip_bytes
from tests.factories import PASSWORD

ARCHIVE = zip_bytes({
    "dist/": b"",
    "dist/app.txt": "hello from the build\n",
    "dist/logo.png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 20,
    "dist/page.html": "<script>alert(1)</script>",
    "dist/tool.bin": b"\x00\x01\x02binary",
    "README.md": "# notes\n",
    "报告/结果.txt": "中文内容\n",
}, links={"dist/latest": "app.txt"})


def _built(server, factory, *, private: bool = False, name: str = "build") -> tuple[Project, RunningJob]:  # type: ignore[no-untyped-def]
    proj = project(server, factory, private=private)
    job = start_job(server, proj, name, artifacts={"name": "my-build-$CI_JOB_ID", "paths": ["dist/"],
                                                   "expire_in": None})
    resp = upload(server, job, ARCHIVE, expire_in="604800")
    assert resp.status_code == 201, resp.text
    return proj, job


def _base(proj: Project, job: RunningJob) -> str:
    return f"/{proj.ref.full_name}/-/jobs/{job.id}"


def test_job_page_block_download_and_browse(server, factory, web) -> None:  # type: ignore[no-untyped-def]
    proj, job = _built(server, factory)
    base = _base(proj, job)
    web.login(proj.owner.name, PASSWORD)
    page = web.get(base)
    assert page.status_code == 200
    assert "Job artifacts" in page.text
    assert f'href="{base}/artifacts/download"' in page.text and f'href="{base}/artifacts/browse"' in page.text
    assert "Expire in 6 days" in page.text or "Expire in 1 week" in page.text
    assert f'action="{base}/artifacts/keep"' in page.text and f'action="{base}/artifacts/delete"' in page.text

    got = web.get(f"{base}/artifacts/download")
    assert got.status_code == 200 and got.content == ARCHIVE
    assert got.headers["content-type"] == "application/zip"
    assert 'filename="my-build-$CI_JOB_ID.zip"' in got.headers["content-disposition"]

    root = web.get(f"{base}/artifacts/browse")
    assert root.status_code == 200
    assert f'href="{base}/artifacts/browse/dist"' in root.text and "README.md" in root.text
    assert "报告/" in root.text
    sub = web.get(f"{base}/artifacts/browse/dist")
    assert sub.status_code == 200
    for name in ("app.txt", "logo.png", "page.html", "tool.bin", "latest"):
        assert f"{base}/artifacts/browse/dist/{name}" in sub.text
    assert "symbolic link" in sub.text
    assert "README.md" not in sub.text

    text = web.get(f"{base}/artifacts/browse/dist/app.txt")
    assert text.status_code == 200 and text.text == "hello from the build\n"
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    assert text.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in text.headers["content-security-policy"]
    html = web.get(f"{base}/artifacts/browse/dist/page.html")
    assert html.headers["content-type"] == "text/plain; charset=utf-8"  # never rendered as a page
    assert web.get(f"{base}/artifacts/browse/dist/logo.png").headers["content-type"] == "image/png"
    assert web.get(f"{base}/artifacts/browse/dist/tool.bin").headers["content-type"] == "application/octet-stream"
    assert web.get(f"{base}/artifacts/browse/dist/latest").text == "app.txt"
    chinese = web.get(f"{base}/artifacts/browse/报告/结果.txt")
    assert chinese.status_code == 200 and chinese.text == "中文内容\n"
    attachment = web.get(f"{base}/artifacts/raw/dist/app.txt", params={"download": "1"})
    assert attachment.status_code == 200 and 'filename="app.txt"' in attachment.headers["content-disposition"]
    assert web.get(f"{base}/artifacts/browse/nope").status_code == 404
    assert web.get(f"{base}/artifacts/raw/dist").status_code == 404


def test_private_repository_artifacts_are_404_for_strangers(server, factory, web) -> None:  # type: ignore[no-untyped-def]
    proj, job = _built(server, factory, private=True)
    base = _base(proj, job)
    paths = [f"{base}/artifacts/download", f"{base}/artifacts/browse", f"{base}/artifacts/browse/dist/app.txt",
             f"{base}/artifacts/raw/dist/app.txt", f"/{proj.ref.full_name}/-/artifacts"]
    for path in paths:  # anonymous: a hidden repository is "not found" (or a sign-in redirect), never the file
        resp = web.get(path)
        assert resp.status_code in (303, 404) and b"hello from the build" not in resp.content
    stranger = factory.user()
    with web.as_user(stranger.name, PASSWORD) as other:
        for path in paths:
            assert other.get(path).status_code == 404
        assert other.post(f"{base}/artifacts/delete").status_code == 404
    web.login(proj.owner.name, PASSWORD)
    resp = web.get(f"{base}/artifacts/browse/dist/app.txt")
    assert resp.status_code == 200 and resp.headers["cache-control"] == "private, no-cache"


def test_keep_and_delete_need_write_access(server, factory, web) -> None:  # type: ignore[no-untyped-def]
    proj, job = _built(server, factory)
    base = _base(proj, job)
    reader = factory.user()
    with session_scope(server.engine) as s:
        repos.set_collaborator(s, proj.owner, proj.ref, reader, "read")
    with web.as_user(reader.name, PASSWORD) as other:
        page = other.get(base)
        assert "Job artifacts" in page.text and f'action="{base}/artifacts/keep"' not in page.text
        assert other.post(f"{base}/artifacts/keep").status_code == 403
        assert other.post(f"{base}/artifacts/delete").status_code == 403
    web.login(proj.owner.name, PASSWORD)
    resp = web.submit(base, f"{base}/artifacts/keep", {})
    assert resp.status_code == 303
    page = web.follow(resp)
    assert "Kept until deleted" in page.text and f'action="{base}/artifacts/keep"' not in page.text
    with session_scope(server.engine) as s:
        row = s.execute(select(Artifact).where(col(Artifact.job_id) == job.id)).scalars().one()
        assert row.expire_at is None
    resp = web.submit(base, f"{base}/artifacts/delete", {})
    assert resp.status_code == 303
    assert "Job artifacts" not in web.follow(resp).text
    assert web.get(f"{base}/artifacts/download").status_code == 404
    stored = server.settings.data_dir / "ci" / "artifacts" / str(proj.ref.repo.id) / str(job.id)
    assert not stored.exists() or not any(stored.iterdir())


def test_expired_artifacts_are_not_served(server, factory, web) -> None:  # type: ignore[no-untyped-def]
    proj, job = _built(server, factory)
    base = _base(proj, job)
    from datetime import timedelta

    from forge.db.models_base import utcnow

    with session_scope(server.engine) as s:
        s.execute(update(Artifact).where(col(Artifact.job_id) == job.id).values(expire_at=utcnow() - timedelta(1)))
    web.login(proj.owner.name, PASSWORD)
    assert "have expired" in web.get(base).text
    assert web.get(f"{base}/artifacts/download").status_code == 404
    assert web.get(f"{base}/artifacts/browse").status_code == 404


def test_latest_artifacts_of_a_ref(server, factory, web) -> None:  # type: ignore[no-untyped-def]
    proj, job = _built(server, factory)
    finish(server, job)
    with session_scope(server.engine) as s:
        s.execute(update(Pipeline).where(col(Pipeline.id) == proj.pipeline_id).values(status="success"))
    web.login(proj.owner.name, PASSWORD)
    base = f"/{proj.ref.full_name}/-/jobs/artifacts/main"
    got = web.get(f"{base}/download", params={"job": "build"})
    assert got.status_code == 200
    with zipfile.ZipFile(io.BytesIO(got.content)) as zf:
        assert zf.read("dist/app.txt") == b"hello from the build\n"
    assert web.get(f"{base}/raw/dist/app.txt", params={"job": "build"}).text == "hello from the build\n"
    browse = web.get(f"{base}/browse", params={"job": "build"})
    assert browse.status_code == 302 and browse.headers["location"].endswith(f"/-/jobs/{job.id}/artifacts/browse/")
    assert web.get(f"{base}/download", params={"job": "deploy"}).status_code == 404
    assert web.get(f"/{proj.ref.full_name}/-/jobs/artifacts/other/download?job=build").status_code == 404


def test_repository_artifacts_and_caches_page(server, factory, web) -> None:  # type: ignore[no-untyped-def]
    proj, job = _built(server, factory)
    cache = zip_bytes({"vendor/lib": "x" * 3000})
    with runner_client(server, job.token) as c:
        assert c.put(f"/jobs/{job.id}/cache", params={"key": "deps"}, content=cache).status_code == 201
    web.login(proj.owner.name, PASSWORD)
    page = web.get(f"/{proj.ref.full_name}/-/artifacts")
    assert page.status_code == 200
    assert f"/-/jobs/{job.id}/artifacts/download" in page.text
    assert "1 stored file" in page.text
    assert "deps-non_protected" in page.text
    from ci import artifacts

    with session_scope(server.engine) as s:
        stored, cached = artifacts.storage_totals(s)
    assert stored >= len(ARCHIVE) and cached >= len(cache)
    resp = web.submit(f"/{proj.ref.full_name}/-/artifacts", f"/{proj.ref.full_name}/-/artifacts/caches/clear", {})
    assert resp.status_code == 303
    after = web.follow(resp)
    assert "deps-non_protected" not in after.text and "were cleared" in after.text
    with runner_client(server, job.token) as c:
        assert c.get(f"/jobs/{job.id}/cache", params={"key": "deps"}).status_code == 404
