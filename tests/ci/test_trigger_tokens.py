"""Trigger tokens and the trigger API over the live server: a pipeline started from outside with variables, the
way GitLab's ``POST /projects/:id/trigger/pipeline`` is called (form fields ``token``, ``ref``,
``variables[KEY]``, or JSON), and every refusal with its status and sentence."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ci import jobstate, pipelines, trigger_tokens
from ci.models import Pipeline
from forge.db.engine import session_scope
from forge.errors import InvalidInput, PermissionDenied
from forge.repos import services as repos
from tests.ci.pipeline_helpers import push_files, wait_seen

CONFIG = """\
deploy:
  script: [./deploy "$DEPLOY_ENV"]
"""

PUSH_ONLY = """\
build:
  rules:
    - if: $CI_PIPELINE_SOURCE == "push"
  script: [make]
"""


def _setup(server: Any, factory: Any, git: Any, config: str = CONFIG, private: bool = False) -> tuple[Any, Any, str]:
    owner = factory.user()
    ref = factory.repo(owner, private=private)
    push_files(git, ref, {".forge-ci.yml": config}, name=f"work-{ref.repo.name}")
    wait_seen(server.engine, ref.repo.id)
    with session_scope(server.engine) as s:
        _, secret = trigger_tokens.create_token(s, owner, repos.get_repo_by_id(s, ref.repo.id), "release server")
    return owner, ref, secret


def _url(server: Any, ref: Any) -> str:
    return f"{server.url}/api/v1/repos/{ref.full_name}/trigger/pipeline"


def _job_variables(server: Any, pipeline_id: int) -> dict[str, str]:
    with session_scope(server.engine) as s:
        job = jobstate.latest_attempts(pipelines.jobs_of(s, pipeline_id))[0]
        return {v["key"]: v["value"] for v in job.spec["variables"]}


def test_a_form_call_starts_a_pipeline_with_its_variables(server, factory, git):  # type: ignore[no-untyped-def]
    owner, ref, secret = _setup(server, factory, git)
    assert secret.startswith("fpt_")
    resp = httpx.post(_url(server, ref), data={"token": secret, "ref": "main", "variables[DEPLOY_ENV]": "staging",
                                                "variables[DRY_RUN]": "1"})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["status"] in ("pending", "running", "created") and body["ref"] == "main"
    assert body["source"] == "trigger"
    assert body["web_url"] == f"{server.url}/{ref.full_name}/-/pipelines/{body['id']}"
    with session_scope(server.engine) as s:
        pipeline = s.get(Pipeline, body["id"])
        assert pipeline is not None and pipeline.source == "trigger" and pipeline.triggered_by_id == owner.id
    values = _job_variables(server, body["id"])
    assert (values["DEPLOY_ENV"], values["DRY_RUN"]) == ("staging", "1")
    assert values["CI_PIPELINE_SOURCE"] == "trigger" and values["CI_PIPELINE_TRIGGERED"] == "true"
    # The page shows when the token was last used.
    with session_scope(server.engine) as s:
        views = trigger_tokens.list_tokens(s, owner, repos.get_repo_by_id(s, ref.repo.id))
        assert views[0].token.last_used_at is not None and views[0].owner is not None


def test_a_json_call_and_query_parameters_work_too(server, factory, git):  # type: ignore[no-untyped-def]
    _, ref, secret = _setup(server, factory, git)
    resp = httpx.post(_url(server, ref), json={"token": secret, "ref": "main", "variables": {"DEPLOY_ENV": "prod"}})
    assert resp.status_code == 201, resp.text
    assert _job_variables(server, resp.json()["id"])["DEPLOY_ENV"] == "prod"
    resp = httpx.post(_url(server, ref), params={"token": secret, "ref": "main", "variables[DEPLOY_ENV]": "qa"})
    assert resp.status_code == 201, resp.text
    assert _job_variables(server, resp.json()["id"])["DEPLOY_ENV"] == "qa"
    # What `curl --form` sends: multipart/form-data.
    fields = {"token": secret, "ref": "main", "variables[DEPLOY_ENV]": "multipart"}
    body = "".join(f'--b0undary\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                   for k, v in fields.items()) + "--b0undary--\r\n"
    resp = httpx.post(_url(server, ref), content=body.encode(),
                      headers={"content-type": "multipart/form-data; boundary=b0undary"})
    assert resp.status_code == 201, resp.text
    assert _job_variables(server, resp.json()["id"])["DEPLOY_ENV"] == "multipart"


def test_a_revoked_or_unknown_token_is_refused(server, factory, git):  # type: ignore[no-untyped-def]
    owner, ref, secret = _setup(server, factory, git)
    wrong = httpx.post(_url(server, ref), data={"token": "fpt_not-a-real-token", "ref": "main"})
    assert wrong.status_code == 401 and "not valid" in wrong.json()["message"]
    with session_scope(server.engine) as s:
        fresh = repos.get_repo_by_id(s, ref.repo.id)
        token_id = trigger_tokens.list_tokens(s, owner, fresh)[0].token.id
        trigger_tokens.revoke_token(s, owner, fresh, token_id)
    revoked = httpx.post(_url(server, ref), data={"token": secret, "ref": "main"})
    assert revoked.status_code == 403 and "revoked" in revoked.json()["message"]
    # A token of another repository does not work here.
    _, _, other_secret = _setup(server, factory, git)
    assert httpx.post(_url(server, ref), data={"token": other_secret, "ref": "main"}).status_code == 401
    with session_scope(server.engine) as s:
        assert [p.source for p in pipelines.list_pipelines(s, ref.repo.id, 1, 50)[0]] == ["push"]


def test_bad_requests_say_what_is_wrong(server, factory, git):  # type: ignore[no-untyped-def]
    _, ref, secret = _setup(server, factory, git)
    unknown_ref = httpx.post(_url(server, ref), data={"token": secret, "ref": "no-such-branch"})
    assert unknown_ref.status_code == 400 and "no-such-branch" in unknown_ref.json()["message"]
    no_ref = httpx.post(_url(server, ref), data={"token": secret})
    assert no_ref.status_code == 400 and "ref" in no_ref.json()["message"]
    no_token = httpx.post(_url(server, ref), data={"ref": "main"})
    assert no_token.status_code == 400 and "token" in no_token.json()["message"]
    bad_name = httpx.post(_url(server, ref), data={"token": secret, "ref": "main", "variables[1X]": "v"})
    assert bad_name.status_code == 400 and "1X" in bad_name.json()["message"]
    bad_json = httpx.post(_url(server, ref), content=b"{nope", headers={"content-type": "application/json"})
    assert bad_json.status_code == 400
    unknown_repo = httpx.post(f"{server.url}/api/v1/repos/nobody/nothing/trigger/pipeline",
                              data={"token": secret, "ref": "main"})
    assert unknown_repo.status_code == 404
    with session_scope(server.engine) as s:
        made = pipelines.list_pipelines(s, ref.repo.id, 1, 50)[0]
    assert [p.source for p in made] == ["push"]  # nothing was started by the refused calls


def test_nothing_to_run_is_a_bad_request(server, factory, git):  # type: ignore[no-untyped-def]
    _, ref, secret = _setup(server, factory, git, PUSH_ONLY)
    resp = httpx.post(_url(server, ref), data={"token": secret, "ref": "main"})
    assert resp.status_code == 400 and "No job" in resp.json()["message"]


def test_a_private_repository_hides_behind_a_wrong_token(server, factory, git):  # type: ignore[no-untyped-def]
    _, ref, secret = _setup(server, factory, git, private=True)
    assert httpx.post(_url(server, ref), data={"token": "fpt_wrong", "ref": "main"}).status_code == 404
    assert httpx.post(_url(server, ref), data={"token": secret, "ref": "main"}).status_code == 201


def test_a_token_stops_working_when_its_owner_loses_write_access(server, factory, git):  # type: ignore[no-untyped-def]
    owner, ref, _ = _setup(server, factory, git)
    maintainer = factory.user()
    with session_scope(server.engine) as s:
        fresh = repos.get_repo_by_id(s, ref.repo.id)
        repos.set_collaborator(s, owner, fresh, maintainer, "admin")
        _, secret = trigger_tokens.create_token(s, maintainer, fresh, "ci bot")
    assert httpx.post(_url(server, ref), data={"token": secret, "ref": "main"}).status_code == 201
    with session_scope(server.engine) as s:
        repos.set_collaborator(s, owner, repos.get_repo_by_id(s, ref.repo.id), maintainer, "read")
    resp = httpx.post(_url(server, ref), data={"token": secret, "ref": "main"})
    assert resp.status_code == 403 and "no longer has write access" in resp.json()["message"]


def test_only_repository_admins_manage_tokens(server, factory, git):  # type: ignore[no-untyped-def]
    owner, ref, _ = _setup(server, factory, git)
    writer = factory.user()
    with session_scope(server.engine) as s:
        fresh = repos.get_repo_by_id(s, ref.repo.id)
        repos.set_collaborator(s, owner, fresh, writer, "write")
        with pytest.raises(PermissionDenied):
            trigger_tokens.create_token(s, writer, fresh, "mine")
        with pytest.raises(PermissionDenied):
            trigger_tokens.list_tokens(s, writer, fresh)
        with pytest.raises(InvalidInput):
            trigger_tokens.create_token(s, owner, fresh, "   ")
