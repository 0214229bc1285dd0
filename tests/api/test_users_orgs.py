"""Users, organisations, members and teams over the API, with the web's permission rules and the token scopes."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import LiveServer
from tests.factories import unique

ALL_ORG = ["read:org", "admin:org", "read:user", "write:user"]


def client(server: LiveServer, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"token {token}"} if token else {}
    return httpx.Client(base_url=f"{server.url}/api/v1", headers=headers, timeout=30)


def test_profiles_of_users_and_organisations(server: LiveServer, factory: Any) -> None:
    alice = factory.user(display_name="Alice Liddell")
    org = factory.org(alice)
    with client(server) as anon:
        me = anon.get(f"/users/{alice.name}")
        assert me.status_code == 200
        body = me.json()
        assert body["login"] == alice.name and body["type"] == "User" and body["full_name"] == "Alice Liddell"
        assert body["html_url"] == f"{server.url}/{alice.name}"
        assert anon.get(f"/users/{org.name}").json()["type"] == "Organization"
        assert anon.get(f"/orgs/{org.name}").json()["login"] == org.name
        missing = anon.get("/users/nobody-at-all-here")
        assert missing.status_code == 404 and "nobody-at-all-here" in missing.json()["message"]
        assert anon.get(f"/orgs/{alice.name}").status_code == 404  # a user is not an organisation


def test_the_user_list_is_searchable_and_paged(server: LiveServer, factory: Any) -> None:
    stem = unique("pager")
    names = sorted(factory.user(f"{stem}x{i}").name for i in range(3))
    with client(server) as anon:
        first = anon.get("/users", params={"q": stem, "per_page": 2})
        assert first.status_code == 200
        assert [u["login"] for u in first.json()] == names[:2]
        assert first.headers["X-Total-Count"] == "3"
        assert 'rel="next"' in first.headers["Link"]
        second = anon.get("/users", params={"q": stem, "per_page": 2, "page": 2})
        assert [u["login"] for u in second.json()] == names[2:]
        search = anon.get("/search/users", params={"q": stem})
        assert search.status_code == 200
        assert search.json()["total_count"] == 3
        assert anon.get("/users", params={"per_page": 101}).status_code == 422


def test_patch_user_changes_the_profile_and_needs_write_user(server: LiveServer, factory: Any) -> None:
    user = factory.user()
    writer = factory.token(user, ["write:user"])
    reader = factory.token(user, ["read:user"])
    with client(server, writer) as api:
        resp = api.patch("/user", json={"full_name": "New Name", "bio": "Hello", "website": "https://x.test"})
        assert resp.status_code == 200
        assert resp.json()["full_name"] == "New Name" and resp.json()["bio"] == "Hello"
        # Fields not sent keep their value.
        assert api.patch("/user", json={"locale": "zh_CN"}).json()["full_name"] == "New Name"
        bad = api.patch("/user", json={"website": "ftp://x"})
        assert bad.status_code == 422 and "http" in bad.json()["message"]
        assert api.patch("/user", json={"nickname": "x"}).status_code == 422
        assert api.patch("/user", json={"full_name": "a\x00b"}).status_code == 422  # PostgreSQL cannot store NUL
        assert api.get("/users/a%00b").status_code == 422
    with client(server, reader) as api:
        refused = api.patch("/user", json={"bio": "nope"})
        assert refused.status_code == 403 and "write:user" in refused.json()["message"]
        emails = api.get("/user/emails").json()
        assert emails == [{"email": f"{user.name}@example.com", "primary": True, "verified": False}]
    with client(server) as anon:
        assert anon.patch("/user", json={"bio": "x"}).status_code == 401
        assert anon.get(f"/users/{user.name}").json()["bio"] == "Hello"


def test_organisation_crud_and_members(server: LiveServer, factory: Any) -> None:
    owner, member, outsider = factory.user(), factory.user(), factory.user()
    owner_tok = factory.token(owner, ALL_ORG)
    name = unique("api-org")
    with client(server, owner_tok) as api:
        created = api.post("/orgs", json={"name": name, "full_name": "API Org"})
        assert created.status_code == 201
        assert created.json()["type"] == "Organization" and created.json()["full_name"] == "API Org"
        taken = api.post("/orgs", json={"name": name})
        assert taken.status_code == 409
        assert api.post("/orgs", json={"name": "bad name"}).status_code == 422
        patched = api.patch(f"/orgs/{name}", json={"bio": "We build things"})
        assert patched.status_code == 200 and patched.json()["bio"] == "We build things"
        assert patched.json()["full_name"] == "API Org"
        added = api.put(f"/orgs/{name}/members/{member.name}", json={"owner": False})
        assert added.status_code == 200 and added.json()["role"] == "member"
        members = api.get(f"/orgs/{name}/members")
        assert [(m["user"]["login"], m["role"]) for m in members.json()] == sorted(
            [(owner.name, "owner"), (member.name, "member")])
        assert api.get(f"/orgs/{name}/members/{member.name}").json()["role"] == "member"
        assert api.get(f"/orgs/{name}/members/{outsider.name}").status_code == 404
        # The last owner cannot step down.
        last = api.put(f"/orgs/{name}/members/{owner.name}", json={"owner": False})
        assert last.status_code == 422 and "at least one owner" in last.json()["message"]
        assert [o["login"] for o in api.get("/user/orgs").json()] == [name]

    # Members see the member list; outsiders do not, and cannot change anything.
    member_tok = factory.token(member, ["read:org", "admin:org"])
    outsider_tok = factory.token(outsider, ALL_ORG)
    with client(server, member_tok) as api:
        assert api.get(f"/orgs/{name}/members").status_code == 200
        refused = api.patch(f"/orgs/{name}", json={"bio": "mine now"})
        assert refused.status_code == 403 and refused.json()["message"] == f"Only owners of {name} can do this."
        assert api.put(f"/orgs/{name}/members/{outsider.name}").status_code == 403
        assert [o["login"] for o in api.get(f"/users/{owner.name}/orgs").json()] == [name]
    with client(server, outsider_tok) as api:
        assert api.get(f"/orgs/{name}/members").status_code == 403
        assert api.get(f"/users/{member.name}/orgs").json() == []  # memberships are for members' eyes
    with client(server) as anon:
        assert anon.get(f"/orgs/{name}/members").status_code == 401
        assert anon.get("/orgs", params={"q": name}).json()[0]["login"] == name

    # A token without admin:org cannot change the organisation even for its owner.
    read_only = factory.token(owner, ["read:org"])
    with client(server, read_only) as api:
        refused = api.patch(f"/orgs/{name}", json={"bio": "x"})
        assert refused.status_code == 403 and "admin:org" in refused.json()["message"]
        assert api.post("/orgs", json={"name": unique("nope")}).status_code == 403

    with client(server, member_tok) as api:  # a member may leave
        assert api.delete(f"/orgs/{name}/members/{member.name}").status_code == 204
    with client(server, owner_tok) as api:
        assert api.get(f"/orgs/{name}/members/{member.name}").status_code == 404


def test_teams_with_members_and_repositories(server: LiveServer, factory: Any) -> None:
    owner, dev = factory.user(), factory.user()
    org = factory.org(owner)
    secret = factory.repo(org, private=True)
    owner_tok = factory.token(owner, ALL_ORG)
    dev_tok = factory.token(dev, ["read:org", "admin:org", "read:repo"])
    base = f"/orgs/{org.name}/teams"
    with client(server, owner_tok) as api:
        created = api.post(base, json={"name": "devs", "description": "Developers", "permission": "write"})
        assert created.status_code == 201
        assert created.json()["permission"] == "write" and created.json()["members_count"] == 0
        assert api.post(base, json={"name": "devs"}).status_code == 409
        assert api.post(base, json={"name": "x", "permission": "owner"}).status_code == 422
        assert api.put(f"{base}/devs/members/{dev.name}").status_code == 204
        assert [u["login"] for u in api.get(f"{base}/devs/members").json()] == [dev.name]
        assert api.get(f"{base}/devs").json()["members_count"] == 1
        assert api.put(f"{base}/devs/repos/{secret.repo.name}").status_code == 204
        assert api.put(f"{base}/devs/repos/no-such-repo").status_code == 404
        patched = api.patch(f"{base}/devs", json={"permission": "read"})
        assert patched.json()["permission"] == "read" and patched.json()["description"] == "Developers"
        assert [t["name"] for t in api.get(base).json()] == ["devs"]

    with client(server, dev_tok) as api:
        # Joining a team made dev a member of the organisation, and the team's repository visible.
        assert [r["name"] for r in api.get(f"{base}/devs/repos").json()] == [secret.repo.name]
        refused = api.post(base, json={"name": "mine"})
        assert refused.status_code == 403
        assert api.delete(f"{base}/devs/repos/{secret.repo.name}").status_code == 403
        assert api.put(f"{base}/devs/members/{owner.name}").status_code == 403

    with client(server, owner_tok) as api:
        assert api.delete(f"{base}/devs/repos/{secret.repo.name}").status_code == 204
        assert api.get(f"{base}/devs/repos").json() == []
        assert api.delete(f"{base}/devs/members/{dev.name}").status_code == 204
        assert api.delete(f"{base}/devs/members/{dev.name}").status_code == 404
        assert api.delete(f"{base}/devs").status_code == 204
        assert api.get(f"{base}/devs").status_code == 404
    with client(server) as anon:
        assert anon.get(base).status_code == 401
