"""Runner pages: /admin/runners (site administrators), and the "Runners" pages of repository and organisation
settings: who may see them, registration tokens shown once with the register command, revoking, pause, resume and
delete, and what the list shows (scope, labels, online, current jobs)."""

from __future__ import annotations

import re

import httpx

from ci.models import Runner
from ci.tokens import Scope
from forge.accounts import orgs
from forge.db.engine import session_scope
from forge.repos import services as repos
from tests.ci.runner_helpers import make_job, register, registration_token
from tests.factories import PASSWORD

_TOKEN_RE = re.compile(r'<code class="runner-token">(frt_[A-Za-z0-9_-]+)</code>')


def _register_over_http(server, secret: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.post(f"{server.url}/api/v1/runners/register",
                      json={"registration_token": secret, "name": "from-page", "labels": ["docker"]}, timeout=30)


def test_admin_runners_page_is_for_site_admins(server, factory, web):  # type: ignore[no-untyped-def]
    resp = web.get("/admin/runners")
    assert resp.status_code == 303 and resp.headers["location"].startswith("/user/login")
    user = factory.user()
    web.login(user.name, PASSWORD)
    assert web.get("/admin/runners").status_code == 403
    assert web.post("/admin/runners/tokens").status_code == 403


def test_admin_lists_runners_with_their_jobs_and_makes_tokens(server, factory, web):  # type: ignore[no-untyped-def]
    e = server.engine
    admin = factory.user(admin=True)
    owner = factory.user()
    ref = factory.repo(owner)
    runner = register(e, registration_token(e, owner, Scope.repo(ref.repo)), labels=["docker", "arm64"])
    job_id = make_job(e, ref, name="compile", tags=runner.label)
    resp = httpx.post(f"{server.url}/api/v1/runners/jobs/request", json={"wait": 5},
                      headers={"Authorization": f"Bearer {runner.token}"}, timeout=30)
    assert resp.json()["id"] == job_id
    web.login(admin.name, PASSWORD)
    page = web.get("/admin/runners")
    assert page.status_code == 200
    assert 'href="/admin/runners" class="active"' in page.text  # in the admin menu
    row = page.text.split(f'id="runner-{runner.id}"', 1)[1].split("</tr>", 1)[0]
    assert "repository" in row and f'href="/{ref.full_name}"' in row
    assert '<span class="badge">docker</span>' in row and '<span class="badge">arm64</span>' in row
    assert ">online<" in row and "test" in row  # version
    assert f'href="/{ref.full_name}/-/jobs/{job_id}">#{job_id} compile</a>' in row

    made = web.submit("/admin/runners", "/admin/runners/tokens", {})
    assert made.status_code == 200
    match = _TOKEN_RE.search(made.text)
    assert match is not None
    secret = match.group(1)
    assert f"forge-runner register --url {server.url} --token {secret}" in made.text
    assert secret not in web.get("/admin/runners").text  # shown once only
    registered = _register_over_http(server, secret)
    assert registered.status_code == 201
    # Revoking: the token stops registering runners.
    token_id = re.search(r'id="reg-token-(\d+)"', made.text)
    assert token_id is not None
    revoked = web.submit("/admin/runners", f"/admin/runners/tokens/{token_id.group(1)}/revoke", {})
    assert revoked.status_code == 303
    assert _register_over_http(server, secret).status_code == 401
    # Pause shows on the list; delete removes the runner.
    new_id = registered.json()["id"]
    assert web.submit("/admin/runners", f"/admin/runners/{new_id}/pause", {}).status_code == 303
    row = web.get("/admin/runners").text.split(f'id="runner-{new_id}"', 1)[1].split("</tr>", 1)[0]
    assert ">paused<" in row and f"/admin/runners/{new_id}/resume" in row
    assert web.submit("/admin/runners", f"/admin/runners/{new_id}/delete", {}).status_code == 303
    assert f'id="runner-{new_id}"' not in web.get("/admin/runners").text
    assert web.post(f"/admin/runners/{new_id}/pause").status_code == 404


def test_repository_runners_page(server, factory, web):  # type: ignore[no-untyped-def]
    e = server.engine
    owner = factory.user()
    reader = factory.user()
    stranger = factory.user()
    ref = factory.repo(owner, private=True)
    other = factory.repo(owner)
    with session_scope(e) as s:
        repos.set_collaborator(s, owner, ref, reader, "read")
    mine = register(e, registration_token(e, owner, Scope.repo(ref.repo)))
    theirs = register(e, registration_token(e, owner, Scope.repo(other.repo)))
    base = f"/{ref.full_name}/settings/runners"
    assert web.get(base).status_code == 404  # anonymous: the private repository does not exist
    with web.as_user(stranger.name, PASSWORD) as client:
        assert client.get(base).status_code == 404
        assert client.post(f"{base}/tokens").status_code == 404
    with web.as_user(reader.name, PASSWORD) as client:
        assert client.get(base).status_code == 403
        assert client.post(f"{base}/{mine.id}/pause").status_code == 403
    web.login(owner.name, PASSWORD)
    settings = web.get(f"/{ref.full_name}/settings")
    assert f'href="/{ref.full_name}/settings/runners"' in settings.text
    page = web.get(base)
    assert page.status_code == 200
    assert f'id="runner-{mine.id}"' in page.text and f'id="runner-{theirs.id}"' not in page.text
    # Another repository's runner cannot be managed from here.
    assert web.post(f"{base}/{theirs.id}/delete").status_code == 404
    made = web.submit(base, f"{base}/tokens", {})
    match = _TOKEN_RE.search(made.text)
    assert match is not None
    resp = _register_over_http(server, match.group(1))
    assert resp.status_code == 201
    with session_scope(e) as s:
        row = s.get(Runner, resp.json()["id"])
        assert row is not None and (row.scope, row.repo_id) == ("repo", ref.repo.id)


def test_organisation_runners_page(server, factory, web):  # type: ignore[no-untyped-def]
    e = server.engine
    owner = factory.user()
    member = factory.user()
    org = factory.org(owner)
    with session_scope(e) as s:
        orgs.add_member(s, owner, s.merge(org), s.merge(member))
    base = f"/org/{org.name}/settings/runners"
    with web.as_user(member.name, PASSWORD) as client:
        assert client.get(base).status_code == 403
        assert client.post(f"{base}/tokens").status_code == 403
    web.login(owner.name, PASSWORD)
    assert f'href="{base}"' in web.get(f"/org/{org.name}/settings").text
    page = web.get(base)
    assert page.status_code == 200 and "Organisation runners take jobs" in page.text
    made = web.submit(base, f"{base}/tokens", {})
    match = _TOKEN_RE.search(made.text)
    assert match is not None
    resp = _register_over_http(server, match.group(1))
    assert resp.status_code == 201
    page = web.get(base)
    assert f'id="runner-{resp.json()["id"]}"' in page.text and "organisation" in page.text


def test_runner_forms_need_the_csrf_token(server, factory, web):  # type: ignore[no-untyped-def]
    admin = factory.user(admin=True)
    web.login(admin.name, PASSWORD)
    before = web.get("/admin/runners").text.count('id="reg-token-')
    resp = web.post("/admin/runners/tokens", csrf=False)
    assert resp.status_code == 403 and "frt_" not in resp.text
    assert web.get("/admin/runners").text.count('id="reg-token-') == before
