"""Commit history and commit pages over the live server, with history made by real git pushes."""

from __future__ import annotations

import re
from pathlib import Path

from tests.factories import PASSWORD
from tests.gitclient import GitClient


def _rows(html: str) -> list[str]:
    return re.findall(r'class="commit-summary" href="[^"]*">([^<]*)</a>', html)


def test_history_is_newest_first_and_paginated(git, factory, web):  # type: ignore[no-untyped-def]
    alice = factory.user()
    ref = factory.repo(alice)
    work = git.init_repo("many")
    for i in range(1, 60):
        git.run("commit", "-q", "--allow-empty", "-m", f"step {i}", cwd=work, check=True)
    git.push_to(work, ref)
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
    git.push_to(work, ref, "main", "feature/x")
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
    git.push_to(work, ref)
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
    # Old and new line numbers of the modified file (the 4th, by path): line 2 replaced, line 4 added. Each
    # number is an anchor: L for the old side, R for the new.
    assert ('<tr class="del"><td class="num" id="diff-4L2"><a href="#diff-4L2">2</a></td><td class="num"></td>'
            '<td class="code">-b</td></tr>') in text
    assert ('<tr class="add"><td class="num"></td><td class="num" id="diff-4R4"><a href="#diff-4R4">4</a></td>'
            '<td class="code">+d</td></tr>') in text

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
    git.push_to(work, ref)
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
    git.push_to(git.init_repo("unk"), ref)
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
    git.push_to(work, ref)
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


def _head(git: GitClient, work: Path) -> str:
    return git.run("rev-parse", "HEAD", cwd=work, check=True).out.strip()


def test_split_view_pairs_changed_lines_and_keeps_other_options(git, factory, web):  # type: ignore[no-untyped-def]
    alice = factory.user()
    ref = factory.repo(alice)
    work = git.init_repo("split", {"f.txt": "keep\nold1\nold2\nmid\n", "g.txt": "g\n"})
    sha = git.commit(work, "f.txt", "keep\nnew1\nnew2\nnew3\nmid\n", "edit f")
    git.push_to(work, ref)
    base = f"/{alice.name}/{ref.repo.name}/commit/{sha}"

    unified = web.get(f"{base}?w=1")
    assert f'href="{base}?w=1&amp;style=split"' in unified.text  # the split link keeps w=1
    split = web.get(f"{base}?w=1&style=split")
    assert split.status_code == 200
    text = split.text
    assert '<table class="diff split">' in text and f'href="{base}?w=1"' in text  # back to unified, w kept
    rows = re.findall(r'<tr class="change">(.*?)</tr>', text)

    def cell(side: str, no: int, body: str, kind: str) -> str:
        anchor = f"diff-1{side}{no}"
        return f'<td class="num" id="{anchor}"><a href="#{anchor}">{no}</a></td><td class="code {kind}">{body}</td>'

    empty = '<td class="num empty"></td><td class="code empty"></td>'
    assert rows == [
        cell("L", 2, "-old1", "del") + cell("R", 2, "+new1", "add"),
        cell("L", 3, "-old2", "del") + cell("R", 3, "+new2", "add"),
        empty + cell("R", 4, "+new3", "add"),
    ]
    assert cell("L", 4, " mid", "context") + cell("R", 5, " mid", "context") in text


def test_files_fold_and_a_large_file_links_to_its_own_page(git, factory, web):  # type: ignore[no-untyped-def]
    alice = factory.user()
    ref = factory.repo(alice)
    work = git.init_repo("fold", {"small.txt": "a\n"})
    (work / "small.txt").write_text("b\n")
    (work / "big file.txt").write_text("".join(f"line {i}\n" for i in range(1, 1201)))
    git.run("add", "-A", cwd=work, check=True)
    git.run("commit", "-qm", "big and small", cwd=work, check=True)
    sha = _head(git, work)
    git.push_to(work, ref)
    base = f"/{alice.name}/{ref.repo.name}"

    page = web.get(f"{base}/commit/{sha}")
    text = page.text
    # A list of the changed files with jump links, then each file folded in a <details>: the big one closed.
    assert '<details class="diff-toc" open>' in text
    assert '<li><a href="#diff-1">big file.txt</a>' in text and '<li><a href="#diff-2">small.txt</a>' in text
    assert '<details class="diff-file" id="diff-1">' in text and '<details class="diff-file" id="diff-2" open>' in text
    assert "line 600" not in text
    single = f"{base}/commit/{sha}?file=big+file.txt"
    assert f'<a class="diff-load" href="{single}">' in text
    assert f'href="{single}">Show this file\'s diff alone</a>' in text
    # Header links: the file at the commit, its history and blame.
    assert f'href="{base}/blob/{sha}/small.txt"' in text and f'href="{base}/commits/{sha}/small.txt"' in text
    assert f'href="{base}/blame/{sha}/small.txt"' in text

    alone = web.get(single)
    assert alone.status_code == 200
    assert "line 1200" in alone.text and "small.txt" not in alone.text
    assert "Showing only “big file.txt”." in alone.text and '<details class="diff-file" id="diff-1" open>' in alone.text
    assert f'href="{base}/commit/{sha}">Show all changed files</a>' in alone.text
    assert 'id="diff-1R1200"' in alone.text

    missing = web.get(f"{base}/commit/{sha}?file=nope.txt")
    assert missing.status_code == 404 and "nope.txt" in missing.text


def test_commit_page_lists_branches_and_tags_that_contain_it(git, factory, web):  # type: ignore[no-untyped-def]
    alice = factory.user()
    ref = factory.repo(alice)
    work = git.init_repo("contains")
    root = _head(git, work)
    git.run("tag", "-a", "-m", "release", "v1.0", cwd=work, check=True)
    git.run("checkout", "-q", "-b", "feature/x", cwd=work, check=True)
    side = git.commit(work, "side.txt", "s\n", "side work")
    git.run("checkout", "-q", "main", cwd=work, check=True)
    git.push_to(work, ref, "main", "feature/x", "v1.0")
    base = f"/{alice.name}/{ref.repo.name}"

    text = web.get(f"{base}/commit/{root}").text
    assert re.findall(r'class="branch" href="[^"]*">([^<]*)</a>', text) == ["main", "feature/x"]
    assert re.findall(r'class="tag" href="[^"]*">([^<]*)</a>', text) == ["v1.0"]
    text = web.get(f"{base}/commit/{side}").text
    assert re.findall(r'class="branch" href="[^"]*">([^<]*)</a>', text) == ["feature/x"]
    assert f'class="branch" href="{base}/tree/feature/x"' in text
    assert 'class="tag"' not in text


def test_file_history_follows_renames(git, factory, web):  # type: ignore[no-untyped-def]
    alice = factory.user()
    ref = factory.repo(alice)
    body = "".join(f"line {i}\n" for i in range(20))
    work = git.init_repo("follow", {"first.txt": body, "other.txt": "o\n"})
    git.commit(work, "first.txt", body + "more\n", "edit first")
    git.run("mv", "first.txt", "second.txt", cwd=work, check=True)
    git.run("commit", "-qm", "rename to second", cwd=work, check=True)
    git.commit(work, "other.txt", "p\n", "unrelated")
    (work / "docs").mkdir()
    git.run("mv", "second.txt", "docs/third.txt", cwd=work, check=True)
    (work / "docs" / "third.txt").write_text(body + "more\nand more\n")
    git.run("add", "-A", cwd=work, check=True)
    git.run("commit", "-qm", "move to docs and edit", cwd=work, check=True)
    git.push_to(work, ref)
    base = f"/{alice.name}/{ref.repo.name}"

    page = web.get(f"{base}/commits/main/docs/third.txt")
    assert page.status_code == 200
    text = page.text
    assert _rows(text) == ["move to docs and edit", "rename to second", "edit first", "initial commit"]
    notes = re.findall(r'class="rename-note small">renamed from <a href="([^"]*)"><code>([^<]*)</code>', text)
    assert [n[1] for n in notes] == ["second.txt", "first.txt"]
    assert "This file's history follows it across renames." in text
    # Each commit links to the file under the name it had then.
    assert re.search(rf'href="{base}/blob/[0-9a-f]{{40}}/first.txt"', text)
    # A directory's history does not follow renames.
    docs = web.get(f"{base}/commits/main/docs")
    assert _rows(docs.text) == ["move to docs and edit"] and "rename-note" not in docs.text


def test_files_past_the_page_limit_are_listed_with_links(git, factory, web):  # type: ignore[no-untyped-def]
    alice = factory.user()
    ref = factory.repo(alice)
    work = git.init_repo("manyfiles")
    for i in range(205):
        (work / f"f{i:03}.txt").write_text(f"{i}\n")
    git.run("add", "-A", cwd=work, check=True)
    git.run("commit", "-qm", "205 files", cwd=work, check=True)
    sha = _head(git, work)
    git.push_to(work, ref)
    base = f"/{alice.name}/{ref.repo.name}/commit/{sha}"

    text = web.get(base).text
    assert "205 files changed" in text and "This diff is too large to show in full" in text
    assert "5 more changed files not shown" in text
    assert f'<li><a href="{base}?file=f204.txt">f204.txt</a></li>' in text and 'id="diff-201"' not in text
    alone = web.get(f"{base}?file=f204.txt")
    assert alone.status_code == 200 and '<td class="code">+204</td>' in alone.text
