"""The reviews API against the live server: reviews with line comments and a verdict, pending reviews (seen by
their author only) submitted or discarded later, single comments and replies on the diff, and the refusals (the
author's own approval, lines outside the diff, a stale head, missing scopes)."""

from __future__ import annotations

from typing import Any

import httpx
from sqlmodel import select

from forge import activity
from forge.activity import Activity
from tests.forge.pulls.reviewsetup import collaborator, feature_pull


def call(server: Any, method: str, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"token {token}"} if token else {}
    return httpx.request(method, f"{server.url}/api/v1{path}", headers=headers, timeout=60, **kwargs)


def _pull(git: Any, factory: Any) -> tuple[Any, str, Any, str]:
    """A pull request (feature: ten.txt lines 3-4 rewritten, line 8b added, notes.md added), its API path, and a
    collaborator with write access with a write:issue token."""
    pr = feature_pull(git, factory)
    reviewer = collaborator(factory, pr.ref, "write")
    return pr, f"/repos/{pr.ref.full_name}/pulls/{pr.number}", reviewer, factory.token(reviewer, ["write:issue"])


def test_review_with_comments_and_approval(server, git, factory):  # type: ignore[no-untyped-def]
    pr, path, reviewer, tok = _pull(git, factory)
    head = call(server, "GET", path).json()["head"]["sha"]
    r = call(server, "POST", f"{path}/reviews", tok, json={
        "body": "Looks good", "event": "APPROVE", "commit_id": head,
        "comments": [{"path": "ten.txt", "line": 4, "start_line": 3, "side": "RIGHT", "body": "Nice words"},
                     {"path": "ten.txt", "line": 3, "side": "LEFT", "body": "Was a digit"}]})
    assert r.status_code == 200, r.text
    review = r.json()
    assert review["state"] == "APPROVED" and review["body"] == "Looks good" and review["commit_id"] == head
    assert review["user"]["login"] == reviewer.name and review["submitted_at"] is not None
    assert review["html_url"].endswith(f"/pulls/{pr.number}#review-{review['id']}")

    listed = call(server, "GET", f"{path}/reviews")
    assert listed.status_code == 200 and [x["id"] for x in listed.json()] == [review["id"]]
    assert call(server, "GET", f"{path}/reviews/{review['id']}").json()["state"] == "APPROVED"
    comments = call(server, "GET", f"{path}/reviews/{review['id']}/comments").json()
    assert [(c["path"], c["side"], c["start_line"], c["line"]) for c in comments] == [
        ("ten.txt", "RIGHT", 3, 4), ("ten.txt", "LEFT", None, 3)]
    assert all(c["pull_request_review_id"] == review["id"] and c["commit_id"] == head for c in comments)
    assert "+line four" in comments[0]["diff_hunk"]
    everything = call(server, "GET", f"{path}/comments")
    assert everything.headers["X-Total-Count"] == "2"
    assert call(server, "GET", path).json()["review_comments"] == 2
    with factory.session() as s:
        rows = list(s.exec(select(Activity).where(Activity.kind == activity.PULL_REVIEWED,
                                                  Activity.repo_id == pr.ref.repo.id)))
    assert [(a.actor_id, a.data["state"]) for a in rows] == [(reviewer.id, "approved")]


def test_author_cannot_approve_and_other_refusals(server, git, factory):  # type: ignore[no-untyped-def]
    pr, path, reviewer, tok = _pull(git, factory)
    author = factory.token(pr.owner, ["write:issue"])
    r = call(server, "POST", f"{path}/reviews", author, json={"event": "APPROVE"})
    assert r.status_code == 403 and "your own pull request" in r.json()["message"]
    r = call(server, "POST", f"{path}/reviews", author, json={"event": "REQUEST_CHANGES", "body": "hm"})
    assert r.status_code == 403
    # The author may comment on their own pull request.
    assert call(server, "POST", f"{path}/reviews", author, json={"event": "COMMENT", "body": "A note"}).status_code \
        == 200
    r = call(server, "POST", f"{path}/reviews", tok, json={"event": "COMMENT"})
    assert r.status_code == 422  # a comment review needs text or comments
    r = call(server, "POST", f"{path}/reviews", tok, json={"event": "COMMENT", "comments": [
        {"path": "ten.txt", "line": 50, "body": "not in the diff"}]})
    assert r.status_code == 422 and "not part of the diff" in r.json()["message"]
    r = call(server, "POST", f"{path}/reviews", tok, json={"event": "COMMENT", "comments": [
        {"path": "README.md", "line": 1, "body": "unchanged file"}]})
    assert r.status_code == 422 and "not among the changed files" in r.json()["message"]
    r = call(server, "POST", f"{path}/reviews", tok, json={"event": "COMMENT", "body": "x", "commit_id": "a" * 40})
    assert r.status_code == 409
    assert call(server, "POST", f"{path}/reviews", tok, json={"event": "LGTM"}).status_code == 422
    r = call(server, "POST", f"{path}/reviews", tok, json={"event": "COMMENT", "body": "x", "comments": [
        {"path": "ten.txt", "line": 4, "side": "MIDDLE", "body": "x"}]})
    assert r.status_code == 422
    read_only = factory.token(reviewer, ["read:issue"])
    r = call(server, "POST", f"{path}/reviews", read_only, json={"event": "COMMENT", "body": "x"})
    assert r.status_code == 403 and "write:issue" in r.json()["message"]
    assert call(server, "POST", f"{path}/reviews", json={"event": "COMMENT", "body": "x"}).status_code == 401
    # Nothing of the refused reviews was kept: the author's comment review only.
    assert [x["state"] for x in call(server, "GET", f"{path}/reviews").json()] == ["COMMENTED"]
    assert call(server, "GET", f"{path}/reviews/999999").status_code == 404


def test_pending_review_submitted_later(server, git, factory):  # type: ignore[no-untyped-def]
    pr, path, reviewer, tok = _pull(git, factory)
    r = call(server, "POST", f"{path}/reviews", tok, json={
        "body": "Draft thoughts", "comments": [{"path": "notes.md", "line": 1, "body": "Expand this"}]})
    assert r.status_code == 200, r.text
    pending = r.json()
    assert pending["state"] == "PENDING" and pending["submitted_at"] is None
    # Only its author sees a pending review and its comments.
    other = factory.token(pr.owner, ["read:issue"])
    assert call(server, "GET", f"{path}/reviews", other).json() == []
    assert call(server, "GET", f"{path}/reviews/{pending['id']}", other).status_code == 404
    assert call(server, "GET", f"{path}/comments", other).json() == []
    assert [x["state"] for x in call(server, "GET", f"{path}/reviews", tok).json()] == ["PENDING"]
    assert len(call(server, "GET", f"{path}/reviews/{pending['id']}/comments", tok).json()) == 1
    # A second review call adds to the same pending review.
    r = call(server, "POST", f"{path}/reviews", tok, json={"comments": [
        {"path": "ten.txt", "line": 9, "body": "And here"}]})
    assert r.json()["id"] == pending["id"]
    r = call(server, "POST", f"{path}/reviews/{pending['id']}/events", tok, json={"event": "REQUEST_CHANGES"})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "CHANGES_REQUESTED" and r.json()["body"] == "Draft thoughts"
    assert len(call(server, "GET", f"{path}/comments", other).json()) == 2
    r = call(server, "POST", f"{path}/reviews/{pending['id']}/events", tok, json={"event": "APPROVE"})
    assert r.status_code == 422
    r = httpx.request("DELETE", f"{server.url}/api/v1{path}/reviews/{pending['id']}",
                      headers={"Authorization": f"token {tok}"}, timeout=30)
    assert r.status_code == 422


def test_pending_review_discarded(server, git, factory):  # type: ignore[no-untyped-def]
    pr, path, reviewer, tok = _pull(git, factory)
    pending = call(server, "POST", f"{path}/reviews", tok, json={"comments": [
        {"path": "notes.md", "line": 1, "body": "Hmm"}]}).json()
    stranger = factory.token(factory.user(), ["write:issue"])
    assert call(server, "DELETE", f"{path}/reviews/{pending['id']}", stranger).status_code == 404
    assert call(server, "DELETE", f"{path}/reviews/{pending['id']}", tok).status_code == 204
    assert call(server, "GET", f"{path}/reviews", tok).json() == []
    assert call(server, "GET", f"{path}/comments", tok).json() == []


def test_single_comment_and_reply(server, git, factory):  # type: ignore[no-untyped-def]
    pr, path, reviewer, tok = _pull(git, factory)
    r = call(server, "POST", f"{path}/comments", tok, json={"path": "ten.txt", "line": 9, "body": "Why 8b?"})
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["in_reply_to_id"] is None and first["side"] == "RIGHT" and first["resolved"] is False
    assert first["html_url"].endswith(f"/files#review-comment-{first['id']}")
    author = factory.token(pr.owner, ["write:issue"])
    r = call(server, "POST", f"{path}/comments", author, json={"in_reply_to": first["id"], "body": "Needed"})
    assert r.status_code == 201 and r.json()["in_reply_to_id"] == first["id"] and r.json()["path"] == "ten.txt"
    listed = call(server, "GET", f"{path}/comments").json()  # anonymous, public repository
    assert [c["body"] for c in listed] == ["Why 8b?", "Needed"]
    # A single comment is a one-comment review with the "commented" verdict, as on GitHub.
    # (a reply joins the thread without a review of its own).
    assert [x["state"] for x in call(server, "GET", f"{path}/reviews").json()] == ["COMMENTED"]
    assert call(server, "POST", f"{path}/comments", tok, json={"body": "where?"}).status_code == 422
    r = call(server, "POST", f"{path}/comments", tok, json={"path": "ten.txt", "line": 9, "body": "x",
                                                           "commit_id": "b" * 40})
    assert r.status_code == 409
    assert call(server, "POST", f"{path}/comments", tok, json={"in_reply_to": 99999999, "body": "x"}).status_code \
        == 404
    assert call(server, "POST", f"{path}/comments", tok, json={"path": "ten.txt", "line": 0, "body": "x"}) \
        .status_code == 422
