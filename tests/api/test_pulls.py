"""The pull requests API against the live server: opening from a branch and from a fork, listing with filters and
pages, reading, editing, commits and files, review requests, "Update branch", and merging in each method (or being
refused with the reason), with the branches checked through git afterwards."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlmodel import select

from forge import activity
from forge.activity import Activity
from forge.repos import protection
from forge.repos import services as repos
from tests.forge.pulls.pullsetup import diverged, remote_sha
from tests.forge.pulls.reviewsetup import collaborator, feature_pull

SCOPES = ["read:issue", "write:issue", "read:repo", "write:repo"]


def call(server: Any, method: str, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"token {token}"} if token else {}
    return httpx.request(method, f"{server.url}/api/v1{path}", headers=headers, timeout=60, **kwargs)


def _pushed(git: Any, factory: Any) -> tuple[Any, Any, str, Any]:
    """A repository with main and topic (two commits ahead, main one ahead) pushed; its owner's token; the work
    tree."""
    owner = factory.user()
    ref = factory.repo(owner)
    work = diverged(git)
    git.push_to(work.path, ref, "main", "topic")
    return owner, ref, factory.token(owner, SCOPES), work


def test_open_read_and_list(server, git, factory):  # type: ignore[no-untyped-def]
    owner, ref, tok, work = _pushed(git, factory)
    path = f"/repos/{ref.full_name}/pulls"
    r = call(server, "POST", path, tok, json={"title": "Topic work", "body": "Please merge", "head": "topic",
                                              "base": "main"})
    assert r.status_code == 201, r.text
    pr = r.json()
    assert pr["title"] == "Topic work" and pr["body"] == "Please merge" and pr["state"] == "open"
    assert pr["draft"] is False and pr["merged"] is False and pr["mergeable"] is True
    assert pr["user"]["login"] == owner.name
    assert pr["head"]["ref"] == "topic" and pr["head"]["label"] == f"{owner.name}:topic"
    assert pr["head"]["repo"]["full_name"] == ref.full_name and len(pr["head"]["sha"]) == 40
    assert pr["base"]["ref"] == "main" and pr["base"]["repo"]["full_name"] == ref.full_name
    assert pr["commits"] == 2 and pr["changed_files"] == 1 and pr["additions"] == 2 and pr["deletions"] == 0
    assert pr["html_url"].endswith(f"/{ref.full_name}/pulls/{pr['number']}")
    assert pr["url"].endswith(f"/api/v1/repos/{ref.full_name}/pulls/{pr['number']}")

    got = call(server, "GET", f"{path}/{pr['number']}", tok)
    assert got.status_code == 200 and got.json()["head"]["sha"] == pr["head"]["sha"]
    # The page the html_url names exists.
    assert httpx.get(pr["html_url"].replace(server.settings.public_url(), server.url)).status_code == 200

    listed = call(server, "GET", path)  # anonymous: a public repository
    assert listed.status_code == 200 and [p["number"] for p in listed.json()] == [pr["number"]]
    assert listed.json()[0]["commits"] is None  # lists do not diff
    assert listed.headers["X-Total-Count"] == "1"
    assert call(server, "GET", path, params={"state": "closed"}).json() == []
    assert len(call(server, "GET", path, params={"state": "all", "base": "main"}).json()) == 1
    assert call(server, "GET", path, params={"base": "other"}).json() == []
    assert len(call(server, "GET", path, params={"head": f"{owner.name}:topic"}).json()) == 1
    assert call(server, "GET", path, params={"head": "nobody-here:topic"}).json() == []
    assert call(server, "GET", path, params={"state": "bogus"}).status_code == 422
    assert call(server, "GET", f"{path}/999").status_code == 404


def test_list_pages_and_sort(server, git, factory):  # type: ignore[no-untyped-def]
    owner, ref, tok, work = _pushed(git, factory)
    for branch in ("a1", "a2", "a3"):
        work.git("checkout", "-q", "-b", branch, "main")
        work.commit({f"{branch}.txt": "x\n"}, f"add {branch}")
    work.git("checkout", "-q", "main")
    git.push_to(work.path, ref, "a1", "a2", "a3")
    numbers = []
    for branch in ("a1", "a2", "a3"):
        r = call(server, "POST", f"/repos/{ref.full_name}/pulls", tok,
                 json={"title": branch, "head": branch, "base": "main"})
        assert r.status_code == 201, r.text
        numbers.append(r.json()["number"])
    first = call(server, "GET", f"/repos/{ref.full_name}/pulls", tok, params={"per_page": 2})
    assert [p["number"] for p in first.json()] == numbers[::-1][:2]
    assert 'rel="next"' in first.headers["Link"] and first.headers["X-Total-Count"] == "3"
    second = call(server, "GET", f"/repos/{ref.full_name}/pulls", tok, params={"per_page": 2, "page": 2})
    assert [p["number"] for p in second.json()] == [numbers[0]]
    assert call(server, "GET", f"/repos/{ref.full_name}/pulls", tok, params={"per_page": 2, "page": 9}).json() == []
    oldest = call(server, "GET", f"/repos/{ref.full_name}/pulls", tok, params={"direction": "asc"})
    assert [p["number"] for p in oldest.json()] == numbers


def test_open_refusals(server, git, factory):  # type: ignore[no-untyped-def]
    owner, ref, tok, work = _pushed(git, factory)
    path = f"/repos/{ref.full_name}/pulls"
    body = {"title": "T", "head": "topic", "base": "main"}
    assert call(server, "POST", path, json=body).status_code == 401
    reader = factory.token(owner, ["read:issue"])
    r = call(server, "POST", path, reader, json=body)
    assert r.status_code == 403 and "write:issue" in r.json()["message"]
    r = call(server, "POST", path, tok, json={**body, "head": "missing"})
    assert r.status_code == 422 and "missing" in r.json()["message"]
    r = call(server, "POST", path, tok, json={**body, "base": "nowhere"})
    assert r.status_code == 422 and "nowhere" in r.json()["message"]
    r = call(server, "POST", path, tok, json={**body, "head": "main"})
    assert r.status_code == 422
    r = call(server, "POST", path, tok, json={**body, "head": "stranger:topic"})
    assert r.status_code == 422
    r = call(server, "POST", path, tok, json={**body, "title": ""})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "title"
    assert call(server, "POST", path, tok, json=body).status_code == 201
    r = call(server, "POST", path, tok, json=body)
    assert r.status_code == 409 and "already proposes" in r.json()["message"]
    # "Nothing to merge": main already has every commit of a branch made from it.
    git.push_to(work.path, ref, "main:refs/heads/same")
    r = call(server, "POST", path, tok, json={**body, "head": "same"})
    assert r.status_code == 422 and "nothing to merge" in r.json()["message"]


def test_private_repository_is_hidden(server, git, factory):  # type: ignore[no-untyped-def]
    pr = feature_pull(git, factory, private=True)
    path = f"/repos/{pr.ref.full_name}/pulls"
    assert call(server, "GET", path).status_code == 404
    assert call(server, "GET", f"{path}/{pr.number}").status_code == 404
    stranger = factory.token(factory.user(), SCOPES)
    assert call(server, "GET", f"{path}/{pr.number}", stranger).status_code == 404
    assert call(server, "GET", f"{path}/{pr.number}", factory.token(pr.owner, ["read:issue"])).status_code == 200
    # A token without an issue scope is refused even on the owner's repository.
    assert call(server, "GET", path, factory.token(pr.owner, ["read:repo"])).status_code == 403


def test_open_from_a_fork(server, git, factory):  # type: ignore[no-untyped-def]
    maintainer = factory.user()
    base = factory.repo(maintainer)
    contributor = factory.user()
    work = diverged(git)
    git.push_to(work.path, base, "main")
    with factory.session() as s:
        fork = repos.fork_repository(s, factory.settings.repos_dir, factory.settings.git_bin, s.merge(contributor),
                                     repos.get_repo_by_id(s, base.repo.id))
    git.push_to(work.path, fork, "topic", user=contributor)
    tok = factory.token(contributor, ["write:issue"])
    r = call(server, "POST", f"/repos/{base.full_name}/pulls", tok,
             json={"title": "From my fork", "head": f"{contributor.name}:topic", "base": "main"})
    assert r.status_code == 201, r.text
    pr = r.json()
    assert pr["head"]["repo"]["full_name"] == fork.full_name and pr["head"]["label"] == f"{contributor.name}:topic"
    assert pr["base"]["repo"]["full_name"] == base.full_name and pr["user"]["login"] == contributor.name
    listed = call(server, "GET", f"/repos/{base.full_name}/pulls", params={"head": f"{contributor.name}:topic"})
    assert [p["number"] for p in listed.json()] == [pr["number"]]


def test_commits_and_files(server, git, factory):  # type: ignore[no-untyped-def]
    pr = feature_pull(git, factory)
    path = f"/repos/{pr.ref.full_name}/pulls/{pr.number}"
    commits = call(server, "GET", f"{path}/commits")
    assert commits.status_code == 200 and [c["message"].strip() for c in commits.json()] == ["feature change"]
    assert commits.headers["X-Total-Count"] == "1"
    files = call(server, "GET", f"{path}/files")
    assert files.status_code == 200
    by_name = {f["filename"]: f for f in files.json()}
    assert set(by_name) == {"ten.txt", "notes.md"}
    assert by_name["notes.md"]["status"] == "added" and by_name["notes.md"]["additions"] == 1
    ten = by_name["ten.txt"]
    assert ten["status"] == "modified" and ten["additions"] == 3 and ten["deletions"] == 2
    assert ten["patch"].startswith("@@ ") and "+line three" in ten["patch"] and "-line 3" in ten["patch"]
    assert len(call(server, "GET", f"{path}/files", params={"per_page": 1}).json()) == 1


def test_edit_close_reopen_and_draft(server, git, factory):  # type: ignore[no-untyped-def]
    pr = feature_pull(git, factory)
    tok = factory.token(pr.owner, ["write:issue"])
    path = f"/repos/{pr.ref.full_name}/pulls/{pr.number}"
    r = call(server, "PATCH", path, tok, json={"title": "Better title", "body": "Now with a body"})
    assert r.status_code == 200 and r.json()["title"] == "Better title" and r.json()["body"] == "Now with a body"
    assert call(server, "PATCH", path, tok, json={"draft": True}).json()["draft"] is True
    assert call(server, "PATCH", path, tok, json={"draft": False}).json()["draft"] is False
    closed = call(server, "PATCH", path, tok, json={"state": "closed"}).json()
    assert closed["state"] == "closed" and closed["closed_at"] is not None and closed["merged"] is False
    assert call(server, "PATCH", path, tok, json={"state": "open"}).json()["state"] == "open"
    assert call(server, "PATCH", path, tok, json={"state": "merged"}).status_code == 422
    stranger = factory.token(factory.user(), ["write:issue"])
    assert call(server, "PATCH", path, stranger, json={"title": "Mine now"}).status_code == 403
    assert call(server, "PATCH", path, stranger, json={"draft": True}).status_code == 403


def test_review_requests(server, git, factory):  # type: ignore[no-untyped-def]
    pr = feature_pull(git, factory)
    reviewer = collaborator(factory, pr.ref)
    tok = factory.token(pr.owner, ["write:issue"])
    path = f"/repos/{pr.ref.full_name}/pulls/{pr.number}/requested_reviewers"
    r = call(server, "POST", path, tok, json={"reviewers": [reviewer.name]})
    assert r.status_code == 201 and [u["login"] for u in r.json()["requested_reviewers"]] == [reviewer.name]
    r = call(server, "POST", path, tok, json={"reviewers": [pr.owner.name]})
    assert r.status_code == 422 and "cannot review" in r.json()["message"]
    assert call(server, "POST", path, tok, json={"reviewers": ["no-such-user-x"]}).status_code == 422
    assert call(server, "POST", path, tok, json={"reviewers": []}).status_code == 422
    r = httpx.request("DELETE", f"{server.url}/api/v1{path}", headers={"Authorization": f"token {tok}"},
                      json={"reviewers": [reviewer.name]}, timeout=30)
    assert r.status_code == 200 and r.json()["requested_reviewers"] == []


@pytest.mark.parametrize("method", ["merge", "squash", "rebase", "fast-forward"])
def test_merge_each_method(server, git, factory, method):  # type: ignore[no-untyped-def]
    pr = feature_pull(git, factory)
    tok = factory.token(pr.owner, SCOPES)
    path = f"/repos/{pr.ref.full_name}/pulls/{pr.number}"
    assert call(server, "GET", f"{path}/merge").status_code == 404
    head = call(server, "GET", path).json()["head"]["sha"]
    r = call(server, "PUT", f"{path}/merge", tok, json={"merge_method": method, "sha": head,
                                                         "commit_title": "Merged over the API"})
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["merged"] is True and len(result["sha"]) == 40
    assert remote_sha(git, pr.ref, "refs/heads/main") == result["sha"]
    if method == "fast-forward":
        assert result["sha"] == head
    got = call(server, "GET", path).json()
    assert got["merged"] is True and got["state"] == "closed" and got["merge_commit_sha"] == result["sha"]
    assert got["merged_by"]["login"] == pr.owner.name and got["merged_at"] is not None
    assert call(server, "GET", f"{path}/merge").status_code == 204
    # The base branch has the head's content, read back through git.
    clone = git.tmp / f"clone-{method}"
    git.run("clone", "-q", "-b", "main", git.url(f"{pr.ref.full_name}.git", pr.owner.name, "correct-horse-42"),
            str(clone), check=True)
    assert (clone / "notes.md").read_text() == "notes\n" and "line three" in (clone / "ten.txt").read_text()
    if method in ("merge", "squash"):
        subject = git.run("log", "-1", "--format=%s", cwd=clone, check=True).out.strip()
        assert subject == "Merged over the API"
    again = call(server, "PUT", f"{path}/merge", tok, json={"merge_method": method})
    assert again.status_code == 409 and "already merged" in again.json()["message"]
    # The same records as the web's merge button: the activity notifications and webhooks are made from.
    with factory.session() as s:
        kinds = [a.kind for a in s.exec(select(Activity).where(Activity.repo_id == pr.ref.repo.id))]
    assert activity.PULL_MERGED in kinds and activity.ISSUE_CLOSED in kinds


def test_merge_refusals(server, git, factory):  # type: ignore[no-untyped-def]
    pr = feature_pull(git, factory)
    tok = factory.token(pr.owner, SCOPES)
    path = f"/repos/{pr.ref.full_name}/pulls/{pr.number}"
    issue_only = factory.token(pr.owner, ["write:issue"])
    r = call(server, "PUT", f"{path}/merge", issue_only, json={})
    assert r.status_code == 403 and "write:repo" in r.json()["message"]
    reader = collaborator(factory, pr.ref, "read")
    r = call(server, "PUT", f"{path}/merge", factory.token(reader, SCOPES), json={})
    assert r.status_code == 403
    r = call(server, "PUT", f"{path}/merge", tok, json={"sha": "0" * 40})
    assert r.status_code == 409 and "New commits" in r.json()["message"]
    assert call(server, "PUT", f"{path}/merge", tok, json={"merge_method": "octopus"}).status_code == 422
    assert call(server, "PUT", f"{path}/merge", tok, json={"sha": "nothex"}).status_code == 422
    with factory.session() as s:
        protection.save_rule(s, pr.owner, repos.get_repo_by_id(s, pr.ref.repo.id), "main", required_approvals=1)
    r = call(server, "PUT", f"{path}/merge", tok, json={})
    assert r.status_code == 409 and "Approving reviews required: 1" in r.json()["message"]
    # A writer's approval (through the reviews API) lifts it; the branch goes with the merge when asked.
    writer = collaborator(factory, pr.ref, "write")
    r = call(server, "POST", f"{path}/reviews", factory.token(writer, ["write:issue"]), json={"event": "APPROVE"})
    assert r.status_code == 200, r.text
    r = call(server, "PUT", f"{path}/merge", tok, json={"merge_method": "squash", "delete_branch_after_merge": True})
    assert r.status_code == 200, r.text
    assert remote_sha(git, pr.ref, "refs/heads/feature") is None


def test_update_branch(server, git, factory):  # type: ignore[no-untyped-def]
    owner, ref, tok, work = _pushed(git, factory)
    r = call(server, "POST", f"/repos/{ref.full_name}/pulls", tok, json={"title": "T", "head": "topic",
                                                                          "base": "main"})
    path = f"/repos/{ref.full_name}/pulls/{r.json()['number']}"
    before = r.json()["head"]["sha"]
    assert call(server, "PUT", f"{path}/update-branch", factory.token(owner, ["write:issue"])).status_code == 403
    r = call(server, "PUT", f"{path}/update-branch", tok, json={"expected_head_sha": "1" * 40})
    assert r.status_code == 409
    r = call(server, "PUT", f"{path}/update-branch", tok, json={"expected_head_sha": before})
    assert r.status_code == 202, r.text
    new = r.json()["sha"]
    assert new != before and remote_sha(git, ref, "refs/heads/topic") == new
    assert call(server, "GET", path).json()["head"]["sha"] == new
    r = call(server, "PUT", f"{path}/update-branch", tok)
    assert r.status_code == 409 and "up to date" in r.json()["message"]


def test_change_base(server, git, factory):  # type: ignore[no-untyped-def]
    owner, ref, tok, work = _pushed(git, factory)
    work.git("checkout", "-q", "-b", "release", "main")
    work.git("checkout", "-q", "main")
    git.push_to(work.path, ref, "release")
    r = call(server, "POST", f"/repos/{ref.full_name}/pulls", tok, json={"title": "T", "head": "topic",
                                                                          "base": "main"})
    path = f"/repos/{ref.full_name}/pulls/{r.json()['number']}"
    r = call(server, "PATCH", path, tok, json={"base": "release"})
    assert r.status_code == 200, r.text
    assert r.json()["base"]["ref"] == "release" and r.json()["base"]["label"] == f"{owner.name}:release"
    r = call(server, "PATCH", path, tok, json={"base": "nowhere"})
    assert r.status_code == 422 and "nowhere" in r.json()["message"]
    assert call(server, "PATCH", path, tok, json={"base": "topic"}).status_code == 422
    # Another pull request of the same head into main: moving this one back there would duplicate it.
    assert call(server, "POST", f"/repos/{ref.full_name}/pulls", tok,
                json={"title": "U", "head": "topic", "base": "main"}).status_code == 201
    r = call(server, "PATCH", path, tok, json={"base": "main"})
    assert r.status_code == 409
    # The timeline says what happened (the pull request page shows the event).
    page = httpx.get(f"{server.url}/{ref.full_name}/pulls/{path.rsplit('/', 1)[1]}")
    assert page.status_code == 200 and "changed the base branch" in page.text
