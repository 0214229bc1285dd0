"""The labels API (a repository's and an organisation's) and the milestones API, against the live server."""

from __future__ import annotations

from urllib.parse import quote

from tests.api.test_issues import call, make_repo, open_issue


def test_repository_labels(server, factory) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(factory)
    labels = f"{repo.path}/labels"
    r = call(server, "POST", labels, repo.owner_tok, json={"name": "kind/bug", "color": "D73A4A",
                                                            "description": "Broken"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["name"], body["color"], body["description"], body["is_org_label"]) == (
        "kind/bug", "#d73a4a", "Broken", False)
    assert body["url"] == f"{server.url}/api/v1{labels}/{quote('kind/bug', safe='')}"
    assert call(server, "POST", labels, repo.owner_tok, json={"name": "KIND/BUG", "color": "#fff"}).status_code == 409
    call(server, "POST", labels, repo.owner_tok, json={"name": "another", "color": "#fff"})

    r = call(server, "GET", labels, params={"per_page": 1})
    assert [la["name"] for la in r.json()] == ["another"] and r.headers["x-total-count"] == "2"
    assert call(server, "GET", f"{labels}/kind%2Fbug").json()["description"] == "Broken"
    assert call(server, "GET", f"{labels}/Kind/Bug").status_code == 200

    r = call(server, "PATCH", f"{labels}/kind/bug", repo.owner_tok, json={"name": "bug", "color": "#000000"})
    assert r.status_code == 200 and (r.json()["name"], r.json()["color"], r.json()["description"]) == (
        "bug", "#000000", "Broken")
    r = call(server, "PATCH", f"{labels}/bug", repo.owner_tok, json={"name": "another"})
    assert r.status_code == 409
    assert call(server, "GET", f"{labels}/kind/bug").status_code == 404

    # Errors: colour, permission, scope, anonymous.
    r = call(server, "POST", labels, repo.owner_tok, json={"name": "x", "color": "red"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"].endswith("color")
    r = call(server, "POST", labels, repo.owner_tok, json={"name": "a,b", "color": "#fff"})
    assert r.status_code == 422 and "comma" in r.json()["message"]
    assert call(server, "POST", labels, repo.reader_tok, json={"name": "x", "color": "#fff"}).status_code == 403
    assert call(server, "DELETE", f"{labels}/bug", repo.reader_tok).status_code == 403
    read_tok = factory.token(repo.owner, ["read:issue"])
    assert call(server, "PATCH", f"{labels}/bug", read_tok, json={"color": "#fff"}).status_code == 403
    assert call(server, "POST", labels, json={"name": "x", "color": "#fff"}).status_code == 401

    number = open_issue(server, repo, labels=["bug"])["number"]
    assert call(server, "DELETE", f"{labels}/bug", repo.owner_tok).status_code == 204
    assert call(server, "GET", f"{labels}/bug").status_code == 404
    assert call(server, "GET", f"{repo.path}/issues/{number}").json()["labels"] == []


def test_organisation_labels(server, factory) -> None:  # type: ignore[no-untyped-def]
    owner = factory.user()
    org = factory.org(owner)
    ref = factory.repo(org)
    admin_tok = factory.token(owner, ["admin:org", "write:issue", "read:issue"])
    path = f"/orgs/{org.name}/labels"
    r = call(server, "POST", path, admin_tok, json={"name": "priority", "color": "#ff0000"})
    assert r.status_code == 201, r.text
    assert r.json()["is_org_label"] is True and r.json()["url"] == f"{server.url}/api/v1{path}/priority"
    assert call(server, "POST", path, admin_tok, json={"name": "Priority", "color": "#fff"}).status_code == 409
    assert [la["name"] for la in call(server, "GET", path).json()] == ["priority"]
    r = call(server, "PATCH", f"{path}/priority", admin_tok, json={"description": "Do it first"})
    assert r.status_code == 200 and r.json()["description"] == "Do it first"

    # Usable on the organisation's repositories.
    r = call(server, "POST", f"/repos/{ref.full_name}/issues", admin_tok, json={"title": "t", "labels": ["priority"]})
    assert r.status_code == 201 and r.json()["labels"][0]["is_org_label"] is True

    # Only owners, with admin:org.
    stranger_tok = factory.token(factory.user(), ["admin:org"])
    assert call(server, "POST", path, stranger_tok, json={"name": "x", "color": "#fff"}).status_code == 403
    no_scope = factory.token(owner, ["write:issue"])
    r = call(server, "DELETE", f"{path}/priority", no_scope)
    assert r.status_code == 403 and "admin:org" in r.json()["message"]
    assert call(server, "POST", path, json={"name": "x", "color": "#fff"}).status_code == 401
    assert call(server, "GET", f"/orgs/{owner.name}/labels").status_code == 404  # a user is no organisation

    assert call(server, "DELETE", f"{path}/priority", admin_tok).status_code == 204
    assert call(server, "GET", path).json() == []
    assert call(server, "DELETE", f"{path}/priority", admin_tok).status_code == 404


def test_milestones(server, factory) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(factory)
    path = f"{repo.path}/milestones"
    r = call(server, "POST", path, repo.owner_tok, json={"title": "v1", "description": "First", "due_on": "2031-05-01"})
    assert r.status_code == 201, r.text
    v1 = r.json()
    assert (v1["title"], v1["state"], v1["due_on"], v1["open_issues"]) == ("v1", "open", "2031-05-01", 0)
    assert v1["html_url"] == f"{server.url}/{repo.ref.full_name}/milestones/{v1['id']}"
    assert call(server, "POST", path, repo.owner_tok, json={"title": "V1"}).status_code == 409
    v2 = call(server, "POST", path, repo.owner_tok, json={"title": "v2", "state": "closed"}).json()
    assert v2["state"] == "closed" and v2["closed_at"]

    open_issue(server, repo, milestone=v1["id"])
    closed = open_issue(server, repo, milestone=v1["id"])["number"]
    call(server, "PATCH", f"{repo.path}/issues/{closed}", repo.owner_tok, json={"state": "closed"})
    r = call(server, "GET", f"{path}/{v1['id']}")
    assert (r.json()["open_issues"], r.json()["closed_issues"]) == (1, 1)

    assert [m["title"] for m in call(server, "GET", path).json()] == ["v1"]
    assert [m["title"] for m in call(server, "GET", path, params={"state": "closed"}).json()] == ["v2"]
    assert len(call(server, "GET", path, params={"state": "all"}).json()) == 2
    assert call(server, "GET", path, params={"state": "nope"}).status_code == 422

    r = call(server, "PATCH", f"{path}/{v1['id']}", repo.owner_tok, json={"state": "closed", "due_on": None})
    assert r.status_code == 200 and (r.json()["state"], r.json()["due_on"], r.json()["description"]) == (
        "closed", None, "First")
    r = call(server, "PATCH", f"{path}/{v1['id']}", repo.owner_tok, json={"title": "v1.0", "state": "open"})
    assert (r.json()["title"], r.json()["state"], r.json()["closed_at"]) == ("v1.0", "open", None)

    assert call(server, "PATCH", f"{path}/{v1['id']}", repo.reader_tok, json={"title": "x"}).status_code == 403
    assert call(server, "POST", path, repo.reader_tok, json={"title": "x"}).status_code == 403
    assert call(server, "POST", path, repo.owner_tok, json={"title": ""}).status_code == 422
    assert call(server, "GET", f"{path}/999999").status_code == 404
    elsewhere = make_repo(factory)
    assert call(server, "GET", f"{elsewhere.path}/milestones/{v1['id']}").status_code == 404

    assert call(server, "DELETE", f"{path}/{v1['id']}", repo.owner_tok).status_code == 204
    assert call(server, "GET", f"{path}/{v1['id']}").status_code == 404
    assert call(server, "GET", f"{repo.path}/issues/{closed}").json()["milestone"] is None


def test_private_repository_labels_and_milestones_are_hidden(server, factory) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(factory, private=True)
    call(server, "POST", f"{repo.path}/labels", repo.owner_tok, json={"name": "bug", "color": "#fff"})
    for path in ("/labels", "/labels/bug", "/milestones"):
        r = call(server, "GET", repo.path + path)
        assert r.status_code == 404 and r.json()["message"] == "Repository not found."
        assert call(server, "GET", repo.path + path, repo.reader_tok).status_code == 200
