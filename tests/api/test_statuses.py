"""The commit status API (GitHub's paths, GitLab's state names accepted too) against the live server, with
commits and pipelines made by real pushes."""

from __future__ import annotations

import httpx

from tests.factories import PASSWORD
from tests.web.test_ci_pages import _icon_state, _setup


def _api(server, token: str | None = None) -> httpx.Client:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"token {token}"} if token else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=30)


def test_status_api_posts_and_lists(server, factory, git, web):  # type: ignore[no-untyped-def]
    owner, ref, pushed, pipeline = _setup(server, factory, git, "job:\n  script: [x]\n")
    token = factory.token(owner, ["write:repo"])
    url = f"/api/v1/repos/{ref.full_name}/statuses/{pushed.sha}"
    with _api(server, token) as api:
        resp = api.post(url, json={"state": "failure", "context": "lint/ext", "description": "3 problems",
                                   "target_url": "https://ci.example.com/7"})
        assert resp.status_code == 201, resp.text
        body = resp.json()
        assert (body["state"], body["context"], body["description"]) == ("failed", "lint/ext", "3 problems")
        assert body["creator"]["login"] == owner.name and body["target_url"] == "https://ci.example.com/7"
        # Posting the same context again updates it.
        assert api.post(url, json={"state": "success", "context": "lint/ext"}).status_code == 201
        listed = api.get(url).json()
        assert [(s["context"], s["state"]) for s in listed] == [("ci/forge", "running"), ("lint/ext", "success")]
        assert listed[0]["target_url"] == f"{server.url}/{ref.full_name}/-/pipelines/{pipeline.id}"
        combined = api.get(f"/api/v1/repos/{ref.full_name}/commits/main/status").json()
        assert combined["state"] == "running" and combined["sha"] == pushed.sha and combined["total_count"] == 2

        bad = api.post(url, json={"state": "great", "context": "", "target_url": "javascript:alert(1)"})
        assert bad.status_code == 422
        fields = {e["field"] for e in bad.json()["errors"]}
        assert fields == {"state", "target_url"}  # an empty context means "default", as on GitHub
        assert api.post(url, content=b"not json").status_code == 422
        assert api.post(f"/api/v1/repos/{ref.full_name}/statuses/{'0' * 40}",
                        json={"state": "success"}).status_code == 422
        assert api.post(f"/api/v1/repos/{ref.full_name}/statuses/main", json={"state": "success"}).status_code == 422
    # The external status shows next to the commit.
    commits = web.get(f"/{ref.full_name}/commits/main")
    assert _icon_state(commits.text, f"/{ref.full_name}/-/pipelines/{pipeline.id}") == "running"
    commit_page = web.get(f"/{ref.full_name}/commit/{pushed.sha}")
    assert "lint/ext" in commit_page.text and 'href="https://ci.example.com/7"' not in commit_page.text


def test_status_api_auth(server, factory, git, web):  # type: ignore[no-untyped-def]
    owner, ref, pushed, _ = _setup(server, factory, git, "job:\n  script: [x]\n")
    url = f"/api/v1/repos/{ref.full_name}/statuses/{pushed.sha}"
    payload = {"state": "success", "context": "x"}
    with _api(server) as anonymous:
        assert anonymous.post(url, json=payload).status_code == 401
        assert anonymous.get(url).status_code == 200  # public repository: anyone may read
    with _api(server, "frt_not-a-token") as wrong:
        assert wrong.post(url, json=payload).status_code == 401
    with _api(server, factory.token(owner, ["read:repo"])) as read_only:
        assert read_only.post(url, json=payload).status_code == 403
    stranger = factory.user()
    with _api(server, factory.token(stranger, ["write:repo"])) as other:
        assert other.post(url, json=payload).status_code == 403
    # A browser session must send the page's CSRF token (a cross-site request cannot).
    web.login(owner.name, PASSWORD)
    refused = web.client.post(url, json=payload)
    assert refused.status_code == 403 and "CSRF" in refused.json()["message"]
    sent = web.client.post(url, json=payload, headers={"X-CSRF-Token": web.csrf()})
    assert sent.status_code == 201 and sent.json()["creator"]["login"] == owner.name

    _, private, private_push, _ = _setup(server, factory, git, "job:\n  script: [x]\n", private=True)
    private_url = f"/api/v1/repos/{private.full_name}/statuses/{private_push.sha}"
    with _api(server, factory.token(stranger, ["write:repo"])) as other:
        assert other.get(private_url).status_code == 404
        assert other.post(private_url, json=payload).status_code == 404
        assert other.get(f"/api/v1/repos/{private.full_name}/commits/main/status").status_code == 404
    with _api(server) as anonymous:
        assert anonymous.get(private_url).status_code == 404
