"""The commits and compare API against the live server, on a history pushed with real git: main has four commits
and topic one more from the third, so lists, path filters, pages and both directions of a comparison can be
checked against what git itself says."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.api.test_repos import call
from tests.factories import unique


@dataclass
class History:
    ref: Any
    token: str
    shas: dict[str, str]  # commit message -> id


def _history(factory: Any, git: Any, *, private: bool = False) -> History:
    owner = factory.user()
    ref = factory.repo(owner, private=private)
    work = git.new_work(unique("w"), clock=1_780_000_000)
    shas = {"first": work.commit({"README.md": "hi\n", "docs/a.md": "a\n"}, "first")}
    shas["second"] = work.commit({"src/x.py": "print(1)\n"}, "second")
    shas["third"] = work.commit({"docs/a.md": "a\nb\n"}, "third")
    work.git("checkout", "-q", "-b", "topic")
    shas["topic one"] = work.commit({"topic.txt": "t\n"}, "topic one")
    work.git("checkout", "-q", "main")
    shas["fourth"] = work.commit({"README.md": None, "main.txt": "m\n"}, "fourth")
    git.push_to(work.path, ref, "main", "topic")
    return History(ref, factory.token(owner, ["read:repo"]), shas)


def _messages(resp: Any) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [c["message"].strip() for c in resp.json()]


def test_list_commits_filters_and_pages(server, factory, git) -> None:  # type: ignore[no-untyped-def]
    h = _history(factory, git)
    base = f"/repos/{h.ref.full_name}/commits"
    r = call(server, "GET", base)
    assert _messages(r) == ["fourth", "third", "second", "first"]
    first = r.json()[-1]
    assert first["sha"] == h.shas["first"] and first["parents"] == []
    assert first["author"] == {"name": "Test Author", "email": "author@example.com",
                               "date": first["author"]["date"]}
    assert first["html_url"] == f"{server.url}/{h.ref.full_name}/commit/{h.shas['first']}"
    assert r.json()[0]["parents"][0]["sha"] == h.shas["third"]
    assert "Link" not in r.headers

    assert _messages(call(server, "GET", base, params={"sha": "topic"})) == ["topic one", "third", "second", "first"]
    assert _messages(call(server, "GET", base, params={"sha": h.shas["second"]})) == ["second", "first"]
    assert _messages(call(server, "GET", base, params={"path": "docs"})) == ["third", "first"]
    assert _messages(call(server, "GET", base, params={"path": "docs/a.md", "sha": "topic"})) == ["third", "first"]
    since = r.json()[1]["committer"]["date"]  # the third commit's
    assert _messages(call(server, "GET", base, params={"since": since})) == ["fourth", "third"]
    assert _messages(call(server, "GET", base, params={"until": since})) == ["third", "second", "first"]

    page1 = call(server, "GET", base, params={"per_page": 3})
    assert _messages(page1) == ["fourth", "third", "second"]
    assert 'rel="next"' in page1.headers["Link"] and "page=2" in page1.headers["Link"]
    page2 = call(server, "GET", base, params={"per_page": 3, "page": 2})
    assert _messages(page2) == ["first"]
    assert 'rel="next"' not in page2.headers["Link"] and 'rel="prev"' in page2.headers["Link"]

    missing = call(server, "GET", base, params={"sha": "nosuch"})
    assert missing.status_code == 404 and "nosuch" in missing.json()["message"]
    assert call(server, "GET", base, params={"since": "yesterday"}).status_code == 422
    assert call(server, "GET", base, params={"per_page": 1000}).status_code == 422


def test_get_one_commit_with_its_diff(server, factory, git) -> None:  # type: ignore[no-untyped-def]
    h = _history(factory, git)
    base = f"/repos/{h.ref.full_name}/commits"
    r = call(server, "GET", f"{base}/{h.shas['third']}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["sha"] == h.shas["third"] and body["message"].strip() == "third"
    assert body["stats"] == {"additions": 1, "deletions": 0, "total": 1}
    [changed] = body["files"]
    assert (changed["filename"], changed["status"], changed["additions"], changed["deletions"]) == \
        ("docs/a.md", "modified", 1, 0)
    assert changed["patch"].startswith("@@ -1 +1,2 @@") and "\n+b" in changed["patch"]
    assert body["truncated"] is False

    fourth = call(server, "GET", f"{base}/main").json()  # a branch name names its tip
    assert fourth["sha"] == h.shas["fourth"]
    assert {(f["filename"], f["status"]) for f in fourth["files"]} == {("README.md", "deleted"),
                                                                       ("main.txt", "added")}
    assert call(server, "GET", f"{base}/topic").json()["sha"] == h.shas["topic one"]
    assert call(server, "GET", f"{base}/{h.shas['first'][:10]}").json()["sha"] == h.shas["first"]
    assert call(server, "GET", f"{base}/nosuch").status_code == 404
    assert call(server, "GET", f"{base}/{'0' * 40}").status_code == 404


def test_compare(server, factory, git) -> None:  # type: ignore[no-untyped-def]
    h = _history(factory, git)
    base = f"/repos/{h.ref.full_name}/compare"
    r = call(server, "GET", f"{base}/main...topic")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["ahead_by"], body["behind_by"], body["total_commits"]) == ("diverged", 1, 1, 1)
    assert body["merge_base_commit"]["sha"] == h.shas["third"]
    assert body["base_commit"]["sha"] == h.shas["fourth"]
    assert [c["sha"] for c in body["commits"]] == [h.shas["topic one"]]
    assert [(f["filename"], f["status"]) for f in body["files"]] == [("topic.txt", "added")]
    assert body["html_url"] == f"{server.url}/{h.ref.full_name}/compare/main...topic"

    # Two dots: the trees themselves, so main's own changes show reversed.
    direct = call(server, "GET", f"{base}/main..topic").json()
    assert {f["filename"] for f in direct["files"]} == {"topic.txt", "README.md", "main.txt"}

    ahead = call(server, "GET", f"{base}/{h.shas['first']}...main").json()
    assert (ahead["status"], ahead["ahead_by"], ahead["behind_by"]) == ("ahead", 3, 0)
    assert [c["message"].strip() for c in ahead["commits"]] == ["fourth", "third", "second"]
    behind = call(server, "GET", f"{base}/main...{h.shas['second']}").json()
    assert (behind["status"], behind["ahead_by"], behind["behind_by"], behind["files"]) == ("behind", 0, 2, [])
    same = call(server, "GET", f"{base}/main...{h.shas['fourth']}").json()
    assert (same["status"], same["commits"], same["files"]) == ("identical", [], [])

    bad = call(server, "GET", f"{base}/main")
    assert bad.status_code == 422 and "base...head" in bad.json()["message"]
    missing = call(server, "GET", f"{base}/main...nosuch")
    assert missing.status_code == 404 and "nosuch" in missing.json()["message"]


@pytest.mark.parametrize("path", ["/commits", "/commits/main", "/compare/main...topic"])
def test_private_repository_is_hidden(server, factory, git, path) -> None:  # type: ignore[no-untyped-def]
    h = _history(factory, git, private=True)
    url = f"/repos/{h.ref.full_name}{path}"
    assert call(server, "GET", url).status_code == 404
    assert call(server, "GET", url, factory.token(factory.user(), ["read:repo"])).status_code == 404
    assert call(server, "GET", url, factory.token(h.ref.owner, ["read:issue"])).status_code == 404
    assert call(server, "GET", url, h.token).status_code == 200
