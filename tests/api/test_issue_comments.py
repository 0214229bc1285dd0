"""The issue comments API: write, list (one issue's and the repository's, paged, since), read, edit, delete, the
locked-conversation rule and the author rule, against the live server."""

from __future__ import annotations

import httpx

from tests.api.test_issues import call, make_repo, open_issue


def test_comment_crud(server, factory) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(factory)
    number = open_issue(server, repo)["number"]
    other = open_issue(server, repo)["number"]
    comments = f"{repo.path}/issues/{number}/comments"
    r = call(server, "POST", comments, repo.reader_tok, json={"body": "First!"})
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["body"] == "First!" and first["user"]["login"] == repo.reader.name
    assert first["issue_url"] == f"{server.url}/api/v1{repo.path}/issues/{number}"
    assert first["html_url"] == f"{server.url}/{repo.ref.full_name}/issues/{number}#comment-{first['id']}"
    for text in ("two", "three"):
        assert call(server, "POST", comments, repo.owner_tok, json={"body": text}).status_code == 201
    call(server, "POST", f"{repo.path}/issues/{other}/comments", repo.owner_tok, json={"body": "elsewhere"})
    assert call(server, "GET", f"{repo.path}/issues/{number}").json()["comments"] == 3

    r = call(server, "GET", comments, params={"per_page": 2, "page": 2})
    assert r.status_code == 200 and [c["body"] for c in r.json()] == ["three"]
    assert r.headers["x-total-count"] == "3" and 'rel="prev"' in r.headers["link"]
    r = call(server, "GET", f"{repo.path}/issues/comments")
    assert [c["body"] for c in r.json()] == ["First!", "two", "three", "elsewhere"]
    r = call(server, "GET", f"{repo.path}/issues/comments", params={"since": "2999-01-01T00:00:00+02:00"})
    assert r.status_code == 200 and r.json() == []
    assert len(call(server, "GET", comments, params={"since": "2000-01-01T00:00:00"}).json()) == 3

    url = f"{repo.path}/issues/comments/{first['id']}"
    assert call(server, "GET", url).json()["body"] == "First!"
    r = call(server, "PATCH", url, repo.reader_tok, json={"body": "First, edited"})
    assert r.status_code == 200 and r.json()["body"] == "First, edited"
    page = httpx.get(first["html_url"].split("#")[0], timeout=30)
    assert "First, edited" in page.text
    assert call(server, "DELETE", url, repo.owner_tok).status_code == 204  # write access deletes anyone's
    assert call(server, "GET", url).status_code == 404
    assert call(server, "GET", f"{repo.path}/issues/{number}").json()["comments"] == 2


def test_comment_errors(server, factory) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(factory)
    number = open_issue(server, repo)["number"]
    comments = f"{repo.path}/issues/{number}/comments"
    owners = call(server, "POST", comments, repo.owner_tok, json={"body": "owner's"}).json()
    url = f"{repo.path}/issues/comments/{owners['id']}"
    # Someone else's comment: a reader may neither edit nor delete it.
    r = call(server, "PATCH", url, repo.reader_tok, json={"body": "hijack"})
    assert r.status_code == 403 and r.json()["message"]
    assert call(server, "DELETE", url, repo.reader_tok).status_code == 403
    # Validation, scopes and authentication.
    assert call(server, "POST", comments, repo.owner_tok, json={"body": ""}).status_code == 422
    r = call(server, "POST", comments, repo.owner_tok, json={"body": "   "})
    assert r.status_code == 422 and r.json()["message"] == "The comment cannot be empty."
    read_tok = factory.token(repo.owner, ["read:issue"])
    assert call(server, "POST", comments, read_tok, json={"body": "x"}).status_code == 403
    assert call(server, "POST", comments, json={"body": "x"}).status_code == 401
    assert call(server, "POST", f"{repo.path}/issues/999/comments", repo.owner_tok,
                json={"body": "x"}).status_code == 404
    # A comment is found only through its own repository.
    elsewhere = make_repo(factory)
    assert call(server, "GET", f"{elsewhere.path}/issues/comments/{owners['id']}").status_code == 404
    # A locked conversation takes comments from people with write access only.
    assert call(server, "PUT", f"{repo.path}/issues/{number}/lock", repo.owner_tok).status_code == 204
    r = call(server, "POST", comments, repo.reader_tok, json={"body": "let me in"})
    assert r.status_code == 403 and "locked" in r.json()["message"]
    assert call(server, "POST", comments, repo.owner_tok, json={"body": "still here"}).status_code == 201


def test_private_repository_comments_are_hidden(server, factory) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(factory, private=True)
    number = open_issue(server, repo)["number"]
    comment = call(server, "POST", f"{repo.path}/issues/{number}/comments", repo.owner_tok,
                   json={"body": "secret"}).json()
    for path in (f"/issues/{number}/comments", "/issues/comments", f"/issues/comments/{comment['id']}"):
        assert call(server, "GET", repo.path + path).status_code == 404
        assert call(server, "GET", repo.path + path, repo.reader_tok).status_code == 200
