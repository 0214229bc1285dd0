"""The runners API: lists for a repository, an organisation and the site, pause/resume and delete, permissions."""

from __future__ import annotations

import httpx

from ci.tokens import Scope
from tests.api.ci_helpers import auth, error, ok
from tests.ci.runner_helpers import register, registration_token
from tests.factories import PASSWORD


def test_repository_and_organisation_runners(server, factory):  # type: ignore[no-untyped-def]
    owner = factory.user()
    org = factory.org(owner)
    ref = factory.repo(org, actor=owner)
    repo_runner = register(server.engine, registration_token(server.engine, owner, Scope.repo(ref.repo)))
    org_runner = register(server.engine, registration_token(server.engine, owner, Scope.org(org)))
    api = f"{server.url}/api/v1"

    admin_repo = auth(factory.token(owner, ["admin:repo"]))
    listed = ok(httpx.get(f"{api}/repos/{ref.full_name}/runners", headers=admin_repo))
    by_id = {r["id"]: r for r in listed}
    assert by_id[repo_runner.id]["scope"] == "repo" and by_id[repo_runner.id]["owner"] == ref.full_name
    assert by_id[org_runner.id]["scope"] == "org" and by_id[org_runner.id]["owner"] == org.name
    assert repo_runner.label in by_id[repo_runner.id]["tags"]
    assert by_id[repo_runner.id]["status"] == "online" and by_id[repo_runner.id]["version"] == "test"
    assert "token" not in str(by_id[repo_runner.id]).lower()

    error(httpx.get(f"{api}/repos/{ref.full_name}/runners"), 401)
    assert "admin:repo" in error(httpx.get(f"{api}/repos/{ref.full_name}/runners",
                                           headers=auth(factory.token(owner, ["write:repo"]))), 403)
    stranger = factory.user()
    error(httpx.get(f"{api}/repos/{ref.full_name}/runners", headers=auth(factory.token(stranger, ["admin:repo"]))),
          403)

    org_list = ok(httpx.get(f"{api}/orgs/{org.name}/runners", headers=auth(factory.token(owner, ["admin:org"]))))
    assert [r["id"] for r in org_list] == [org_runner.id]
    assert "admin:org" in error(httpx.get(f"{api}/orgs/{org.name}/runners", headers=admin_repo), 403)
    error(httpx.get(f"{api}/orgs/{org.name}/runners", headers=auth(factory.token(stranger, ["admin:org"]))), 403)
    error(httpx.get(f"{api}/orgs/no-such-org-x/runners", headers=auth(factory.token(owner, ["admin:org"]))), 404)


def test_site_admin_runners(server, factory):  # type: ignore[no-untyped-def]
    admin = factory.user(admin=True)
    runner = register(server.engine, registration_token(server.engine, admin, Scope.instance()))
    api = f"{server.url}/api/v1/admin/runners"
    headers = auth(factory.token(admin, ["admin"]))

    first = httpx.get(api, headers=headers, params={"per_page": 1})
    assert [r["id"] for r in ok(first)] == [runner.id]  # newest first
    assert int(first.headers["X-Total-Count"]) >= 1
    got = ok(httpx.get(f"{api}/{runner.id}", headers=headers))
    assert got["scope"] == "instance" and got["owner"] == "" and got["active"] is True

    paused = ok(httpx.patch(f"{api}/{runner.id}", headers=headers, json={"paused": True}))
    assert paused["status"] == "paused" and paused["active"] is False
    resumed = ok(httpx.patch(f"{api}/{runner.id}", headers=headers, json={"paused": False}))
    assert resumed["active"] is True
    error(httpx.patch(f"{api}/{runner.id}", headers=headers, json={"paused": "maybe"}), 422)

    user = factory.user()
    assert "admin" in error(httpx.get(api, headers=auth(factory.token(user, ["read:user"]))), 403)
    web_user = httpx.get(api, auth=(user.name, PASSWORD))
    assert "administrators" in error(web_user, 403)
    assert "admin" in error(httpx.get(api, headers=auth(factory.token(admin, ["read:repo"]))), 403)
    error(httpx.get(api), 401)

    resp = httpx.delete(f"{api}/{runner.id}", headers=headers)
    assert resp.status_code == 204 and resp.content == b""
    assert "does not exist" in error(httpx.get(f"{api}/{runner.id}", headers=headers), 404)
    error(httpx.delete(f"{api}/{runner.id}", headers=headers), 404)
