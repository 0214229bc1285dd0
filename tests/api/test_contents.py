"""The contents API against the live server: files and directories read at a ref, raw downloads, and files
created, updated and deleted through commits that a real git clone then sees, under the same branch protection as
a push and recorded as pushes."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from forge.git.edits import Identity
from forge.pulls.gitops import update_ref
from forge.repos import files, protection, pushes
from forge.repos import services as repos
from tests.api.test_repos import call
from tests.factories import PASSWORD, unique


def _b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def _clone_log(git: Any, ref: Any, branch: str = "main") -> tuple[Any, list[str]]:
    """A fresh clone of ``branch`` and its ``git log`` as "subject|committer email" lines."""
    target = git.tmp / unique("clone")
    git.run("clone", "-q", "-b", branch, git.url(f"{ref.full_name}.git", ref.owner.name, PASSWORD), str(target),
            check=True)
    log = git.run("log", "--format=%s|%ce", cwd=target, check=True).out.splitlines()
    return target, log


def _push_events(factory: Any, ref: Any) -> list[tuple[str, str]]:
    with factory.session() as s:
        fresh = repos.get_repo_by_id(s, ref.repo.id)
        assert fresh is not None
        return [(e.ref, e.source) for e in pushes.recent_events(s, fresh.repo)]


def test_read_files_directories_and_raw(server, factory, git) -> None:  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    work = git.new_work(unique("w"))
    sha = work.commit({"README.md": "hello\n", "docs/guide.md": "# Guide\n", "bin.dat": b"\x00\x01\xff"}, "files")
    work.git("checkout", "-q", "-b", "old")
    work.commit({"README.md": "older\n"}, "on old")
    git.push_to(work.path, ref, "main", "old")
    base = f"/repos/{ref.full_name}"

    root = call(server, "GET", f"{base}/contents")
    assert root.status_code == 200, root.text
    assert [(e["type"], e["name"], e["size"]) for e in root.json()] == \
        [("dir", "docs", 0), ("file", "bin.dat", 3), ("file", "README.md", 6)]
    readme = root.json()[2]
    assert readme["html_url"] == f"{server.url}/{ref.full_name}/blob/main/README.md"
    assert readme["download_url"] == f"{server.url}/{ref.full_name}/raw/main/README.md"

    docs = call(server, "GET", f"{base}/contents/docs").json()
    assert [(e["type"], e["path"]) for e in docs] == [("file", "docs/guide.md")]
    f = call(server, "GET", f"{base}/contents/docs/guide.md").json()
    assert (f["type"], f["name"], f["path"], f["size"], f["encoding"]) == ("file", "guide.md", "docs/guide.md", 8,
                                                                          "base64")
    assert base64.b64decode(f["content"]) == b"# Guide\n"
    assert f["sha"] == git.run("rev-parse", f"{sha}:docs/guide.md", cwd=work.path, check=True).out.strip()
    at_old = call(server, "GET", f"{base}/contents/README.md", params={"ref": "old"}).json()
    assert base64.b64decode(at_old["content"]) == b"older\n"
    at_sha = call(server, "GET", f"{base}/contents/README.md", params={"ref": sha}).json()
    assert base64.b64decode(at_sha["content"]) == b"hello\n"

    raw = call(server, "GET", f"{base}/raw/bin.dat")
    assert raw.status_code == 200 and raw.content == b"\x00\x01\xff"
    assert raw.headers["content-type"] == "application/octet-stream"
    assert raw.headers["x-content-type-options"] == "nosniff"
    assert call(server, "GET", f"{base}/raw/README.md", params={"ref": "old"}).content == b"older\n"

    for path, params in (("contents/nope.txt", {}), ("contents/README.md", {"ref": "nosuch"}),
                         ("raw/docs", {}), ("raw/nope", {})):
        r = call(server, "GET", f"{base}/{path}", params=params)
        assert r.status_code == 404, (path, r.text)
        assert r.json()["message"]


def test_create_update_delete_and_clone(server, factory, git) -> None:  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner, readme=True)
    tok = factory.token(owner, ["write:repo"])
    url = f"/repos/{ref.full_name}/contents/docs/new.txt"

    created = call(server, "PUT", url, tok, json={"message": "Add new.txt", "content": _b64("one\n")})
    assert created.status_code == 201, created.text
    body = created.json()
    first_sha = body["content"]["sha"]
    assert (body["content"]["path"], body["content"]["size"]) == ("docs/new.txt", 4)
    assert body["commit"]["message"] == "Add new.txt"
    assert body["commit"]["committer"]["email"] == f"{owner.name}@example.com"
    assert _push_events(factory, ref)[0] == ("refs/heads/main", "web")

    again = call(server, "PUT", url, tok, json={"content": _b64("two\n")})
    assert again.status_code == 422 and "sha" in again.json()["message"]
    stale = call(server, "PUT", url, tok, json={"content": _b64("two\n"), "sha": "1" * 40})
    assert stale.status_code == 409
    assert call(server, "POST", url, tok, json={"content": _b64("two\n")}).status_code == 409

    updated = call(server, "PUT", url, tok, json={"content": _b64("two\n"), "sha": first_sha,
                                                  "author": {"name": "Ann Author", "email": "ann@example.com"}})
    assert updated.status_code == 200, updated.text
    assert updated.json()["commit"]["author"]["name"] == "Ann Author"
    assert updated.json()["commit"]["message"] == "Update docs/new.txt"
    second_sha = updated.json()["content"]["sha"]
    # The first version is gone: writing against it again is a conflict, not a silent overwrite.
    assert call(server, "PUT", url, tok, json={"content": _b64("three\n"), "sha": first_sha}).status_code == 409

    posted = call(server, "POST", f"/repos/{ref.full_name}/contents/other.txt", tok,
                  json={"content": _b64("x"), "message": "Other"})
    assert posted.status_code == 201, posted.text

    bad = call(server, "DELETE", url, tok, json={"sha": first_sha})
    assert bad.status_code == 409
    deleted = call(server, "DELETE", url, tok, json={"sha": second_sha, "message": "Drop new.txt"})
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["content"] is None
    assert call(server, "GET", url).status_code == 404
    assert call(server, "DELETE", url, tok, json={"sha": second_sha}).status_code == 404

    target, log = _clone_log(git, ref)
    email = f"{owner.name}@example.com"
    assert log[:4] == [f"Drop new.txt|{email}", f"Other|{email}", f"Update docs/new.txt|{email}",
                       f"Add new.txt|{email}"]
    assert not (target / "docs").exists() and (target / "other.txt").read_text() == "x"

    # On a new branch, made from main.
    branched = call(server, "PUT", f"/repos/{ref.full_name}/contents/feature.txt", tok,
                    json={"content": _b64("f\n"), "branch": "main", "new_branch": "feat/one"})
    assert branched.status_code == 201, branched.text
    assert _push_events(factory, ref)[0] == ("refs/heads/feat/one", "web")
    _, feat_log = _clone_log(git, ref, "feat/one")
    assert feat_log[0] == f"Create feature.txt|{email}" and feat_log[1:] == log
    taken = call(server, "PUT", f"/repos/{ref.full_name}/contents/x.txt", tok,
                 json={"content": _b64("x"), "new_branch": "feat/one"})
    assert taken.status_code == 409
    nobranch = call(server, "PUT", f"/repos/{ref.full_name}/contents/x.txt", tok,
                    json={"content": _b64("x"), "branch": "nosuch"})
    assert nobranch.status_code == 404 and "nosuch" in nobranch.json()["message"]


def test_first_file_of_an_empty_repository(server, factory, git) -> None:  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    tok = factory.token(owner, ["write:repo"])
    assert call(server, "GET", f"/repos/{ref.full_name}/contents").status_code == 404
    assert call(server, "GET", f"/repos/{ref.full_name}/commits").json() == []
    r = call(server, "PUT", f"/repos/{ref.full_name}/contents/README.md", tok,
             json={"content": _b64("# First\n"), "message": "First!"})
    assert r.status_code == 201, r.text
    assert r.json()["commit"]["parents"] == []
    target, log = _clone_log(git, ref)
    assert [line.split("|")[0] for line in log] == ["First!"]
    assert (target / "README.md").read_text() == "# First\n"


def test_protected_branch_refuses_like_a_push(server, factory, git) -> None:  # type: ignore[no-untyped-def]
    owner = factory.user()
    writer = factory.user()
    ref = factory.repo(owner, readme=True)
    with factory.session() as s:
        fresh = repos.get_repo_by_id(s, ref.repo.id)
        assert fresh is not None
        repos.set_collaborator(s, owner, fresh, writer, "write")
        protection.save_rule(s, owner, fresh, "main", require_pull_request=True)
        protection.save_rule(s, owner, fresh, "checked/*", required_contexts=["ci/forge"])
        protection.save_rule(s, owner, fresh, "frozen", restrict_push=True)
    tok = factory.token(writer, ["write:repo"])
    base = f"/repos/{ref.full_name}/contents"
    r = call(server, "PUT", f"{base}/a.txt", tok, json={"content": _b64("a")})
    assert r.status_code == 403 and "pull request" in r.json()["message"]
    # Creating a branch is allowed by the rule; a commit on it without its required checks is not.
    assert call(server, "PUT", f"{base}/a.txt", tok,
                json={"content": _b64("a"), "new_branch": "checked/x"}).status_code == 201
    r = call(server, "PUT", f"{base}/b.txt", tok, json={"content": _b64("b"), "branch": "checked/x"})
    assert r.status_code == 403 and "ci/forge" in r.json()["message"]
    r = call(server, "PUT", f"{base}/b.txt", tok, json={"content": _b64("b"), "new_branch": "frozen"})
    assert r.status_code == 403 and "protected" in r.json()["message"]
    # The repository's admin may bypass the pull request requirement, as with git push.
    admin = call(server, "PUT", f"{base}/a.txt", factory.token(owner, ["write:repo"]), json={"content": _b64("a")})
    assert admin.status_code == 201, admin.text


@pytest.mark.parametrize("path", [".git/config", "docs/.GIT/x", "a/%2E/b", "a/%2E%2E/b", "docs/", "a%5Cb"])
def test_bad_paths_are_refused(server, factory, path) -> None:  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner, readme=True)
    r = call(server, "PUT", f"/repos/{ref.full_name}/contents/{path}", factory.token(owner, ["write:repo"]),
             json={"content": _b64("x")})
    assert r.status_code == 422, r.text
    assert "path" in r.json()["message"] or "part" in r.json()["message"]


def test_access_and_input_errors(server, factory) -> None:  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner, readme=True, private=True)
    url = f"/repos/{ref.full_name}/contents/README.md"
    assert call(server, "GET", url).status_code == 404
    assert call(server, "GET", f"/repos/{ref.full_name}/raw/README.md").status_code == 404
    assert call(server, "GET", url, factory.token(factory.user(), ["read:repo"])).status_code == 404
    assert call(server, "GET", url, factory.token(owner, ["read:repo"])).status_code == 200
    payload = {"content": _b64("x")}
    new = f"/repos/{ref.full_name}/contents/new.txt"
    assert call(server, "PUT", new, json=payload).status_code == 401
    r = call(server, "PUT", new, factory.token(owner, ["read:repo"]), json=payload)
    assert r.status_code == 403 and "write:repo" in r.json()["message"]
    tok = factory.token(owner, ["write:repo"])
    r = call(server, "PUT", new, tok, json={"content": "not base64!"})
    assert r.status_code == 422 and "base64" in r.json()["message"]
    r = call(server, "PUT", new, tok, json={"message": "no content"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "content"
    r = call(server, "PUT", new, tok, json={"content": "eA==", "author": {"name": "x", "email": "nope"}})
    assert r.status_code == 422


def test_a_lost_race_is_a_conflict(server, factory, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner, readme=True)
    git_repo = repos.open_git(server.settings.repos_dir, ref)
    other = Identity("Other", "other@example.com")
    real = files.commit_file
    winner: list[str] = []

    def racing(git: Any, parent: str | None, *args: Any, **kwargs: Any) -> Any:
        # Another writer moves main after this change read it and before it moves the branch.
        written = real(git, parent, *args, **kwargs)
        theirs = real(git, parent, "theirs.txt", b"t", message="theirs", author=other, committer=other)
        assert update_ref(git, "refs/heads/main", theirs.commit.sha, parent or "")
        winner.append(theirs.commit.sha)
        return written

    monkeypatch.setattr(files, "commit_file", racing)
    events = len(_push_events(factory, ref))
    r = call(server, "PUT", f"/repos/{ref.full_name}/contents/mine.txt", factory.token(owner, ["write:repo"]),
             json={"content": _b64("mine")})
    assert r.status_code == 409 and "try again" in r.json()["message"]
    assert git_repo.ref_target("refs/heads/main") == winner[0]
    assert len(_push_events(factory, ref)) == events  # the lost change's push event was rolled back
