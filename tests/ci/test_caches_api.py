"""The runner protocol's cache calls over real HTTP: save, restore, miss, replacement, the size limit, protected
and unprotected refs kept apart (and ``cache:unprotect``), key rules, and the clean-up of unused caches."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update
from sqlmodel import col

from ci import artifacts, caches
from ci.models.artifacts import CacheEntry
from forge.db.engine import session_scope
from forge.db.models_base import utcnow
from forge.repos.protection import save_rule
from tests.ci.artifact_helpers import Project, RunningJob, new_pipeline, project, runner_client, start_job, zip_bytes


def _put(server, job: RunningJob, key: str, content: bytes) -> httpx.Response:  # type: ignore[no-untyped-def]
    with runner_client(server, job.token) as c:
        return c.put(f"/jobs/{job.id}/cache", params={"key": key}, content=content)


def _get(server, job: RunningJob, key: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    with runner_client(server, job.token) as c:
        return c.get(f"/jobs/{job.id}/cache", params={"key": key})


def _entries(server, proj: Project) -> dict[str, CacheEntry]:  # type: ignore[no-untyped-def]
    with session_scope(server.engine) as s:
        rows = s.execute(select(CacheEntry).where(col(CacheEntry.repo_id) == proj.ref.repo.id)).scalars()
        return {r.key: r for r in rows}


def _protect(server, proj: Project, pattern: str) -> None:  # type: ignore[no-untyped-def]
    with session_scope(server.engine) as s:
        save_rule(s, proj.owner, proj.ref, pattern)


def test_save_restore_miss_and_replace(server, factory) -> None:  # type: ignore[no-untyped-def]
    proj = project(server, factory)
    first = start_job(server, proj)
    assert _get(server, first, "deps").status_code == 404  # a miss is a plain 404
    one = zip_bytes({"node_modules/a.js": "1"})
    resp = _put(server, first, "deps", one)
    assert resp.status_code == 201, resp.text
    assert resp.json() == {"size": len(one), "key": "deps-non_protected"}
    # The next pipeline restores it.
    second = start_job(server, proj, pipeline_id=new_pipeline(server, proj))
    got = _get(server, second, "deps")
    assert got.status_code == 200 and got.content == one
    two = zip_bytes({"node_modules/a.js": "2", "node_modules/b.js": "3"})
    assert _put(server, second, "deps", two).status_code == 201
    assert _get(server, second, "deps").content == two
    assert _get(server, second, "other").status_code == 404
    entries = _entries(server, proj)
    assert list(entries) == ["deps-non_protected"]
    stored = list((server.settings.data_dir / "ci" / "caches" / str(proj.ref.repo.id)).iterdir())
    assert len(stored) == 1  # the replaced archive was removed


def test_protected_and_unprotected_refs_do_not_share(server, factory) -> None:  # type: ignore[no-untyped-def]
    proj = project(server, factory, branch="main")
    _protect(server, proj, "main")
    protected = start_job(server, proj)
    safe = zip_bytes({"tool": "from main"})
    assert _put(server, protected, "tools", safe).json()["key"] == "tools-protected"

    feature = start_job(server, proj, pipeline_id=new_pipeline(server, proj, branch="feature"))
    assert _get(server, feature, "tools").status_code == 404  # main's cache is not visible
    poison = zip_bytes({"tool": "from a feature branch"})
    assert _put(server, feature, "tools", poison).json()["key"] == "tools-non_protected"
    # main still restores its own cache.
    again = start_job(server, proj, pipeline_id=new_pipeline(server, proj, branch="main"))
    assert _get(server, again, "tools").content == safe
    # A branch matching a pattern rule is protected too.
    _protect(server, proj, "release/*")
    release = start_job(server, proj, pipeline_id=new_pipeline(server, proj, branch="release/1.0"))
    assert _get(server, release, "tools").content == safe


def test_cache_unprotect_shares_the_key(server, factory) -> None:  # type: ignore[no-untyped-def]
    proj = project(server, factory, branch="main")
    _protect(server, proj, "main")
    spec = {"cache": [{"key": "shared", "paths": ["x"], "unprotect": True, "policy": "pull-push",
                       "when": "on_success", "untracked": False, "fallback_keys": []}]}
    on_main = start_job(server, proj, **spec)
    archive = zip_bytes({"x": "shared"})
    assert _put(server, on_main, "shared", archive).json()["key"] == "shared-non_protected"
    feature = start_job(server, proj, pipeline_id=new_pipeline(server, proj, branch="feature"), **spec)
    assert _get(server, feature, "shared").content == archive


def test_tags_count_as_unprotected(server, factory) -> None:  # type: ignore[no-untyped-def]
    proj = project(server, factory, branch="v1.0", ref_kind="tag")
    _protect(server, proj, "v1.0")  # a branch rule; it does not protect the tag of the same name
    job = start_job(server, proj)
    assert _put(server, job, "k", zip_bytes({"a": "b"})).json()["key"] == "k-non_protected"


@pytest.mark.parametrize("key", ["", "a/b", "a%2Fb", ".", "..", "%2E%2E", "x" * 256])
def test_bad_keys_are_refused(server, factory, key: str) -> None:  # type: ignore[no-untyped-def]
    proj = project(server, factory)
    job = start_job(server, proj)
    resp = _get(server, job, key)
    assert resp.status_code == 422 and resp.json()["error"]
    assert _put(server, job, key, zip_bytes({"a": "b"})).status_code == 422


@pytest.fixture
def one_mib_cache(server) -> Iterator[None]:  # type: ignore[no-untyped-def]
    before = server.settings.ci_cache_max_mb
    server.settings.ci_cache_max_mb = 1
    yield
    server.settings.ci_cache_max_mb = before


def test_oversized_or_hostile_caches_are_refused(server, factory, one_mib_cache) -> None:  # type: ignore[no-untyped-def]
    proj = project(server, factory)
    job = start_job(server, proj)
    good = zip_bytes({"ok": "1"})
    assert _put(server, job, "k", good).status_code == 201
    assert _put(server, job, "k", b"z" * (1024 * 1024 + 10)).status_code == 413
    assert _put(server, job, "k", zip_bytes({"../../.bashrc": "evil"})).status_code == 400
    assert _get(server, job, "k").content == good


def test_a_finished_job_cannot_use_caches(server, factory) -> None:  # type: ignore[no-untyped-def]
    proj = project(server, factory)
    job = start_job(server, proj)
    with runner_client(server, job.token) as c:
        c.post(f"/jobs/{job.id}/state", json={"state": "success", "exit_code": 0})
    resp = _put(server, job, "k", zip_bytes({"a": "b"}))
    assert resp.status_code == 409 and "not running" in resp.json()["error"]


def test_unused_caches_are_removed_after_30_days(server, factory) -> None:  # type: ignore[no-untyped-def]
    proj = project(server, factory)
    job = start_job(server, proj)
    assert _put(server, job, "old", zip_bytes({"a": "1"})).status_code == 201
    assert _put(server, job, "fresh", zip_bytes({"b": "2"})).status_code == 201
    with session_scope(server.engine) as s:
        s.execute(update(CacheEntry).where(col(CacheEntry.repo_id) == proj.ref.repo.id,
                                           col(CacheEntry.key) == "old-non_protected")
                  .values(last_used_at=utcnow() - timedelta(days=31)))
    assert caches.remove_unused(server.engine, server.settings) >= 1
    assert list(_entries(server, proj)) == ["fresh-non_protected"]
    stored = list((server.settings.data_dir / "ci" / "caches" / str(proj.ref.repo.id)).iterdir())
    assert len(stored) == 1
    assert _get(server, job, "old").status_code == 404
    assert _get(server, job, "fresh").status_code == 200
    # The whole periodic clean-up runs without error, too.
    artifacts.clean_up(server.engine, server.settings)


def test_racing_saves_of_one_key_leave_one_file(server, factory) -> None:  # type: ignore[no-untyped-def]
    from concurrent.futures import ThreadPoolExecutor

    proj = project(server, factory)
    jobs = [start_job(server, proj, f"j{i}") for i in range(5)]
    archives = [zip_bytes({"n": str(i)}) for i in range(5)]
    with ThreadPoolExecutor(5) as pool:
        pairs = zip(jobs, archives, strict=True)
        codes = list(pool.map(lambda ja: _put(server, ja[0], "same", ja[1]).status_code, pairs))
    assert codes == [201] * 5
    assert _get(server, jobs[0], "same").content in archives
    stored = list((server.settings.data_dir / "ci" / "caches" / str(proj.ref.repo.id)).iterdir())
    assert len(stored) == 1
