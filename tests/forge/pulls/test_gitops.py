"""The git side of pull requests on real repositories made with git: mergeability, each merge style's history,
copying a fork's head, moving refs only when they did not move, resolving a conflict, applying a suggestion and
following a line across a push."""

from __future__ import annotations

from pathlib import Path

import pytest

from forge.errors import Conflict, InvalidInput, NotFound
from forge.git.repository import GitRepo
from forge.pulls import gitops
from forge.pulls.models import CONFLICT, EMPTY, FAST_FORWARD, MERGE, MERGEABLE, REBASE, SQUASH
from tests.gitclient import Work

MERGER = ("Mia Merger", "mia@example.com")


def _bare(work: Work, name: str = "bare.git") -> GitRepo:
    """A bare copy of ``work`` with all its branches, as the forge keeps repositories."""
    path = work.path.parent / name
    work.client.run("clone", "-q", "--bare", "--mirror", str(work.path), str(path), check=True)
    return GitRepo(path)


def _log(git: GitRepo, rev: str) -> list[str]:
    """``git log --graph --format=%s`` of ``rev`` in the bare repository, one line per entry."""
    import subprocess

    out = subprocess.run(["git", "--git-dir", str(git.path), "log", "--graph", "--format=%s|%an|%cn", rev],
                         capture_output=True, text=True, check=True).stdout
    return [line.rstrip() for line in out.splitlines()]


def _diverged(work: Work, *, conflict: bool = False) -> tuple[str, str]:
    """main: base, then "main moves on"; topic (from base): "topic one", "topic two". Returns (main, topic)."""
    work.commit({"shared.txt": "one\ntwo\nthree\n", "README.md": "hi\n"}, "base")
    work.git("checkout", "-q", "-b", "topic")
    work.commit({"topic.txt": "t1\n"}, "topic one", author="Tess Topic")
    work.commit({"topic.txt": "t1\nt2\n", **({"shared.txt": "one\nTWO (topic)\nthree\n"} if conflict else {})},
                "topic two", author="Tess Topic")
    work.git("checkout", "-q", "main")
    work.commit({"main.txt": "m\n", **({"shared.txt": "one\nTWO (main)\nthree\n"} if conflict else {})},
                "main moves on")
    return work.git("rev-parse", "main"), work.git("rev-parse", "topic")


def test_check_merge_statuses(work: Work) -> None:
    main, topic = _diverged(work)
    git = _bare(work)
    check = gitops.check_merge(git, main, topic)
    assert check.status == MERGEABLE and check.conflicts == []
    assert (check.commits_ahead, check.commits_behind) == (2, 1)
    assert check.merge_base == work.git("merge-base", "main", "topic")
    # Nothing to merge the other way round beyond main's own commit; the same commit is empty.
    assert gitops.check_merge(git, topic, topic).status == EMPTY
    assert gitops.check_merge(git, main, work.git("rev-parse", "main~1")).status == EMPTY


def test_check_merge_lists_conflicting_files_and_unrelated_histories(work: Work) -> None:
    main, topic = _diverged(work, conflict=True)
    work.git("checkout", "-q", "--orphan", "other")
    work.commit({"alone.txt": "x\n"}, "unrelated root")
    other = work.head()
    git = _bare(work)
    check = gitops.check_merge(git, main, topic)
    assert check.status == CONFLICT and check.conflicts == ["shared.txt"]
    unrelated = gitops.check_merge(git, main, other)
    assert unrelated.status == CONFLICT and unrelated.merge_base == "" and unrelated.conflicts == []
    with pytest.raises(Conflict):
        gitops.build_merge(git, style=MERGE, base_sha=main, head_sha=topic, message="m", committer=MERGER)


def test_merge_commit_has_base_and_head_as_parents(work: Work) -> None:
    main, topic = _diverged(work)
    git = _bare(work)
    sha = gitops.build_merge(git, style=MERGE, base_sha=main, head_sha=topic,
                             message="Merge pull request #3 from tess/topic\n\nTopic work\n", committer=MERGER)
    commit = git.resolve_commit(sha)
    assert commit.parents == (main, topic)
    assert commit.message == "Merge pull request #3 from tess/topic\n\nTopic work\n"
    assert commit.committer.name == "Mia Merger" and commit.author.email == "mia@example.com"
    assert git.read_blob_at(sha, "topic.txt") == b"t1\nt2\n" and git.read_blob_at(sha, "main.txt") == b"m\n"
    assert git.ref_target("refs/heads/main") == main  # no ref moved
    assert _log(git, sha) == [
        "*   Merge pull request #3 from tess/topic|Mia Merger|Mia Merger",
        "|\\",
        "| * topic two|Tess Topic|Test Author",
        "| * topic one|Tess Topic|Test Author",
        "* | main moves on|Test Author|Test Author",
        "|/",
        "* base|Test Author|Test Author",
    ]


def test_squash_is_one_commit_by_the_pull_request_author(work: Work) -> None:
    main, topic = _diverged(work)
    git = _bare(work)
    sha = gitops.build_merge(git, style=SQUASH, base_sha=main, head_sha=topic, message="Topic work (#3)\n",
                             committer=MERGER, squash_author=("Tess Topic", "tess@example.com"))
    assert _log(git, sha) == ["* Topic work (#3)|Tess Topic|Mia Merger", "* main moves on|Test Author|Test Author",
                              "* base|Test Author|Test Author"]
    assert git.read_blob_at(sha, "topic.txt") == b"t1\nt2\n"


def test_rebase_replays_each_commit_keeping_authors(work: Work) -> None:
    main, topic = _diverged(work)
    git = _bare(work)
    sha = gitops.build_merge(git, style=REBASE, base_sha=main, head_sha=topic, message="ignored", committer=MERGER)
    assert _log(git, sha) == ["* topic two|Tess Topic|Mia Merger", "* topic one|Tess Topic|Mia Merger",
                              "* main moves on|Test Author|Test Author", "* base|Test Author|Test Author"]
    assert git.resolve_commit(sha).message == "topic two\n"
    assert git.read_blob_at(sha, "topic.txt") == b"t1\nt2\n" and git.read_blob_at(sha, "main.txt") == b"m\n"


def test_rebase_stops_on_a_conflict_at_any_step(work: Work) -> None:
    main, topic = _diverged(work, conflict=True)
    git = _bare(work)
    with pytest.raises(Conflict) as exc:
        gitops.build_merge(git, style=REBASE, base_sha=main, head_sha=topic, message="", committer=MERGER)
    assert exc.value.params["sha"] == topic[:10]


def test_fast_forward_only_when_the_base_is_an_ancestor(work: Work) -> None:
    main, topic = _diverged(work)
    git = _bare(work)
    with pytest.raises(InvalidInput):
        gitops.build_merge(git, style=FAST_FORWARD, base_sha=main, head_sha=topic, message="", committer=MERGER)
    base = work.git("rev-parse", "main~1")
    assert gitops.build_merge(git, style=FAST_FORWARD, base_sha=base, head_sha=topic, message="",
                              committer=MERGER) == topic
    with pytest.raises(InvalidInput):  # nothing to merge
        gitops.build_merge(git, style=MERGE, base_sha=topic, head_sha=base, message="m", committer=MERGER)


def test_update_ref_is_compare_and_swap(work: Work) -> None:
    main, topic = _diverged(work)
    git = _bare(work)
    assert not gitops.update_ref(git, "refs/heads/main", topic, topic)  # main is not at topic
    assert git.ref_target("refs/heads/main") == main
    assert gitops.update_ref(git, "refs/heads/main", topic, main)
    assert git.ref_target("refs/heads/main") == topic
    assert not gitops.update_ref(git, "refs/heads/topic", main, "")  # creation only if absent...
    assert gitops.update_ref(git, "refs/heads/fresh", main, "")  # ...which "fresh" is
    assert not gitops.delete_ref(git, "refs/heads/fresh", topic)
    assert gitops.delete_ref(git, "refs/heads/fresh", main) and git.ref_target("refs/heads/fresh") is None


def test_copy_head_from_a_fork_and_from_the_same_repository(work: Work) -> None:
    main, topic = _diverged(work)
    base = _bare(work, "base.git")
    base_path = Path(base.path)
    # The fork has a commit the base repository has never seen.
    work.git("checkout", "-q", "topic")
    fork_only = work.commit({"fork.txt": "f\n"}, "fork only")
    fork = _bare(work, "fork.git")
    assert base.resolve_commit(main)  # sanity: base has main
    with pytest.raises(NotFound):
        base.resolve_commit(fork_only)
    sha = gitops.copy_head(base, Path(fork.path), "topic", 7)
    assert sha == fork_only
    fresh = GitRepo(base_path)
    assert fresh.ref_target("refs/pull/7/head") == fork_only and fresh.read_blob_at(sha, "fork.txt") == b"f\n"
    # Same repository: the ref simply follows the branch.
    assert gitops.copy_head(fresh, base_path, "topic", 8) == topic
    assert fresh.ref_target("refs/pull/8/head") == topic
    with pytest.raises(NotFound):
        gitops.copy_head(fresh, Path(fork.path), "gone", 9)
    # A commit written in the base repository can be carried to the fork.
    merge = gitops.build_merge(fresh, style=MERGE, base_sha=main, head_sha=fork_only, message="m\n",
                               committer=MERGER)
    gitops.transfer(fresh, fork, merge)
    assert GitRepo(Path(fork.path)).resolve_commit(merge).parents == (main, fork_only)
    assert fresh.ref_target(f"refs/forge/transfer/{merge}") is None


def test_conflict_sides_and_resolution(work: Work) -> None:
    main, topic = _diverged(work, conflict=True)
    git = _bare(work)
    sides = gitops.conflict_sides(git, main, topic, "shared.txt", base_label="main", head_label="topic")
    assert sides.ancestor == "one\ntwo\nthree\n"
    assert sides.base == "one\nTWO (main)\nthree\n" and sides.head == "one\nTWO (topic)\nthree\n"
    assert sides.merged == "one\n<<<<<<< topic\nTWO (topic)\n=======\nTWO (main)\n>>>>>>> main\nthree\n"
    with pytest.raises(NotFound):
        gitops.conflict_sides(git, main, topic, "topic.txt")
    sha = gitops.resolve_conflicts(git, base_sha=main, head_sha=topic, resolutions={"shared.txt": "one\nBOTH\nthree\n"},
                                   message="Merge branch 'main' into topic\n", author=MERGER)
    commit = git.resolve_commit(sha)
    assert commit.parents == (topic, main) and commit.author.name == "Mia Merger"
    assert git.read_blob_at(sha, "shared.txt") == b"one\nBOTH\nthree\n"
    assert git.read_blob_at(sha, "main.txt") == b"m\n"
    # The resolved head now merges cleanly, and is up to date.
    check = gitops.check_merge(git, main, sha)
    assert check.status == MERGEABLE and check.commits_behind == 0


def test_binary_and_multi_file_conflicts_are_refused(work: Work) -> None:
    work.commit({"a.txt": "a\n", "b.txt": "b\n", "img.bin": b"\x00\x01base"}, "base")
    work.git("checkout", "-q", "-b", "topic")
    work.commit({"a.txt": "a topic\n", "b.txt": "b topic\n", "img.bin": b"\x00\x01topic"}, "topic")
    work.git("checkout", "-q", "main")
    work.commit({"a.txt": "a main\n", "b.txt": "b main\n", "img.bin": b"\x00\x01main"}, "main")
    git = _bare(work)
    main, topic = work.git("rev-parse", "main"), work.git("rev-parse", "topic")
    assert gitops.check_merge(git, main, topic).conflicts == ["a.txt", "b.txt", "img.bin"]
    with pytest.raises(InvalidInput):
        gitops.conflict_sides(git, main, topic, "img.bin")
    with pytest.raises(Conflict) as exc:
        gitops.resolve_conflicts(git, base_sha=main, head_sha=topic, resolutions={"a.txt": "a both\n"},
                                 message="m", author=MERGER)
    assert exc.value.params["paths"] == "b.txt, img.bin"


def test_apply_suggestion_replaces_lines(work: Work) -> None:
    work.commit({"src/app.py": "def f():\n    return 1\n\n\nprint(f())\n", "tail.txt": "x\ny"}, "app")
    git = _bare(work)
    head = work.head()
    sha = gitops.apply_suggestion(git, head_sha=head, path="src/app.py", start_line=1, end_line=2,
                                  replacement="def f() -> int:\n    return 2", message="Apply suggestion\n",
                                  author=MERGER, expected=["def f():", "    return 1"])
    assert git.read_blob_at(sha, "src/app.py") == b"def f() -> int:\n    return 2\n\n\nprint(f())\n"
    assert git.resolve_commit(sha).parents == (head,)
    # Deleting lines, and a file without a final newline keeps it that way.
    sha2 = gitops.apply_suggestion(git, head_sha=sha, path="tail.txt", start_line=2, end_line=2, replacement="z",
                                   message="m", author=MERGER)
    assert git.read_blob_at(sha2, "tail.txt") == b"x\nz"
    sha3 = gitops.apply_suggestion(git, head_sha=sha2, path="src/app.py", start_line=3, end_line=4, replacement="",
                                   message="m", author=MERGER)
    assert git.read_blob_at(sha3, "src/app.py") == b"def f() -> int:\n    return 2\nprint(f())\n"
    with pytest.raises(Conflict):  # the lines changed since the suggestion was written
        gitops.apply_suggestion(git, head_sha=sha, path="src/app.py", start_line=1, end_line=1,
                                replacement="x", message="m", author=MERGER, expected="def f():")
    with pytest.raises(Conflict):
        gitops.apply_suggestion(git, head_sha=sha, path="src/app.py", start_line=9, end_line=9,
                                replacement="x", message="m", author=MERGER)


def test_map_line_follows_unchanged_lines(work: Work) -> None:
    old = work.commit({"f.txt": "".join(f"line {i}\n" for i in range(1, 11))}, "ten lines")
    lines = [f"line {i}\n" for i in range(1, 11)]
    lines[4] = "line 5 changed\n"
    new = work.commit({"f.txt": "new top\nnew top 2\n" + "".join(lines)}, "edit")
    git = _bare(work)
    assert gitops.map_line(git, old, new, "f.txt", 1, "right") == 3
    assert gitops.map_line(git, old, new, "f.txt", 4, "right") == 6
    assert gitops.map_line(git, old, new, "f.txt", 5, "right") is None
    assert gitops.map_line(git, old, new, "f.txt", 10, "right") == 12
    assert gitops.map_line(git, old, old, "f.txt", 7, "right") == 7
    assert gitops.map_line(git, old, new, "missing.txt", 1, "right") is None
