"""The repositories API: read, create, update and rename, delete, lists, forks, collaborators, topics, and the
visibility and scope rules, against the live server."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import unique


def call(server: Any, method: str, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"token {token}"} if token else {}
    return httpx.request(method, f"{server.url}/api/v1{path}", headers=headers, timeout=30, **kwargs)


def test_create_read_update_rename_delete(server, factory) -> None:  # type: ignore[no-untyped-def]
    owner = factory.user()
    tok = factory.token(owner, ["admin:repo"])
    name = unique("apirepo")
    r = call(server, "POST", "/user/repos", tok, json={"name": name, "description": "d", "auto_init": True,
                                                       "default_branch": "trunk"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["full_name"] == f"{owner.name}/{name}"
    assert body["default_branch"] == "trunk"
    assert body["permissions"] == {"admin": True, "push": True, "pull": True}
    assert r.headers["location"] == f"{server.url}/api/v1/repos/{owner.name}/{name}"
    assert call(server, "POST", "/user/repos", tok, json={"name": name}).status_code == 409

    r = call(server, "GET", f"/repos/{owner.name}/{name}")
    assert r.status_code == 200 and r.json()["description"] == "d"
    assert r.json()["permissions"] is None  # anonymous

    new_name = unique("renamed")
    r = call(server, "PATCH", f"/repos/{owner.name}/{name}", tok,
             json={"description": "new", "website": "https://example.com", "private": True, "name": new_name})
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["private"], r.json()["website"]) == (new_name, True, "https://example.com")
    assert call(server, "GET", f"/repos/{owner.name}/{name}", tok).status_code == 404
    assert call(server, "GET", f"/repos/{owner.name}/{new_name}", tok).json()["description"] == "new"
    # Private now: anonymous callers do not learn it exists.
    r = call(server, "GET", f"/repos/{owner.name}/{new_name}")
    assert r.status_code == 404 and r.json()["message"] == "Repository not found."

    r = call(server, "PATCH", f"/repos/{owner.name}/{new_name}", tok, json={"website": "ftp://x"})
    assert r.status_code == 422 and "http" in r.json()["message"]
    r = call(server, "PATCH", f"/repos/{owner.name}/{new_name}", tok, json={"default_branch": "nope"})
    assert r.status_code == 422

    assert call(server, "DELETE", f"/repos/{owner.name}/{new_name}", tok).status_code == 204
    assert call(server, "GET", f"/repos/{owner.name}/{new_name}", tok).status_code == 404


def test_validation_and_auth_errors(server, factory) -> None:  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    r = call(server, "POST", "/user/repos", json={"name": "x"})
    assert r.status_code == 401 and r.json()["message"]
    reader = factory.token(owner, ["read:repo"])
    r = call(server, "POST", "/user/repos", reader, json={"name": unique("r")})
    assert r.status_code == 403 and "write:repo" in r.json()["message"]
    writer = factory.token(owner, ["write:repo"])
    r = call(server, "POST", "/user/repos", writer, json={"name": "bad/name"})
    assert r.status_code == 422 and r.json()["message"]
    r = call(server, "POST", "/user/repos", writer, json={"name": ""})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "name"
    # A read:repo token cannot change settings, even for the owner.
    r = call(server, "PATCH", f"/repos/{ref.full_name}", reader, json={"description": "x"})
    assert r.status_code == 403
    r = call(server, "DELETE", f"/repos/{ref.full_name}", writer)
    assert r.status_code == 403
    # Another user may read a public repository but not change it.
    other = factory.token(factory.user(), ["admin:repo"])
    assert call(server, "GET", f"/repos/{ref.full_name}", other).json()["permissions"]["push"] is False
    r = call(server, "PATCH", f"/repos/{ref.full_name}", other, json={"description": "x"})
    assert r.status_code == 403 and r.json()["message"]
    assert call(server, "DELETE", f"/repos/{ref.full_name}", other).status_code == 403


def test_org_repos_and_lists(server, factory) -> None:  # type: ignore[no-untyped-def]
    owner = factory.user()
    org = factory.org(owner)
    tok = factory.token(owner, ["write:repo"])
    r = call(server, "POST", f"/orgs/{org.name}/repos", tok, json={"name": "inorg", "private": True})
    assert r.status_code == 201 and r.json()["owner"]["login"] == org.name
    outsider = factory.user()
    out_tok = factory.token(outsider, ["write:repo"])
    r = call(server, "POST", f"/orgs/{org.name}/repos", out_tok, json={"name": "nope"})
    assert r.status_code == 403
    assert call(server, "POST", "/orgs/nosuchorg/repos", tok, json={"name": "x"}).status_code == 404

    factory.repo(owner, "pub1")
    factory.repo(owner, "priv1", private=True)
    # The owner sees both of their own and the organisation's private one.
    r = call(server, "GET", "/user/repos", tok)
    assert r.status_code == 200
    assert {x["full_name"] for x in r.json()} == {f"{owner.name}/pub1", f"{owner.name}/priv1", f"{org.name}/inorg"}
    assert r.headers["x-total-count"] == "3"
    r = call(server, "GET", "/user/repos", tok, params={"per_page": 2})
    assert len(r.json()) == 2 and 'rel="next"' in r.headers["link"]
    assert call(server, "GET", "/user/repos").status_code == 401
    # Others, anonymous or not, see public repositories only.
    assert [x["name"] for x in call(server, "GET", f"/users/{owner.name}/repos").json()] == ["pub1"]
    assert [x["name"] for x in call(server, "GET", f"/users/{owner.name}/repos", out_tok).json()] == ["pub1"]
    assert {x["name"] for x in call(server, "GET", f"/users/{owner.name}/repos", tok).json()} == {"pub1", "priv1"}
    assert call(server, "GET", f"/orgs/{org.name}/repos").json() == []
    assert [x["name"] for x in call(server, "GET", f"/orgs/{org.name}/repos", tok).json()] == ["inorg"]
    assert call(server, "GET", "/users/nosuchuser/repos").status_code == 404
    # A token without repository scopes lists only what anonymous visitors see.
    issue_tok = factory.token(owner, ["read:issue"])
    assert [x["name"] for x in call(server, "GET", f"/users/{owner.name}/repos", issue_tok).json()] == ["pub1"]


def test_forks(server, factory) -> None:  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner, readme=True)
    forker = factory.user()
    org = factory.org(forker)
    tok = factory.token(forker, ["write:repo"])
    r = call(server, "POST", f"/repos/{ref.full_name}/forks", tok)
    assert r.status_code == 201, r.text
    assert r.json()["fork"] is True and r.json()["parent"]["full_name"] == ref.full_name
    assert r.json()["full_name"] == f"{forker.name}/{ref.repo.name}"
    r = call(server, "POST", f"/repos/{ref.full_name}/forks", tok, json={"organization": org.name, "name": "f2"})
    assert r.status_code == 201 and r.json()["full_name"] == f"{org.name}/f2"
    assert call(server, "POST", f"/repos/{ref.full_name}/forks", tok).status_code == 409
    r = call(server, "GET", f"/repos/{ref.full_name}/forks")
    assert r.status_code == 200 and len(r.json()) == 2
    assert call(server, "GET", f"/repos/{ref.full_name}", tok).json()["forks_count"] == 2


def test_collaborators(server, factory) -> None:  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner, private=True)
    tok = factory.token(owner, ["admin:repo"])
    friend = factory.user()
    base = f"/repos/{ref.full_name}/collaborators"
    assert call(server, "GET", f"{base}/{friend.name}", tok).status_code == 404
    r = call(server, "PUT", f"{base}/{friend.name}", tok, json={"permission": "read"})
    assert r.status_code == 204
    assert call(server, "GET", f"{base}/{friend.name}", tok).status_code == 204
    r = call(server, "GET", base, tok)
    assert [(c["login"], c["permission"]) for c in r.json()] == [(friend.name, "read")]
    r = call(server, "GET", f"{base}/{friend.name}/permission", tok)
    assert r.json()["permission"] == "read" and r.json()["user"]["login"] == friend.name
    assert call(server, "GET", f"{base}/{owner.name}/permission", tok).json()["permission"] == "admin"
    # The friend can now see the private repository, but not its collaborators (that needs push access).
    friend_tok = factory.token(friend, ["admin:repo"])
    assert call(server, "GET", f"/repos/{ref.full_name}", friend_tok).status_code == 200
    assert call(server, "GET", base, friend_tok).status_code == 403
    assert call(server, "PUT", f"{base}/{friend.name}", tok, json={"permission": "owner"}).status_code == 422
    assert call(server, "PUT", f"{base}/{owner.name}", tok, json={"permission": "read"}).status_code == 422
    assert call(server, "PUT", f"{base}/nosuchuser", tok).status_code == 404
    assert call(server, "PUT", f"{base}/{friend.name}", tok).status_code == 204  # write by default
    assert call(server, "GET", f"{base}/{friend.name}/permission", tok).json()["permission"] == "write"
    assert call(server, "DELETE", f"{base}/{friend.name}", tok).status_code == 204
    assert call(server, "DELETE", f"{base}/{friend.name}", tok).status_code == 404
    assert call(server, "GET", f"/repos/{ref.full_name}", friend_tok).status_code == 404
    assert call(server, "GET", f"{base}/{friend.name}/permission", tok).json()["permission"] == "none"


def test_topics(server, factory) -> None:  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    tok = factory.token(owner, ["admin:repo"])
    path = f"/repos/{ref.full_name}/topics"
    assert call(server, "GET", path).json() == {"topics": []}
    r = call(server, "PUT", path, tok, json={"topics": ["Python", "web-ui", "python"]})
    assert r.status_code == 200 and r.json() == {"topics": ["python", "web-ui"]}
    assert call(server, "GET", f"/repos/{ref.full_name}").json()["topics"] == ["python", "web-ui"]
    for bad in (["two words"], ["a,b"], ["-x"], [f"t{i}" for i in range(21)]):
        r = call(server, "PUT", path, tok, json={"topics": bad})
        assert r.status_code == 422 and r.json()["message"], bad
    assert call(server, "PUT", path, factory.token(owner, ["write:repo"]), json={"topics": []}).status_code == 403
    assert call(server, "PUT", path, tok, json={"topics": []}).json() == {"topics": []}


def test_admin_collaborator_changes_settings_but_only_the_owner_deletes(server, factory) -> None:  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner, readme=True)
    admin = factory.user()
    owner_tok = factory.token(owner, ["admin:repo"])
    assert call(server, "PUT", f"/repos/{ref.full_name}/collaborators/{admin.name}", owner_tok,
                json={"permission": "admin"}).status_code == 204
    tok = factory.token(admin, ["admin:repo"])
    assert call(server, "POST", f"/repos/{ref.full_name}/branches", tok,
                json={"new_branch_name": "trunk"}).status_code == 201
    r = call(server, "PATCH", f"/repos/{ref.full_name}", tok, json={"default_branch": "trunk"})
    assert r.status_code == 200 and r.json()["default_branch"] == "trunk"
    assert r.json()["permissions"] == {"admin": True, "push": True, "pull": True}
    r = call(server, "DELETE", f"/repos/{ref.full_name}", tok)
    assert r.status_code == 403 and "owner" in r.json()["message"]
    assert call(server, "DELETE", f"/repos/{ref.full_name}", owner_tok).status_code == 204
