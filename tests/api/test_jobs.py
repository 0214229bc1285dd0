"""The jobs API: read, log (through the runner protocol), play, cancel, retry; errors."""

from __future__ import annotations

import httpx

from tests.api.ci_helpers import auth, ci_repo, error, ok
from tests.ci.artifact_helpers import finish, project, runner_client, start_job, upload, zip_bytes
from tests.ci.pipeline_helpers import finish_job, jobs_by_name


def test_play_cancel_retry(server, factory, git):  # type: ignore[no-untyped-def]
    proj = ci_repo(server, factory, git)
    writer = auth(factory.token(proj.owner, ["write:repo"]))
    pid = proj.push_pipeline_id
    for name in ("build", "test"):
        finish_job(server.engine, pid, name, "success")
    jobs = {name: job.id for name, job in jobs_by_name(server.engine, pid).items()}

    deploy = ok(httpx.get(proj.url(f"/jobs/{jobs['deploy']}")))
    assert deploy["status"] == "manual" and deploy["when"] == "manual" and deploy["runner"] is None
    assert deploy["html_url"].endswith(f"/{proj.ref.full_name}/-/jobs/{jobs['deploy']}")
    built = ok(httpx.get(proj.url(f"/jobs/{jobs['build']}")))
    assert built["status"] == "success" and built["duration"] is not None and built["failure_reason"] == ""

    error(httpx.post(proj.url(f"/jobs/{jobs['deploy']}/play")), 401)
    error(httpx.post(proj.url(f"/jobs/{jobs['deploy']}/play"),
                     headers=auth(factory.token(proj.owner, ["read:repo"]))), 403)
    assert "by hand" in error(httpx.post(proj.url(f"/jobs/{jobs['build']}/play"), headers=writer), 422)
    played = ok(httpx.post(proj.url(f"/jobs/{jobs['deploy']}/play"), headers=writer))
    assert played["status"] == "pending" and played["user"]["login"] == proj.owner.name

    canceled = ok(httpx.post(proj.url(f"/jobs/{jobs['deploy']}/cancel"), headers=writer))
    assert canceled["status"] == "canceled"
    assert "finished" in error(httpx.post(proj.url(f"/jobs/{jobs['deploy']}/cancel"), headers=writer), 422)

    retried = ok(httpx.post(proj.url(f"/jobs/{jobs['deploy']}/retry"), headers=writer), 201)
    assert retried["id"] != jobs["deploy"] and retried["retry_of_id"] == jobs["deploy"]
    assert retried["name"] == "deploy" and retried["status"] == "pending"
    assert "already retried" in error(httpx.post(proj.url(f"/jobs/{jobs['deploy']}/retry"), headers=writer), 422)


def test_job_of_another_repository_is_not_found(server, factory, git):  # type: ignore[no-untyped-def]
    proj = ci_repo(server, factory, git)
    other = ci_repo(server, factory, git, private=True)
    foreign = jobs_by_name(server.engine, other.push_pipeline_id)["build"].id
    assert "does not exist" in error(httpx.get(proj.url(f"/jobs/{foreign}")), 404)
    error(httpx.get(proj.url(f"/jobs/{foreign}/log")), 404)
    error(httpx.get(other.url(f"/jobs/{foreign}")), 404)  # private: anonymous callers do not see it
    error(httpx.get(proj.url("/jobs/99999999999")), 422)


def test_log_runner_and_artifacts(server, factory):  # type: ignore[no-untyped-def]
    proj = project(server, factory)
    job = start_job(server, proj, name="build")
    text = b"\x1b[32mhello\x1b[0m\nsecond line\n"
    with runner_client(server, job.token) as c:
        resp = c.put(f"/jobs/{job.id}/log", params={"offset": 0}, content=text)
    assert resp.status_code == 200, resp.text
    assert upload(server, job, zip_bytes({"out.txt": "x"})).status_code in (200, 201)
    finish(server, job)

    base = f"{server.url}/api/v1/repos/{proj.ref.full_name}"
    log = httpx.get(f"{base}/jobs/{job.id}/log")
    assert log.status_code == 200 and log.headers["content-type"].startswith("text/plain")
    assert log.content == text  # as the raw log shows it: colour codes kept
    got = ok(httpx.get(f"{base}/jobs/{job.id}"))
    assert got["status"] == "success" and got["exit_code"] == 0
    assert got["runner"] == {"id": proj.runner.id, "description": got["runner"]["description"]}
    assert [(a["file_type"], a["filename"]) for a in got["artifacts"]] == [("archive", "artifacts.zip")]
