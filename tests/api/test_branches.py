"""The branches, tags and branch protection API against the live server: refs made through it are real git refs,
recorded as pushes, and obey the protection rules it manages."""

from __future__ import annotations

from typing import Any

import httpx

from forge.repos import pushes
from forge.repos import services as repos
from tests.api.test_repos import call


def _setup(factory: Any, scopes: list[str] | None = None) -> tuple[Any, Any, str]:
    owner = factory.user()
    ref = factory.repo(owner, readme=True)
    return owner, ref, factory.token(owner, scopes or ["admin:repo"])


def _push_refs(factory: Any, ref: Any) -> list[tuple[str, bool]]:
    """(ref, deleted) of the repository's push events, newest first."""
    with factory.session() as s:
        fresh = repos.get_repo_by_id(s, ref.repo.id)
        return [(e.ref, e.new_sha == "0" * 40) for e in pushes.recent_events(s, fresh.repo)]


def test_branch_crud_and_push_events(server, factory) -> None:  # type: ignore[no-untyped-def]
    owner, ref, tok = _setup(factory)
    base = f"/repos/{ref.full_name}/branches"
    r = call(server, "GET", base)
    assert r.status_code == 200
    [main] = r.json()
    assert main["name"] == "main" and main["protected"] is False
    assert main["commit"]["message"].startswith("Initial commit")
    assert main["commit"]["url"] == f"{server.url}/{ref.full_name}/commit/{main['commit']['id']}"

    r = call(server, "POST", base, tok, json={"new_branch_name": "feature/x", "from": "main"})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "feature/x" and r.json()["commit"]["id"] == main["commit"]["id"]
    assert _push_refs(factory, ref)[0] == ("refs/heads/feature/x", False)
    r = call(server, "GET", f"{base}/feature/x")
    assert r.status_code == 200 and r.json()["name"] == "feature/x"
    # From a SHA, and from the default branch when "from" is left out.
    sha = main["commit"]["id"]
    assert call(server, "POST", base, tok, json={"new_branch_name": "at-sha", "from": sha}).status_code == 201
    assert call(server, "POST", base, tok, json={"new_branch_name": "plain"}).status_code == 201

    r = call(server, "POST", base, tok, json={"new_branch_name": "plain"})
    assert r.status_code == 422 and "already exists" in r.json()["message"]
    for bad in ("bad..name", "x" * 251, "ok/" + "x" * 251):
        r = call(server, "POST", base, tok, json={"new_branch_name": bad})
        assert r.status_code == 422 and "not a valid name" in r.json()["message"], bad
    r = call(server, "POST", base, tok, json={"new_branch_name": "y", "from": "nosuchref"})
    assert r.status_code == 422 and "nosuchref" in r.json()["message"]
    assert call(server, "POST", base, tok, json={}).status_code == 422

    assert call(server, "DELETE", f"{base}/feature/x", tok).status_code == 204
    assert _push_refs(factory, ref)[0] == ("refs/heads/feature/x", True)
    assert call(server, "GET", f"{base}/feature/x").status_code == 404
    assert call(server, "DELETE", f"{base}/feature/x", tok).status_code == 404
    r = call(server, "DELETE", f"{base}/main", tok)
    assert r.status_code == 403 and "default branch" in r.json()["message"]


def test_branch_scopes_and_visibility(server, factory) -> None:  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner, readme=True, private=True)
    base = f"/repos/{ref.full_name}/branches"
    assert call(server, "GET", base).status_code == 404
    reader = factory.token(owner, ["read:repo"])
    assert call(server, "GET", base, reader).status_code == 200
    r = call(server, "POST", base, reader, json={"new_branch_name": "x"})
    assert r.status_code == 403 and "write:repo" in r.json()["message"]
    assert call(server, "POST", base, json={"new_branch_name": "x"}).status_code == 401
    stranger = factory.token(factory.user(), ["write:repo"])
    assert call(server, "POST", base, stranger, json={"new_branch_name": "x"}).status_code == 404


def test_branch_pagination(server, factory) -> None:  # type: ignore[no-untyped-def]
    owner, ref, tok = _setup(factory, ["write:repo"])
    base = f"/repos/{ref.full_name}/branches"
    for name in ("b1", "b2", "b3", "b4"):
        assert call(server, "POST", base, tok, json={"new_branch_name": name}).status_code == 201
    r = call(server, "GET", base, params={"per_page": 2})
    assert [b["name"] for b in r.json()] == ["b1", "b2"]
    assert r.headers["x-total-count"] == "5"
    assert 'rel="next"' in r.headers["link"] and "page=2" in r.headers["link"] and "page=3" in r.headers["link"]
    r = call(server, "GET", base, params={"per_page": 2, "page": 3})
    assert [b["name"] for b in r.json()] == ["main"]
    assert 'rel="prev"' in r.headers["link"] and 'rel="next"' not in r.headers["link"]
    assert call(server, "GET", base, params={"per_page": 101}).status_code == 422


def test_protection_rules(server, factory) -> None:  # type: ignore[no-untyped-def]
    owner, ref, tok = _setup(factory)
    pusher = factory.user()
    rules = f"/repos/{ref.full_name}/branch_protections"
    branches = f"/repos/{ref.full_name}/branches"
    assert call(server, "POST", branches, tok, json={"new_branch_name": "release/1"}).status_code == 201
    assert call(server, "GET", rules, tok).json() == []

    r = call(server, "POST", rules, tok, json={
        "pattern": "release/*", "restrict_push": True, "push_users": [pusher.name], "required_approvals": 2,
        "required_contexts": ["ci/build", "ci/build", " "], "require_up_to_date": True,
    })
    assert r.status_code == 201, r.text
    rule = r.json()
    assert rule["pattern"] == "release/*" and rule["push_users"] == [pusher.name]
    assert rule["required_contexts"] == ["ci/build"] and rule["allow_deletion"] is False
    assert call(server, "POST", rules, tok, json={"pattern": "release/*"}).status_code == 422
    assert call(server, "GET", f"{branches}/release/1").json()["protected"] is True

    # Protected against deletion: refused, as for a push.
    r = call(server, "DELETE", f"{branches}/release/1", tok)
    assert r.status_code == 403 and "protected" in r.json()["message"]

    r = call(server, "GET", f"{rules}/release/*", tok)
    assert r.status_code == 200 and r.json()["required_approvals"] == 2
    r = call(server, "PATCH", f"{rules}/release/*", tok, json={"allow_deletion": True, "push_users": None})
    assert r.status_code == 200
    assert r.json()["allow_deletion"] is True and r.json()["push_users"] == [pusher.name]
    assert r.json()["required_approvals"] == 2  # unchanged
    assert call(server, "DELETE", f"{branches}/release/1", tok).status_code == 204

    r = call(server, "PATCH", f"{rules}/release/*", tok, json={"pattern": "main", "push_users": []})
    assert r.status_code == 200 and r.json()["pattern"] == "main" and r.json()["push_users"] == []
    assert call(server, "GET", f"{rules}/release/*", tok).status_code == 404

    # Bad input is 422 with a message; teams only exist for organisations' repositories.
    for bad in ({"pattern": "refs/heads/x"}, {"pattern": "x", "required_approvals": 99},
                {"pattern": "x", "push_users": ["nosuchuser"]}, {"pattern": "x", "push_teams": ["t"]}):
        r = call(server, "POST", rules, tok, json=bad)
        assert r.status_code == 422 and r.json()["message"], bad

    # Rules are for repository admins (and admin:repo tokens).
    writer = factory.token(owner, ["write:repo"])
    assert call(server, "GET", rules, writer).status_code == 403
    assert call(server, "POST", rules, writer, json={"pattern": "x"}).status_code == 403
    other = factory.token(factory.user(), ["admin:repo"])
    assert call(server, "GET", rules, other).status_code == 403
    assert call(server, "GET", rules).status_code == 401

    assert call(server, "DELETE", f"{rules}/main", tok).status_code == 204
    assert call(server, "DELETE", f"{rules}/main", tok).status_code == 404
    assert call(server, "GET", rules, tok).json() == []


def test_tags(server, factory) -> None:  # type: ignore[no-untyped-def]
    owner, ref, tok = _setup(factory, ["write:repo"])
    base = f"/repos/{ref.full_name}/tags"
    assert call(server, "GET", base).json() == []
    r = call(server, "POST", base, tok, json={"tag_name": "v1.0", "target": "main"})
    assert r.status_code == 201, r.text
    tag = r.json()
    assert tag["name"] == "v1.0" and tag["id"] == tag["commit"]["id"]
    assert tag["tarball_url"] == f"{server.url}/{ref.full_name}/archive/v1.0.tar.gz"
    assert _push_refs(factory, ref)[0] == ("refs/tags/v1.0", False)
    assert tag["message"] is None
    r = call(server, "POST", base, tok, json={"tag_name": "rel/2", "message": "Release two\n\nNotes."})
    assert r.status_code == 201, r.text
    annotated = r.json()
    assert annotated["message"] == "Release two\n\nNotes.\n"
    assert annotated["id"] != annotated["commit"]["id"] == tag["commit"]["id"]  # the tag object, on the commit
    with factory.session() as s:
        fresh = repos.get_repo_by_id(s, ref.repo.id)
        assert pushes.recent_events(s, fresh.repo)[0].new_sha == annotated["id"]
    assert call(server, "POST", base, tok, json={"tag_name": "v1.0"}).status_code == 422
    assert call(server, "POST", base, tok, json={"tag_name": "x", "target": "nope"}).status_code == 422
    r = call(server, "GET", base, params={"per_page": 1})
    assert len(r.json()) == 1 and r.headers["x-total-count"] == "2"
    assert call(server, "GET", f"{base}/rel/2").json()["message"] == "Release two\n\nNotes.\n"
    archive = httpx.get(tag["tarball_url"], timeout=30)
    assert archive.status_code == 200 and archive.content[:2] == b"\x1f\x8b"  # gzip
    assert call(server, "POST", base, factory.token(owner, ["read:repo"]), json={"tag_name": "y"}).status_code == 403
    assert call(server, "DELETE", f"{base}/rel/2", tok).status_code == 204
    assert _push_refs(factory, ref)[0] == ("refs/tags/rel/2", True)
    assert call(server, "GET", f"{base}/rel/2").status_code == 404
    assert call(server, "DELETE", f"{base}/rel/2", tok).status_code == 404
