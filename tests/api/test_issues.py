"""The issues API: open, list with filters and pages, read, edit, close and reopen, labels and assignees on an
issue, lock, and the permission and validation errors, against the live server."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from sqlmodel import col, select

from forge import activity
from forge.accounts.models import Account
from forge.repos import services as repos
from forge.repos.services import RepoRef


def call(server: Any, method: str, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"token {token}"} if token else {}
    return httpx.request(method, f"{server.url}/api/v1{path}", headers=headers, timeout=30, **kwargs)


@dataclass
class Repo:
    owner: Account
    ref: RepoRef
    owner_tok: str  # read:issue write:issue
    reader: Account  # a collaborator with read access
    reader_tok: str

    @property
    def path(self) -> str:
        return f"/repos/{self.ref.full_name}"


def make_repo(factory: Any, *, private: bool = False) -> Repo:
    owner = factory.user()
    ref = factory.repo(owner, private=private)
    reader = factory.user()
    with factory.session() as s:
        fresh = repos.get_repo_by_id(s, ref.repo.id)
        repos.set_collaborator(s, owner, fresh, reader, "read")
    scopes = ["read:issue", "write:issue"]
    return Repo(owner, ref, factory.token(owner, scopes), reader, factory.token(reader, scopes))


def open_issue(server: Any, repo: Repo, token: str | None = None, **fields: Any) -> dict[str, Any]:
    r = call(server, "POST", f"{repo.path}/issues", token or repo.owner_tok, json={"title": "An issue", **fields})
    assert r.status_code == 201, r.text
    assert r.headers["location"] == r.json()["url"]
    return dict(r.json())


def test_open_read_and_show_on_the_web(server, factory) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(factory)
    body = open_issue(server, repo, title="  Crash   on start ", body="It **crashes**.")
    assert body["number"] == 1 and body["title"] == "Crash on start" and body["state"] == "open"
    assert body["user"]["login"] == repo.owner.name and body["labels"] == [] and body["comments"] == 0
    assert body["pull_request"] is None and body["closed_at"] is None and body["state_reason"] is None
    assert body["html_url"] == f"{server.url}/{repo.ref.full_name}/issues/1"
    assert body["url"] == f"{server.url}/api/v1{repo.path}/issues/1"
    assert call(server, "GET", f"{repo.path}/issues/1").headers.get("etag")

    r = call(server, "GET", f"{repo.path}/issues/1")  # public repository: anonymous reads
    assert r.status_code == 200 and r.json()["body"] == "It **crashes**."
    page = httpx.get(body["html_url"], timeout=30)
    assert page.status_code == 200 and "Crash on start" in page.text

    # The same activity rows as the web (notifications and webhooks are made from them).
    call(server, "POST", f"{repo.path}/issues/1/comments", repo.reader_tok, json={"body": f"@{repo.owner.name} hi"})
    call(server, "PATCH", f"{repo.path}/issues/1", repo.owner_tok, json={"state": "closed"})
    with factory.session() as s:
        kinds = list(s.exec(select(activity.Activity.kind).where(activity.Activity.issue_id == body["id"])
                            .order_by(col(activity.Activity.id))))
    assert kinds == [activity.ISSUE_OPENED, activity.ISSUE_COMMENTED, activity.ISSUE_MENTIONED,
                     activity.ISSUE_CLOSED]

    r = call(server, "GET", f"{repo.path}/issues/99", repo.owner_tok)
    assert r.status_code == 404 and "#99" in r.json()["message"]
    assert call(server, "GET", f"{repo.path}/issues/0").status_code == 422
    # PostgreSQL text cannot hold NUL: refused as invalid, not a server error.
    r = call(server, "POST", f"{repo.path}/issues", repo.owner_tok, json={"title": "a\u0000b"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "title"


def test_create_with_metadata_and_who_may_set_it(server, factory) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(factory)
    for name in ("bug", "ui"):
        assert call(server, "POST", f"{repo.path}/labels", repo.owner_tok,
                    json={"name": name, "color": "#d73a4a"}).status_code == 201
    milestone = call(server, "POST", f"{repo.path}/milestones", repo.owner_tok, json={"title": "v1"}).json()
    body = open_issue(server, repo, labels=["Bug"], assignees=[repo.owner.name], milestone=milestone["id"],
                      due_date="2030-01-31")
    assert [la["name"] for la in body["labels"]] == ["bug"]
    assert body["labels"][0]["color"] == "#d73a4a"
    assert [a["login"] for a in body["assignees"]] == [repo.owner.name]
    assert body["milestone"]["title"] == "v1" and body["milestone"]["open_issues"] == 1
    assert body["due_date"] == "2030-01-31"
    # A reader's choices are ignored, as on GitHub; an unknown label is a mistake.
    body = open_issue(server, repo, repo.reader_tok, labels=["bug"], due_date="2030-01-31")
    assert body["labels"] == [] and body["due_date"] is None and body["user"]["login"] == repo.reader.name
    r = call(server, "POST", f"{repo.path}/issues", repo.owner_tok, json={"title": "x", "labels": ["nope"]})
    assert r.status_code == 422 and r.json()["message"]
    r = call(server, "POST", f"{repo.path}/issues", repo.owner_tok,
             json={"title": "x", "assignees": [repo.reader.name]})
    assert r.status_code == 422 and "write access" in r.json()["message"]


def test_list_filters_and_pages(server, factory) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(factory)
    call(server, "POST", f"{repo.path}/labels", repo.owner_tok, json={"name": "bug", "color": "#d73a4a"})
    for i in range(5):
        open_issue(server, repo, title=f"Issue {i}", labels=["bug"] if i % 2 == 0 else [])
    open_issue(server, repo, repo.reader_tok, title="From the reader", body=f"ping @{repo.owner.name}")
    call(server, "PATCH", f"{repo.path}/issues/2", repo.owner_tok, json={"state": "closed"})

    r = call(server, "GET", f"{repo.path}/issues", params={"per_page": 2})
    assert r.status_code == 200 and r.headers["x-total-count"] == "5"
    assert [i["number"] for i in r.json()] == [6, 5]
    assert 'rel="next"' in r.headers["link"] and 'rel="last"' in r.headers["link"]
    r = call(server, "GET", f"{repo.path}/issues", params={"per_page": 2, "page": 3})
    assert [i["number"] for i in r.json()] == [1]
    assert call(server, "GET", f"{repo.path}/issues", params={"per_page": 2, "page": 9}).json() == []

    def numbers(**params: Any) -> list[int]:
        r = call(server, "GET", f"{repo.path}/issues", params=params)
        assert r.status_code == 200, r.text
        return [i["number"] for i in r.json()]

    assert numbers(state="closed") == [2]
    assert numbers(state="all", direction="asc") == [1, 2, 3, 4, 5, 6]
    assert numbers(labels="bug") == [5, 3, 1]
    assert numbers(labels="bug,nope") == []
    assert numbers(creator=repo.reader.name) == [6]
    assert numbers(mentioned=repo.owner.name) == [6]
    assert numbers(q="reader") == [6]
    assert numbers(q="label:bug is:closed") == []
    assert numbers(type="pulls") == []
    r = call(server, "GET", f"{repo.path}/issues", params={"state": "shut"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"].endswith("state")
    assert call(server, "GET", f"{repo.path}/issues", params={"sort": "nope"}).status_code == 422


def test_edit_close_reopen_and_permissions(server, factory) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(factory)
    mine = open_issue(server, repo, repo.reader_tok, title="Reader's")
    theirs = open_issue(server, repo, title="Owner's")
    # The author edits and closes their own issue.
    r = call(server, "PATCH", f"{repo.path}/issues/{mine['number']}", repo.reader_tok,
             json={"title": "Reader's, edited", "body": "more", "state": "closed", "state_reason": "not_planned"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["title"], body["body"], body["state"], body["state_reason"]) == (
        "Reader's, edited", "more", "closed", "not_planned")
    assert body["closed_by"]["login"] == repo.reader.name and body["closed_at"]
    r = call(server, "PATCH", f"{repo.path}/issues/{mine['number']}", repo.reader_tok, json={"state": "open"})
    assert r.json()["state"] == "open" and r.json()["closed_at"] is None
    # A reader may not edit someone else's issue, nor triage their own.
    r = call(server, "PATCH", f"{repo.path}/issues/{theirs['number']}", repo.reader_tok, json={"title": "mine now"})
    assert r.status_code == 403 and r.json()["message"]
    r = call(server, "PATCH", f"{repo.path}/issues/{mine['number']}", repo.reader_tok, json={"due_date": None})
    assert r.status_code == 403
    # A read-only token may read but not write; anonymous callers must sign in.
    read_tok = factory.token(repo.owner, ["read:issue"])
    assert call(server, "GET", f"{repo.path}/issues/{theirs['number']}", read_tok).status_code == 200
    r = call(server, "POST", f"{repo.path}/issues", read_tok, json={"title": "x"})
    assert r.status_code == 403 and "write:issue" in r.json()["message"]
    repo_tok = factory.token(repo.owner, ["read:repo"])
    assert call(server, "GET", f"{repo.path}/issues", repo_tok).status_code == 403
    assert call(server, "POST", f"{repo.path}/issues", json={"title": "x"}).status_code == 401
    # Validation.
    for bad in ({"state": "shut"}, {"title": ""}, {"state_reason": "because"}, {"due_date": "soon"}):
        r = call(server, "PATCH", f"{repo.path}/issues/{theirs['number']}", repo.owner_tok, json=bad)
        assert r.status_code == 422, bad
    r = call(server, "PATCH", f"{repo.path}/issues/{theirs['number']}", repo.owner_tok, json={"title": "   "})
    assert r.status_code == 422 and r.json()["message"] == "The title cannot be empty."
    # The owner's edit is on the timeline the web shows.
    call(server, "PATCH", f"{repo.path}/issues/{theirs['number']}", repo.owner_tok, json={"title": "Renamed"})
    page = httpx.get(theirs["html_url"], timeout=30)
    assert "Renamed" in page.text and "Owner&#39;s" in page.text


def test_private_repository_is_hidden(server, factory) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(factory, private=True)
    open_issue(server, repo)
    stranger_tok = factory.token(factory.user(), ["read:issue", "write:issue"])
    for tok in (None, stranger_tok):
        r = call(server, "GET", f"{repo.path}/issues/1", tok)
        assert r.status_code == 404 and r.json()["message"] == "Repository not found."
        assert call(server, "GET", f"{repo.path}/issues", tok).status_code == 404
        assert call(server, "POST", f"{repo.path}/issues", tok, json={"title": "x"}).status_code == 404
    assert call(server, "GET", f"{repo.path}/issues/1", repo.reader_tok).status_code == 200


def test_issue_labels_assignees_milestone_and_lock(server, factory) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(factory)
    for name in ("bug", "ui", "docs"):
        call(server, "POST", f"{repo.path}/labels", repo.owner_tok, json={"name": name, "color": "#abc"})
    number = open_issue(server, repo)["number"]
    labels = f"{repo.path}/issues/{number}/labels"
    r = call(server, "POST", labels, repo.owner_tok, json={"labels": ["ui", "bug"]})
    assert r.status_code == 200 and [la["name"] for la in r.json()] == ["bug", "ui"]
    assert r.json()[0]["color"] == "#aabbcc"
    r = call(server, "PUT", labels, repo.owner_tok, json={"labels": ["docs", "ui"]})
    assert [la["name"] for la in r.json()] == ["docs", "ui"]
    assert call(server, "DELETE", f"{labels}/UI", repo.owner_tok).status_code == 204
    assert [la["name"] for la in call(server, "GET", labels).json()] == ["docs"]
    assert call(server, "DELETE", f"{labels}/bug", repo.owner_tok).status_code == 404
    assert call(server, "POST", labels, repo.reader_tok, json={"labels": ["bug"]}).status_code == 403
    assert call(server, "DELETE", labels, repo.owner_tok).status_code == 204
    assert call(server, "GET", labels).json() == []

    assignees = f"{repo.path}/issues/{number}/assignees"
    r = call(server, "POST", assignees, repo.owner_tok, json={"assignees": [repo.owner.name]})
    assert r.status_code == 201 and [a["login"] for a in r.json()["assignees"]] == [repo.owner.name]
    r = call(server, "POST", assignees, repo.owner_tok, json={"assignees": [repo.reader.name]})
    assert r.status_code == 422
    r = call(server, "DELETE", assignees, repo.owner_tok, json={"assignees": [repo.owner.name]})
    assert r.status_code == 200 and r.json()["assignees"] == []

    milestone = call(server, "POST", f"{repo.path}/milestones", repo.owner_tok, json={"title": "v2"}).json()
    r = call(server, "PATCH", f"{repo.path}/issues/{number}", repo.owner_tok, json={"milestone": milestone["id"]})
    assert r.json()["milestone"]["id"] == milestone["id"]
    assert [i["number"] for i in call(server, "GET", f"{repo.path}/issues",
                                      params={"milestone": str(milestone["id"])}).json()] == [number]
    r = call(server, "PATCH", f"{repo.path}/issues/{number}", repo.owner_tok, json={"milestone": None})
    assert r.json()["milestone"] is None

    lock = f"{repo.path}/issues/{number}/lock"
    assert call(server, "PUT", lock, repo.reader_tok).status_code == 403
    assert call(server, "PUT", lock, repo.owner_tok, json={"lock_reason": "too heated"}).status_code == 204
    body = call(server, "GET", f"{repo.path}/issues/{number}").json()
    assert body["locked"] is True and body["active_lock_reason"] == "too heated"
    assert call(server, "PUT", lock, repo.owner_tok, json={"lock_reason": "bored"}).status_code == 422
    assert call(server, "DELETE", lock, repo.owner_tok).status_code == 204
    assert call(server, "GET", f"{repo.path}/issues/{number}").json()["locked"] is False
