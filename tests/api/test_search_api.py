"""Searching repositories, issues and users over the API: qualifiers, paging, and that nothing private leaks (in
the items or in the totals)."""

from __future__ import annotations

from typing import Any

from tests.api.test_users_orgs import client
from tests.community.test_notifications import open_issue
from tests.conftest import LiveServer
from tests.factories import unique


def test_repository_search_shows_only_visible_repositories(server: LiveServer, factory: Any) -> None:
    owner, other = factory.user(), factory.user()
    word = unique("zebra")
    public = factory.repo(owner, f"{word}-public")
    hidden = factory.repo(owner, f"{word}-hidden", private=True)
    with client(server, factory.token(owner, ["read:repo"])) as api:
        found = api.get("/search/repositories", params={"q": word, "sort": "name", "order": "asc"})
        assert found.status_code == 200
        assert [r["full_name"] for r in found.json()["items"]] == [hidden.full_name, public.full_name]
        assert found.json()["total_count"] == 2 and found.headers["X-Total-Count"] == "2"
        paged = api.get("/search/repositories", params={"q": word, "sort": "name", "per_page": 1})
        assert [r["name"] for r in paged.json()["items"]] == [public.repo.name]
        assert 'rel="next"' in paged.headers["Link"]
    # Without read:repo a token finds public repositories only.
    with client(server, factory.token(owner, ["read:user"])) as api:
        assert api.get("/search/repositories", params={"q": word}).json()["total_count"] == 1
    for api in (client(server, factory.token(other, ["read:repo"])), client(server)):
        with api:
            found = api.get("/search/repositories", params={"q": word}).json()
            assert found["total_count"] == 1 and found["items"][0]["full_name"] == public.full_name
    with client(server) as anon:
        assert anon.get("/search/repositories", params={"sort": "stars"}).status_code == 422


def test_issue_search_respects_visibility_and_qualifiers(server: LiveServer, factory: Any) -> None:
    owner, other = factory.user(), factory.user()
    word = unique("quokka")
    public = factory.repo(owner)
    hidden = factory.repo(owner, private=True)
    first = open_issue(server, server.settings, owner, public, title=f"{word} crashes")
    open_issue(server, server.settings, other, public, title=f"{word} is slow")
    open_issue(server, server.settings, owner, hidden, title=f"{word} secret plan")
    with client(server, factory.token(owner, ["read:issue"])) as api:
        found = api.get("/search/issues", params={"q": word})
        assert found.status_code == 200 and found.json()["total_count"] == 3
        assert found.json()["items"][0]["title"] == f"{word} secret plan"  # newest first
        mine = api.get("/search/issues", params={"q": f"{word} author:{other.name}"}).json()
        assert [i["title"] for i in mine["items"]] == [f"{word} is slow"]
        in_repo = api.get("/search/issues", params={"q": f"{word} repo:{public.full_name} sort:created-asc"}).json()
        assert [i["number"] for i in in_repo["items"]][0] == first.number and in_repo["total_count"] == 2
        item = in_repo["items"][0]
        assert item["repository_url"] == f"{server.url}/api/v1/repos/{public.full_name}"
        assert item["html_url"] == f"{server.url}/{public.full_name}/issues/{first.number}"
        assert api.get("/search/issues", params={"q": f"{word} is:pr"}).json()["total_count"] == 0
        assert api.get("/search/issues", params={"q": f"{word} is:closed"}).json()["total_count"] == 0
        assert api.get("/search/issues", params={"q": f"{word} author:no-such-user-x"}).json()["total_count"] == 0
        paged = api.get("/search/issues", params={"q": word, "per_page": 2})
        assert len(paged.json()["items"]) == 2 and 'rel="last"' in paged.headers["Link"]
    # Another user, and an anonymous caller, never see the private repository's issue, nor count it.
    for api in (client(server, factory.token(other, ["read:issue"])), client(server)):
        with api:
            found = api.get("/search/issues", params={"q": word}).json()
            assert found["total_count"] == 2
            assert "secret plan" not in str(found["items"])
            assert api.get("/search/issues", params={"q": f"secret repo:{hidden.full_name}"}).json() == {
                "total_count": 0, "items": []}
    with client(server, factory.token(owner, ["read:repo"])) as api:
        refused = api.get("/search/issues", params={"q": word})
        assert refused.status_code == 403 and "read:issue" in refused.json()["message"]


def test_user_search_finds_users_and_organisations(server: LiveServer, factory: Any) -> None:
    word = unique("otter")
    person = factory.user(f"{word}-person", display_name="Otto")
    org = factory.org(person, f"{word}-org")
    with client(server) as anon:
        both = anon.get("/search/users", params={"q": word}).json()
        assert both["total_count"] == 2
        assert {(u["login"], u["type"]) for u in both["items"]} == {(person.name, "User"), (org.name, "Organization")}
        orgs_only = anon.get("/search/users", params={"q": word, "type": "org"}).json()
        assert [u["login"] for u in orgs_only["items"]] == [org.name]
        exact = anon.get("/search/users", params={"q": org.name}).json()
        assert exact["items"][0]["login"] == org.name
        nul = anon.get("/search/users", params={"q": "\x00"})
        assert nul.status_code == 422 and nul.json()["message"] == "Text must not contain NUL characters."
        assert anon.get("/search/users", params={"type": "bot"}).status_code == 422
