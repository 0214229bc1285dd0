"""The compare pages on the live server, with histories made by real git pushes: the form, three dots against two,
unknown sides, unrelated histories, identical refs and private repositories."""

from __future__ import annotations

import re
from pathlib import Path

from tests.factories import PASSWORD
from tests.gitclient import GitClient


def _rows(html: str) -> list[str]:
    return re.findall(r'class="commit-summary" href="[^"]*">([^<]*)</a>', html)


def _files(html: str) -> list[tuple[str, str]]:
    return re.findall(r'class="badge status-(\w+)">[^<]*</span>\s*<span class="path">([^<]*)</span>', html)


def _diverged(git: GitClient, name: str) -> Path:
    """main: initial commit, then "main moves on"; release/1.0 (branched from the initial commit): two commits."""
    work = git.init_repo(name, {"shared.txt": "shared\n"})
    git.run("tag", "-a", "-m", "first", "v1.0", cwd=work, check=True)
    git.run("checkout", "-q", "-b", "release/1.0", cwd=work, check=True)
    git.commit(work, "feature.txt", "f\n", "feature one")
    git.commit(work, "feature.txt", "f\nf2\n", "feature two")
    git.run("checkout", "-q", "main", cwd=work, check=True)
    git.commit(work, "main.txt", "m\n", "main moves on")
    return work


def test_three_dots_show_what_head_brings_two_dots_the_direct_diff(git, factory, web):  # type: ignore[no-untyped-def]
    alice = factory.user()
    ref = factory.repo(alice)
    work = _diverged(git, "cmp")
    git.push_to(work, ref, "main", "release/1.0", "v1.0")
    base = f"/{alice.name}/{ref.repo.name}"

    three = web.get(f"{base}/compare/main...release/1.0")
    assert three.status_code == 200, three.text[:300]
    assert _rows(three.text) == ["feature two", "feature one"] and "2 commits" in three.text
    assert _files(three.text) == [("added", "feature.txt")]
    assert "1 file changed" in three.text and "2 additions" in three.text
    assert f'href="{base}/compare/release/1.0...main"' in three.text  # switch base and head
    assert f'href="{base}/compare/main..release/1.0"' in three.text  # the two-dot comparison

    two = web.get(f"{base}/compare/main..release/1.0")
    assert two.status_code == 200
    assert _rows(two.text) == ["feature two", "feature one"]
    assert sorted(_files(two.text)) == [("added", "feature.txt"), ("deleted", "main.txt")]

    # Tags (annotated) and commit ids work as sides; the split view and file links keep to the comparison.
    tag = web.get(f"{base}/compare/v1.0...main?style=split")
    assert tag.status_code == 200 and _rows(tag.text) == ["main moves on"]
    assert '<table class="diff split">' in tag.text
    sha = git.run("rev-parse", "release/1.0", cwd=work, check=True).out.strip()
    by_sha = web.get(f"{base}/compare/main...{sha[:10]}?file=feature.txt")
    assert by_sha.status_code == 200 and _files(by_sha.text) == [("added", "feature.txt")]
    assert "Showing only “feature.txt”." in by_sha.text

    # Head already merged into base: nothing to compare in three dots.
    behind = web.get(f"{base}/compare/main...v1.0")
    assert behind.status_code == 200 and "already contains every commit of “v1.0”" in behind.text
    assert "0 commits" in behind.text and "diff-file" not in behind.text


def test_form_redirects_and_defaults(git, factory, web):  # type: ignore[no-untyped-def]
    alice = factory.user()
    ref = factory.repo(alice)
    git.push_to(_diverged(git, "form"), ref, "main", "release/1.0", "v1.0")
    base = f"/{alice.name}/{ref.repo.name}"

    form = web.get(f"{base}/compare")
    assert form.status_code == 200
    assert 'name="base" value="main"' in form.text and 'name="head" value="release/1.0"' in form.text
    assert '<option value="release/1.0">' in form.text and '<option value="v1.0">' in form.text
    chosen = web.get(f"{base}/compare?base=v1.0&head=release/1.0&mode=two")
    assert chosen.status_code == 302 and chosen.headers["location"] == f"{base}/compare/v1.0..release/1.0"
    chosen = web.get(f"{base}/compare?base=main&head=release/1.0&mode=three")
    assert chosen.headers["location"] == f"{base}/compare/main...release/1.0"
    # A single name is compared with the default branch.
    alone = web.get(f"{base}/compare/release/1.0")
    assert alone.status_code == 302 and alone.headers["location"] == f"{base}/compare/main...release/1.0"


def test_unknown_sides_identical_refs_and_bad_specs(git, factory, web):  # type: ignore[no-untyped-def]
    alice = factory.user()
    ref = factory.repo(alice)
    work = _diverged(git, "bad")
    git.run("branch", "same-as-main", cwd=work, check=True)
    git.push_to(work, ref, "main", "release/1.0", "same-as-main")
    base = f"/{alice.name}/{ref.repo.name}"

    missing_base = web.get(f"{base}/compare/nope...main")
    assert missing_base.status_code == 404 and "The base “nope”" in missing_base.text
    missing_head = web.get(f"{base}/compare/main...release/2.0")
    assert missing_head.status_code == 404 and "The head “release/2.0”" in missing_head.text
    # Revision expressions are not sides: "main~1" is no branch, tag or commit id.
    assert web.get(f"{base}/compare/main~1...main").status_code == 404

    same = web.get(f"{base}/compare/main...same-as-main")
    assert same.status_code == 200
    assert "There is nothing to compare: “main” and “same-as-main” are the same commit." in same.text
    assert "diff-file" not in same.text

    empty_side = web.get(f"{base}/compare/main...")
    assert empty_side.status_code == 422 and "base...head" in empty_side.text


def test_unrelated_histories_are_compared_directly(git, factory, web):  # type: ignore[no-untyped-def]
    alice = factory.user()
    ref = factory.repo(alice)
    work = git.init_repo("unrel", {"a.txt": "a\n"})
    git.run("checkout", "-q", "--orphan", "pages", cwd=work, check=True)
    git.run("rm", "-q", "-rf", ".", cwd=work, check=True)
    git.commit(work, "index.html", "<p>hi</p>\n", "pages root")
    git.push_to(work, ref, "main", "pages")
    base = f"/{alice.name}/{ref.repo.name}"

    page = web.get(f"{base}/compare/main...pages")
    assert page.status_code == 200
    assert "“main” and “pages” have no common ancestor" in page.text
    assert _rows(page.text) == ["pages root"]
    assert sorted(_files(page.text)) == [("added", "index.html"), ("deleted", "a.txt")]


def test_long_comparisons_list_the_newest_commits(git, factory, web):  # type: ignore[no-untyped-def]
    alice = factory.user()
    ref = factory.repo(alice)
    work = git.init_repo("long")
    git.run("branch", "start", cwd=work, check=True)
    for i in range(1, 261):
        git.run("commit", "-q", "--allow-empty", "-m", f"step {i}", cwd=work, check=True)
    git.push_to(work, ref, "main", "start")
    page = web.get(f"/{alice.name}/{ref.repo.name}/compare/start...main")
    assert page.status_code == 200
    rows = _rows(page.text)
    assert len(rows) == 250 and rows[0] == "step 260" and rows[-1] == "step 11"
    assert "260 commits" in page.text and "Showing the newest 250 of 260 commits." in page.text


def test_private_repository_compare_is_hidden(git, factory, web):  # type: ignore[no-untyped-def]
    alice = factory.user()
    stranger = factory.user()
    ref = factory.repo(alice, private=True)
    git.push_to(_diverged(git, "secret"), ref, "main", "release/1.0")
    base = f"/{alice.name}/{ref.repo.name}"
    urls = [f"{base}/compare", f"{base}/compare/main...release/1.0", f"{base}/compare/main..release/1.0",
            f"{base}/compare?base=main&head=release/1.0", f"{base}/compare/release/1.0",
            f"{base}/compare/nope...main"]
    for url in urls:
        page = web.get(url)
        assert page.status_code == 404, url
        # (the requested URL itself may appear on the 404 page; nothing read from the repository may)
        assert "feature one" not in page.text and "commit-summary" not in page.text and "is not a" not in page.text
    web.login(stranger.name, PASSWORD)
    for url in urls:
        page = web.get(url)
        assert page.status_code == 404, url
        # (the requested URL itself may appear on the 404 page; nothing read from the repository may)
        assert "feature one" not in page.text and "commit-summary" not in page.text and "is not a" not in page.text
    web.client.cookies.clear()
    web.login(alice.name, PASSWORD)
    assert _rows(web.get(f"{base}/compare/main...release/1.0").text) == ["feature two", "feature one"]
