"""The pipelines API: run, list (filters, pages), read, cancel, retry, and who may do what."""

from __future__ import annotations

import httpx

from tests.api.ci_helpers import auth, ci_repo, error, ok


def test_run_list_and_get(server, factory, git):  # type: ignore[no-untyped-def]
    proj = ci_repo(server, factory, git)
    writer = auth(factory.token(proj.owner, ["write:repo"]))
    created = ok(httpx.post(proj.url("/pipelines"), headers=writer,
                            json={"ref": "main", "variables": [{"key": "EXTRA", "value": "1"}]}), 201)
    assert created["source"] == "api" and created["ref"] == "main" and created["sha"] == proj.sha
    assert created["user"]["login"] == proj.owner.name
    assert created["jobs_count"] == 3 and created["status"] == "running"
    assert created["html_url"].endswith(f"/{proj.ref.full_name}/-/pipelines/{created['id']}")

    listed = httpx.get(proj.url("/pipelines"))  # a public repository: anonymous reads
    assert [p["id"] for p in ok(listed)] == [created["id"], proj.push_pipeline_id]
    assert listed.headers["X-Total-Count"] == "2"
    assert [p["id"] for p in ok(httpx.get(proj.url("/pipelines"), params={"source": "push"}))] == \
        [proj.push_pipeline_id]
    assert ok(httpx.get(proj.url("/pipelines"), params={"ref": "other"})) == []
    first = httpx.get(proj.url("/pipelines"), params={"per_page": 1})
    assert [p["id"] for p in ok(first)] == [created["id"]]
    assert 'rel="next"' in first.headers["Link"] and 'rel="last"' in first.headers["Link"]
    second = httpx.get(proj.url("/pipelines"), params={"per_page": 1, "page": 2})
    assert [p["id"] for p in ok(second)] == [proj.push_pipeline_id]

    got = ok(httpx.get(proj.url(f"/pipelines/{created['id']}")))
    assert got == created
    jobs = ok(httpx.get(proj.url(f"/pipelines/{created['id']}/jobs")))
    assert [(j["name"], j["stage"], j["status"]) for j in jobs] == [
        ("build", "build", "pending"), ("test", "test", "created"), ("deploy", "deploy", "created")]
    assert all(j["pipeline_id"] == created["id"] and j["sha"] == proj.sha for j in jobs)


def test_errors(server, factory, git):  # type: ignore[no-untyped-def]
    proj = ci_repo(server, factory, git)
    other = ci_repo(server, factory, git)
    stranger = factory.user()
    reader = auth(factory.token(proj.owner, ["read:repo"]))
    writer = auth(factory.token(proj.owner, ["write:repo"]))
    assert "Authentication" in error(httpx.post(proj.url("/pipelines"), json={"ref": "main"}), 401)
    assert "write:repo" in error(httpx.post(proj.url("/pipelines"), headers=reader, json={"ref": "main"}), 403)
    stranger_token = auth(factory.token(stranger, ["write:repo"]))
    error(httpx.post(proj.url("/pipelines"), headers=stranger_token, json={"ref": "main"}), 403)
    assert "nope" in error(httpx.post(proj.url("/pipelines"), headers=writer, json={"ref": "nope"}), 422)
    bad_var = {"ref": "main", "variables": [{"key": "1BAD", "value": ""}]}
    assert "1BAD" in error(httpx.post(proj.url("/pipelines"), headers=writer, json=bad_var), 422)
    error(httpx.post(proj.url("/pipelines"), headers=writer, json={"ref": "main", "extra": 1}), 422)
    error(httpx.get(proj.url("/pipelines"), params={"status": "bogus"}), 422)
    # Another repository's pipeline is not found here.
    error(httpx.get(proj.url(f"/pipelines/{other.push_pipeline_id}")), 404)
    error(httpx.get(proj.url("/pipelines/0")), 422)


def test_private_repository_is_hidden(server, factory, git):  # type: ignore[no-untyped-def]
    proj = ci_repo(server, factory, git, private=True)
    assert error(httpx.get(proj.url("/pipelines")), 404) == "Repository not found."
    error(httpx.get(proj.url(f"/pipelines/{proj.push_pipeline_id}")), 404)
    no_repo_scope = auth(factory.token(proj.owner, ["read:issue"]))
    error(httpx.get(proj.url("/pipelines"), headers=no_repo_scope), 404)
    reader = auth(factory.token(proj.owner, ["read:repo"]))
    assert len(ok(httpx.get(proj.url("/pipelines"), headers=reader))) == 1


def test_cancel_and_retry(server, factory, git):  # type: ignore[no-untyped-def]
    proj = ci_repo(server, factory, git)
    writer = auth(factory.token(proj.owner, ["write:repo"]))
    path = f"/pipelines/{proj.push_pipeline_id}"
    error(httpx.post(proj.url(path + "/cancel")), 401)
    assert "no failed" in error(httpx.post(proj.url(path + "/retry"), headers=writer), 422)
    canceled = ok(httpx.post(proj.url(path + "/cancel"), headers=writer))
    assert canceled["status"] == "canceled" and canceled["id"] == proj.push_pipeline_id
    assert "nothing left" in error(httpx.post(proj.url(path + "/cancel"), headers=writer), 422)
    retried = ok(httpx.post(proj.url(path + "/retry"), headers=writer))
    assert retried["status"] == "running"
    latest = ok(httpx.get(proj.url(path + "/jobs")))
    assert len(latest) == 3 and latest[0]["retry_of_id"] is not None
    every = httpx.get(proj.url(path + "/jobs"), params={"include_retried": "true", "per_page": 4})
    assert len(ok(every)) == 4 and every.headers["X-Total-Count"] == "6"


def test_odd_input_is_refused_not_crashing(server, factory, git):  # type: ignore[no-untyped-def]
    proj = ci_repo(server, factory, git)
    writer = auth(factory.token(proj.owner, ["write:repo"]))
    for body in ({"ref": "ma\x00in"}, {"ref": "main", "variables": [{"key": "A\x00", "value": ""}]},
                 {"ref": "-x"}, {"ref": "a..b"}):
        resp = httpx.post(proj.url("/pipelines"), headers=writer, json=body)
        assert resp.status_code == 422, (body, resp.text)
    # A variable's value is the job's business (the web form takes it too).
    nul_value = {"ref": "main", "variables": [{"key": "A", "value": "x\x00y"}]}
    ok(httpx.post(proj.url("/pipelines"), headers=writer, json=nul_value), 201)
    error(httpx.get(proj.url("/pipelines"), params={"ref": "a\x00"}), 422)
    assert ok(httpx.get(proj.url("/pipelines"), params={"ref": "é" * 200})) == []


def test_test_report_of_a_pipeline_without_reports(server, factory, git):  # type: ignore[no-untyped-def]
    proj = ci_repo(server, factory, git)
    path = f"/pipelines/{proj.push_pipeline_id}"
    full = ok(httpx.get(proj.url(path + "/test_report")))
    assert full == {"total_time": 0, "total_count": 0, "success_count": 0, "failed_count": 0, "skipped_count": 0,
                    "error_count": 0, "test_suites": []}
    summary = ok(httpx.get(proj.url(path + "/test_report_summary")))
    assert summary["total"]["count"] == 0 and summary["test_suites"] == []
    assert "Incorrect" in error(httpx.get(proj.url(path + "/test_report"), headers=auth("nope")), 401)
