"""Commit history and commit pages over the live server, with history made by real git pushes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.factories import PASSWORD
from tests.gitclient import GitClient


def _push(git: GitClient, work: Path, owner: Any, repo: Any, *refs: str) -> None:
    url = git.url(f"{owner.name}/{repo.repo.name}.git", owner.name, PASSWORD)
    res = git.run("push", url, *(refs or ("main",)), cwd=work)
    assert res.ok, res.err


def _rows(html: str) -> list[str]:
    return re.findall(r'class="commit-summary" href="[^"]*">([^<]*)</a>', html)


def test_history_is_newest_first_and_paginated(git, factory, web):  # type: ignore[no-untyped-def]
    alice = factory.user()
    ref = factory.repo(alice)
    work = git.init_repo("many")
    for i in range(1, 60):
        git.run("commit", "-q", "--allow-empty", "-m", f"step {i}", cwd=work, check=True)
    _push(git, work, alice, ref)
    base = f"/{alice.name}/{ref.repo.name}"

    page1 = web.get(f"{base}/commits/main")
    assert page1.status_code == 200, page1.text[:500]
    rows = _rows(page1.text)
    assert len(rows) == 50
    assert rows[0] == "step 59" and rows[-1] == "step 10"
    assert 'href="?page=2"' in page1.text and "Newer" not in page1.text
    head = git.run("rev-parse", "HEAD", cwd=work).out.strip()
    assert f'href="{base}/commit/{head}"' in page1.text
    assert head[:10] in page1.text and "Test Author" in page1.text

    page2 = web.get(f"{base}/commits/main?page=2")
    rows = _rows(page2.text)
    assert rows == [f"step {i}" for i in range(9, 0, -1)] + ["initial commit"]
    assert 'href="?page=1"' in page2.text and "?page=3" not in page2.text

    # /commits alone goes to the default branch.
    assert web.get(f"{base}/commits").headers["location"] == f"{base}/commits/main"


def test_path_history_on_a_branch_with_a_slash(git, factory, web):  # type: ignore[no-untyped-def]
    alice = factory.user()
    ref = factory.repo(alice)
    work = git.init_repo("paths", {"README.md": "hi\n", "src/app.py": "print(1)\n"})
    git.commit(work, "README.md", "hello\n", "touch readme")
    git.run("checkout", "-q", "-b", "feature/x", cwd=work, check=True)
    (work / "src" / "app.py").write_text("print(2)\n")
    git.run("commit", "-qam", "change app", cwd=work, check=True)
    git.commit(work, "other.txt", "o\n", "add other")
    _push(git, work, alice, ref, "main", "feature/x")
    base = f"/{alice.name}/{ref.repo.name}"

    whole = web.get(f"{base}/commits/feature/x")
    assert _rows(whole.text) == ["add other", "change app", "touch readme", "initial commit"]
    assert "Commits on feature/x" in whole.text

    app = web.get(f"{base}/commits/feature/x/src/app.py")
    assert app.status_code == 200
    assert _rows(app.text) == ["change app", "initial commit"]
    src = web.get(f"{base}/commits/feature/x/src")
    assert _rows(src.text) == ["change app", "initial commit"]
    readme = web.get(f"{base}/commits/main/README.md")
    assert _rows(readme.text) == ["touch readme", "initial commit"]

    missing = web.get(f"{base}/commits/feature/x/nope.txt")
    assert missing.status_code == 404 and "nope.txt" in missing.text
    unknown = web.get(f"{base}/commits/no-such-branch")
    assert unknown.status_code == 404 and "no-such-branch" in unknown.text


def test_commit_page_shows_each_kind_of_change(git, factory, web):  # type: ignore[no-untyped-def]
    alice = factory.user()
    ref = factory.repo(alice)
    work = git.init_repo("diffs", {
        "keep.txt": "a\nb\nc\n",
        "gone.txt": "bye\n",
        "old_name.txt": "one\ntwo\nthree\nfour\nfive\n",
    })
    root = git.run("rev-parse", "HEAD", cwd=work).out.strip()
    (work / "keep.txt").write_text("a\nB\nc\nd\n")
    (work / "gone.txt").unlink()
    git.run("mv", "old_name.txt", "new_name.txt", cwd=work, check=True)
    (work / "fresh.txt").write_text("new\n")
    (work / "blob.bin").write_bytes(b"\x00\x01\x02binary")
    git.run("add", "-A", cwd=work, check=True)
    git.run("commit", "-q", "-m", "many changes\n\nWith a body line.", cwd=work, check=True)
    sha = git.run("rev-parse", "HEAD", cwd=work).out.strip()
    _push(git, work, alice, ref)
    base = f"/{alice.name}/{ref.repo.name}"

    page = web.get(f"{base}/commit/{sha}")
    assert page.status_code == 200, page.text[:500]
    text = page.text
    assert "many changes" in text and "With a body line." in text and sha in text
    assert f'href="{base}/commit/{root}"' in text  # parent link
    assert "5 files changed" in text and "3 additions" in text and "2 deletions" in text
    headers = re.findall(r'class="badge status-(\w+)">[^<]*</span>\s*<span class="path">([^<]*)</span>\s*'
                         r'<span class="diff-stat"><span class="add">\+(\d+)</span> <span class="del">−(\d+)', text)
    assert sorted(headers) == sorted([
        ("added", "blob.bin", "0", "0"),
        ("added", "fresh.txt", "1", "0"),
        ("deleted", "gone.txt", "0", "1"),
        ("modified", "keep.txt", "2", "1"),
        ("renamed", "old_name.txt → new_name.txt", "0", "0"),
    ])
    assert "Binary file not shown." in text
    assert "File renamed without changes." in text
    # Old and new line numbers of the modified file: line 2 replaced, line 4 added.
    assert '<tr class="del"><td class="num">2</td><td class="num"></td><td class="code">-b</td></tr>' in text
    assert '<tr class="add"><td class="num"></td><td class="num">4</td><td class="code">+d</td></tr>' in text

    # Abbreviated shas work too; the root commit is diffed against the empty tree.
    first = web.get(f"{base}/commit/{root[:8]}")
    assert first.status_code == 200
    assert "Root commit" in first.text and "3 files changed" in first.text and "9 additions" in first.text
    assert "old_name.txt" in first.text


def test_ignore_whitespace_hides_whitespace_only_changes(git, factory, web):  # type: ignore[no-untyped-def]
    alice = factory.user()
    ref = factory.repo(alice)
    work = git.init_repo("ws", {"a.py": "def f():\n    return 1\n", "b.txt": "x\n"})
    (work / "a.py").write_text("def f():\n        return 1\n")
    (work / "b.txt").write_text("y\n")
    git.run("commit", "-qam", "reindent", cwd=work, check=True)
    sha = git.run("rev-parse", "HEAD", cwd=work).out.strip()
    _push(git, work, alice, ref)
    base = f"/{alice.name}/{ref.repo.name}"

    full = web.get(f"{base}/commit/{sha}")
    assert "a.py" in full.text and "+        return 1" in full.text and "2 files changed" in full.text
    quiet = web.get(f"{base}/commit/{sha}?w=1")
    assert quiet.status_code == 200
    assert "a.py" not in quiet.text and "b.txt" in quiet.text and "1 file changed" in quiet.text
    assert "Show whitespace changes" in quiet.text


def test_unknown_commit_is_404_naming_it(git, factory, web):  # type: ignore[no-untyped-def]
    alice = factory.user()
    ref = factory.repo(alice)
    _push(git, git.init_repo("unk"), alice, ref)
    base = f"/{alice.name}/{ref.repo.name}"
    for sha in ("deadbeefdeadbeefdeadbeefdeadbeefdeadbeef", "zzzz"):
        page = web.get(f"{base}/commit/{sha}")
        assert page.status_code == 404
        assert sha in page.text


def test_private_repo_history_is_hidden_from_strangers(git, factory, web):  # type: ignore[no-untyped-def]
    alice = factory.user()
    stranger = factory.user()
    ref = factory.repo(alice, private=True)
    work = git.init_repo("secret", {"secret.txt": "classified\n"})
    _push(git, work, alice, ref)
    sha = git.run("rev-parse", "HEAD", cwd=work).out.strip()
    base = f"/{alice.name}/{ref.repo.name}"
    urls = [f"{base}/commits", f"{base}/commits/main", f"{base}/commits/main/secret.txt", f"{base}/commit/{sha}"]

    for url in urls:  # anonymous
        page = web.get(url)
        assert page.status_code == 404, url
        assert "classified" not in page.text and "initial commit" not in page.text
    web.login(stranger.name, PASSWORD)
    for url in urls:
        page = web.get(url)
        assert page.status_code == 404, url
        assert "classified" not in page.text and "initial commit" not in page.text
    web.client.cookies.clear()
    web.login(alice.name, PASSWORD)
    assert web.get(f"{base}/commit/{sha}").status_code == 200
    assert "initial commit" in web.get(f"{base}/commits/main").text


def test_commit_page_accepts_a_branch_name(web, factory, git):  # type: ignore[no-untyped-def]
    from tests.factories import PASSWORD

    owner = factory.user()
    ref = factory.repo(owner)
    work = git.push_branches("bybranch", git.url(f"{ref.full_name}.git", owner.name, PASSWORD), "topic/x")
    head = git.run("rev-parse", "HEAD", cwd=work).out.strip()
    for name in ("main", "topic/x"):
        page = web.get(f"/{ref.full_name}/commit/{name}")
        assert page.status_code == 200, page.text[:300]
        assert head[:10] in page.text


def test_file_page_links_to_its_history(web, factory, git):  # type: ignore[no-untyped-def]
    from tests.factories import PASSWORD

    owner = factory.user()
    ref = factory.repo(owner)
    git.push_branches("histlink", git.url(f"{ref.full_name}.git", owner.name, PASSWORD))
    page = web.get(f"/{ref.full_name}/blob/main/README.md")
    link = f'href="/{ref.full_name}/commits/main/README.md"'
    assert link in page.text
    history = web.get(f"/{ref.full_name}/commits/main/README.md")
    assert history.status_code == 200 and "initial commit" in history.text
