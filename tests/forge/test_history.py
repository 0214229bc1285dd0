"""forge.git.history on local repositories made with real git."""

from __future__ import annotations

import pytest

from forge.errors import NotFound
from forge.git import history as history_mod
from forge.git.history import History
from forge.git.repository import GitRepo
from tests.gitclient import Work


def _history(work: Work) -> History:
    return History(GitRepo(work.path / ".git"))


def test_resolve_prefers_the_longest_ref(work: Work) -> None:
    first = work.commit({"a/b/c.txt": "1\n"}, "first")
    work.git("tag", "feature")
    work.git("tag", "same")
    second = work.commit({"x.txt": "2\n"}, "second")
    work.git("branch", "feature/a")
    work.git("branch", "same")
    h = _history(work)
    r = h.resolve("feature/a/x.txt")
    assert (r.kind, r.name, r.path, r.commit.sha) == ("branch", "feature/a", "x.txt", second)
    # The longest ref wins even where a shorter one would make the rest a real path.
    r = h.resolve("feature/a/b/c.txt", check_path=False)
    assert (r.kind, r.name, r.path) == ("branch", "feature/a", "b/c.txt")
    with pytest.raises(NotFound):
        h.resolve("feature/a/b/c.txt")
    r = h.resolve("feature")
    assert (r.kind, r.name, r.path, r.commit.sha) == ("tag", "feature", "", first)
    # At equal length a branch wins over a tag, as in git.
    r = h.resolve("same")
    assert (r.kind, r.commit.sha) == ("branch", second)


def test_resolve_nested_branch_tag_and_sha(work: Work) -> None:
    first = work.commit({"src/app.py": "1\n"}, "first")
    work.git("branch", "release/1.0")
    work.git("tag", "v1", first)
    second = work.commit({"src/app.py": "2\n"}, "second")
    h = _history(work)
    r = h.resolve("release/1.0/src/app.py")
    assert (r.kind, r.name, r.path, r.commit.sha) == ("branch", "release/1.0", "src/app.py", first)
    assert h.resolve("v1").kind == "tag"
    r = h.resolve(f"{second[:7]}/src")
    assert (r.kind, r.name, r.path, r.commit.sha) == ("commit", second[:7], "src", second)
    with pytest.raises(NotFound) as err:
        h.resolve("nope/src")
    assert err.value.params == {"rev": "nope"}
    with pytest.raises(NotFound) as err:
        h.resolve("main/missing.txt")
    assert err.value.params == {"path": "missing.txt", "rev": "main"}


def test_log_pages_and_path_filter_through_a_merge(work: Work) -> None:
    work.commit({"f.txt": "0\n", "g.txt": "0\n"}, "root")
    work.git("checkout", "-q", "-b", "side")
    work.commit({"f.txt": "side\n"}, "side changes f")
    work.git("checkout", "-q", "main")
    work.commit({"g.txt": "1\n"}, "main changes g")
    work.git("merge", "-q", "--no-ff", "-m", "merge side", "side")
    head = work.git("rev-parse", "HEAD")
    h = _history(work)
    assert [c.summary for c in h.log(head).commits][0] == "merge side"
    assert len(h.log(head).commits) == 4
    # The merge took f.txt from side unchanged, so only the side commit and the root changed it.
    assert [c.summary for c in h.log(head, path="f.txt").commits] == ["side changes f", "root"]
    page = h.log(head, per_page=3)
    assert page.has_older and not page.has_newer and len(page.commits) == 3
    page = h.log(head, per_page=3, page=2)
    assert not page.has_older and page.has_newer and [c.summary for c in page.commits] == ["root"]


def test_large_diffs_are_truncated(work: Work, monkeypatch: pytest.MonkeyPatch) -> None:
    work.commit({"seed.txt": "x\n"}, "root")
    files = {f"f{i:02}.txt": "a\nb\n" for i in range(6)}
    files["big.txt"] = "".join(f"{i}\n" for i in range(30))
    sha = work.commit(files, "many")
    monkeypatch.setattr(history_mod, "MAX_FILE_LINES", 20)
    monkeypatch.setattr(history_mod, "MAX_FILES", 5)
    monkeypatch.setattr(history_mod, "MAX_LINES", 6)
    diff = _history(work).diff(sha)
    assert diff.truncated and diff.files_changed == 7 and diff.additions == 42
    assert len(diff.files) == 5
    assert diff.files[0].path == "big.txt" and diff.files[0].collapsed == "large" and not diff.files[0].hunks
    shown = [f for f in diff.files if not f.collapsed]
    assert len(shown) == 3  # 2 lines each within a budget of 6
    assert all(f.collapsed == "budget" for f in diff.files[4:])


def test_unknown_commit(work: Work) -> None:
    work.commit({"a": "1\n"}, "root")
    h = _history(work)
    for sha in ("0" * 40, "abcd", "not-a-sha"):
        with pytest.raises(NotFound) as err:
            h.commit(sha)
        assert err.value.params == {"sha": sha}


def test_diff_of_any_two_commits(work: Work) -> None:
    first = work.commit({"a.txt": "1\n2\n3\n", "b.txt": "b\n"}, "first")
    work.commit({"a.txt": "1\ntwo\n3\n"}, "second")
    third = work.commit({"c.txt": "c\n"}, "third")
    diff = _history(work).diff_commits(first, third)
    assert (diff.old_sha, diff.new_sha) == (first, third)
    assert [(f.status, f.path) for f in diff.files] == [("modified", "a.txt"), ("added", "c.txt")]
    assert (diff.files_changed, diff.additions, diff.deletions) == (2, 2, 1)
    assert not diff.partial_totals
    # None as the old side is the empty tree.
    whole = _history(work).diff_commits(None, first)
    assert whole.old_sha is None and [f.path for f in whole.files] == ["a.txt", "b.txt"]


def test_single_file_diff_has_a_higher_limit(work: Work, monkeypatch: pytest.MonkeyPatch) -> None:
    work.commit({"seed.txt": "x\n"}, "root")
    sha = work.commit({"big.txt": "".join(f"{i}\n" for i in range(30)), "small.txt": "s\n"}, "two files")
    monkeypatch.setattr(history_mod, "MAX_FILE_LINES", 20)
    h = _history(work)
    assert h.diff(sha).files[0].collapsed == "large"
    one = h.diff(sha, path="big.txt")
    assert one.single == "big.txt" and len(one.files) == 1 and not one.files[0].collapsed
    assert one.files_changed == 1 and one.additions == 30
    assert one.files[0].hunks[0].lines[-1].text == "29"
    monkeypatch.setattr(history_mod, "MAX_SINGLE_FILE_LINES", 25)
    assert h.diff(sha, path="big.txt").files[0].collapsed == "large"
    with pytest.raises(NotFound) as err:
        h.diff(sha, path="seed.txt")
    assert err.value.params == {"path": "seed.txt"}


def test_line_totals_are_partial_past_the_stat_bound(work: Work, monkeypatch: pytest.MonkeyPatch) -> None:
    work.commit({"seed.txt": "x\n"}, "root")
    sha = work.commit({f"f{i}.txt": "a\nb\n" for i in range(5)}, "five")
    monkeypatch.setattr(history_mod, "MAX_STAT_FILES", 3)
    diff = _history(work).diff(sha)
    assert diff.files_changed == 5 and diff.counted_files == 3 and diff.partial_totals
    assert diff.additions == 6 and diff.truncated and len(diff.files) == 3


def test_split_rows_pair_deletions_with_additions(work: Work) -> None:
    from forge.git.diffview import split_rows

    work.commit({"f.txt": "keep\nold1\nold2\nmid\ngone\nend"}, "root")
    sha = work.commit({"f.txt": "keep\nnew1\nnew2\nnew3\nmid\nend\nmore\n"}, "edit")
    rows = split_rows(_history(work).diff(sha).files[0].hunks)
    shown = [(r.kind, r.left.text if r.left else None, r.right.text if r.right else None) for r in rows[1:]]
    assert rows[0].kind == "hunk" and rows[0].header.startswith("@@")
    assert shown == [
        ("context", "keep", "keep"),
        ("change", "old1", "new1"),
        ("change", "old2", "new2"),
        ("change", None, "new3"),
        ("context", "mid", "mid"),
        # One block: "-gone -end \ No newline" against "+end +more"; the marker stays on the old side.
        ("change", "gone", "end"),
        ("change", "end", "more"),
        ("change", "", None),
    ]
    assert rows[-1].left is not None and rows[-1].left.kind == "nonewline"
    assert rows[2].left is not None and (rows[2].left.old_no, rows[2].right.new_no) == (2, 2)  # type: ignore[union-attr]


def test_history_follows_a_file_across_renames(work: Work) -> None:
    work.commit({"a.txt": "alpha\nbeta\ngamma\ndelta\n", "other.txt": "o\n"}, "create a")
    work.commit({"a.txt": "alpha\nbeta\ngamma\ndelta\nepsilon\n"}, "edit a")
    work.git("mv", "a.txt", "b.txt")
    work.commit({}, "rename a to b")
    work.commit({"other.txt": "p\n"}, "unrelated")
    work.commit({"b.txt": "alpha\nbeta\ngamma\ndelta\nepsilon\nzeta\n"}, "edit b")
    (work.path / "dir").mkdir()
    work.git("mv", "b.txt", "dir/c.txt")
    # Renamed with a change: still similar enough to be found as a rename.
    head = work.commit({"dir/c.txt": "ALPHA\nbeta\ngamma\ndelta\nepsilon\nzeta\n"}, "move b to dir/c and edit")
    h = _history(work)
    assert h.is_file(head, "dir/c.txt") and not h.is_file(head, "dir") and not h.is_file(head, "nope")
    plain = h.log(head, path="dir/c.txt")
    assert [c.summary for c in plain.commits] == ["move b to dir/c and edit"] and not plain.renamed_from
    followed = h.log(head, path="dir/c.txt", follow=True)
    summaries = [c.summary for c in followed.commits]
    assert summaries == ["move b to dir/c and edit", "edit b", "rename a to b", "edit a", "create a"]
    by_summary = {c.summary: c.sha for c in followed.commits}
    assert followed.renamed_from == {by_summary["move b to dir/c and edit"]: "b.txt",
                                     by_summary["rename a to b"]: "a.txt"}
    assert followed.paths[by_summary["edit b"]] == "b.txt" and followed.paths[by_summary["create a"]] == "a.txt"
    # Later pages follow the same chain of names.
    page2 = h.log(head, path="dir/c.txt", follow=True, per_page=2, page=2)
    assert [c.summary for c in page2.commits] == ["rename a to b", "edit a"] and page2.has_older
    assert page2.renamed_from == {by_summary["rename a to b"]: "a.txt"}
    page3 = h.log(head, path="dir/c.txt", follow=True, per_page=2, page=3)
    assert [c.summary for c in page3.commits] == ["create a"] and not page3.has_older


def test_containing_refs(work: Work, monkeypatch: pytest.MonkeyPatch) -> None:
    root = work.commit({"a": "1\n"}, "root")
    work.git("tag", "-a", "-m", "first release", "v1")
    work.git("checkout", "-q", "-b", "feature/x")
    side = work.commit({"b": "2\n"}, "side")
    work.git("checkout", "-q", "main")
    main2 = work.commit({"c": "3\n"}, "main 2")
    work.git("tag", "v2")
    work.git("branch", "copy-of-main")
    h = _history(work)
    found = h.containing_refs(root, "main")
    assert sorted(found.branches) == ["copy-of-main", "feature/x", "main"] and found.branches[0] == "main"
    assert sorted(found.tags) == ["v1", "v2"] and found.unchecked == 0
    assert h.containing_refs(side, "main").branches == ["feature/x"]
    assert h.containing_refs(side, "main").tags == []
    found = h.containing_refs(main2, "main")
    assert sorted(found.branches) == ["copy-of-main", "main"] and found.tags == ["v2"]
    # Bounded: past the limit refs are counted as unchecked, never silently dropped.
    monkeypatch.setattr(history_mod, "MAX_CONTAINMENT_REFS", 2)
    work.git("branch", "another")  # a new ref: a new cache key
    found = history_mod.History(GitRepo(work.path / ".git")).containing_refs(root, "main")
    assert len(found.branches) + len(found.tags) == 2 and found.unchecked == 4
    assert found.branches[0] == "main"


def test_files_past_the_limit_are_named(work: Work, monkeypatch: pytest.MonkeyPatch) -> None:
    work.commit({"seed.txt": "x\n"}, "root")
    sha = work.commit({f"f{i}.txt": "a\n" for i in range(6)}, "six")
    monkeypatch.setattr(history_mod, "MAX_FILES", 2)
    monkeypatch.setattr(history_mod, "MAX_STAT_FILES", 4)
    diff = _history(work).diff(sha)
    assert [f.path for f in diff.files] == ["f0.txt", "f1.txt"]
    # f2, f3 were diffed for the totals; f4, f5 only named.
    assert diff.omitted == ["f2.txt", "f3.txt", "f4.txt", "f5.txt"] and diff.counted_files == 4
    monkeypatch.setattr(history_mod, "MAX_OMITTED_PATHS", 3)
    assert _history(work).diff(sha).omitted == ["f2.txt", "f3.txt", "f4.txt"]


def test_containment_out_of_time_is_reported_and_not_cached(work: Work, monkeypatch: pytest.MonkeyPatch) -> None:
    root = work.commit({"a": "1\n"}, "root")
    work.git("branch", "other")
    h = _history(work)
    monkeypatch.setattr(history_mod, "CONTAINMENT_SECONDS", -1.0)
    rushed = h.containing_refs(root, "main")
    assert rushed.branches == [] and rushed.unchecked == 2
    monkeypatch.setattr(history_mod, "CONTAINMENT_SECONDS", 0.5)
    full = h.containing_refs(root, "main")
    assert full.branches == ["main", "other"] and full.unchecked == 0
