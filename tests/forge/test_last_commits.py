"""forge.git.last_commits on local repositories made with real git, checked against git log and History.log."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from forge.git import last_commits as lc_mod
from forge.git.cache import objects
from forge.git.history import History
from forge.git.last_commits import last_commits
from forge.git.repository import GitRepo
from tests.gitclient import GitClient, Work


@pytest.fixture
def work(tmp_path: Path) -> Work:
    """Overrides the shared fixture: each git command is dated a minute after the previous one, so the walk order
    by time is fixed."""
    return GitClient(tmp_path).new_work("w", clock=1_700_000_000)


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    # Each test builds new repositories, so their keys never collide; clearing keeps the assertions about what is
    # cached independent of other tests.
    objects.clear()
    lc_mod._pending.clear()


def _entries(work: Work, sha: str, directory: str) -> list[str]:
    spec = f"{sha}:{directory}" if directory else f"{sha}^{{tree}}"
    return work.git("ls-tree", "--name-only", spec).splitlines()


def _check_against_git(work: Work, directory: str = "") -> dict[str, str]:
    """Every entry's last commit equals ``git log -1 -- path`` and the first commit of History.log(path)."""
    git = GitRepo(work.path / ".git")
    sha = work.head()
    result = last_commits(git, sha, directory)
    assert result.complete
    names = _entries(work, sha, directory)
    assert sorted(result.commits) == sorted(names)
    history = History(git)
    found = {}
    for name in names:
        path = f"{directory}/{name}" if directory else name
        expected = work.git("log", "-1", "--format=%H", sha, "--", path)
        assert result.commits[name].sha == expected, path
        assert history.log(sha, path=path, per_page=1).commits[0].sha == expected, path
        found[name] = result.commits[name].summary
    return found


def test_files_subdirectories_renames_and_re_added_files(work: Work) -> None:
    work.commit({"README.md": "hi\n", "keep.txt": "never changes\n", "src/a.py": "a\n", "src/deep/b.py": "b\n",
                 "old.txt": "old\n", "gone.txt": "x\n"}, "initial")
    work.commit({"src/deep/b.py": "b2\n"}, "change deep b")
    work.git("mv", "old.txt", "new.txt")
    work.commit({}, "rename old to new")
    work.commit({"gone.txt": None}, "delete gone")
    work.commit({"README.md": "hello\n"}, "touch readme")
    work.commit({"gone.txt": "back\n"}, "re-add gone")
    work.commit({}, "empty commit", allow_empty=True)

    root = _check_against_git(work)
    assert root == {"README.md": "touch readme", "keep.txt": "initial", "src": "change deep b",
                    "new.txt": "rename old to new", "gone.txt": "re-add gone"}
    assert _check_against_git(work, "src") == {"a.py": "initial", "deep": "change deep b"}
    assert _check_against_git(work, "src/deep") == {"b.py": "change deep b"}


def test_merges(work: Work) -> None:
    work.commit({"a.txt": "a\n", "b.txt": "b\n", "c.txt": "1\n2\n3\n", "d/x.txt": "x\n"}, "initial")
    work.git("checkout", "-q", "-b", "side")
    work.commit({"a.txt": "a from side\n", "c.txt": "one\n2\n3\n"}, "side changes a and c")
    work.git("checkout", "-q", "main")
    work.commit({"b.txt": "b on main\n", "c.txt": "1\n2\nthree\n", "d/x.txt": "x2\n"}, "main changes b, c and d")
    work.git("merge", "-q", "--no-edit", "side", "-m", "merge side")
    # c.txt merged from both sides differs from each parent: the merge itself is its last commit.
    root = _check_against_git(work)
    assert root == {"a.txt": "side changes a and c", "b.txt": "main changes b, c and d", "c.txt": "merge side",
                    "d": "main changes b, c and d"}
    # A second branch merged with a conflict resolved by hand, then more work on main.
    work.git("checkout", "-q", "-b", "other", "HEAD~2")
    work.commit({"b.txt": "b on other\n", "d/y.txt": "y\n"}, "other changes b, adds d/y")
    work.git("checkout", "-q", "main")
    merge = work.client.run("merge", "-q", "--no-edit", "other", cwd=work.path)
    assert not merge.ok  # b.txt conflicts
    work.write({"b.txt": "resolved\n"})
    work.git("add", "-A")
    work.git("commit", "-q", "--no-edit", "-m", "merge other by hand")
    work.commit({"a.txt": "after merges\n"}, "after merges")
    root = _check_against_git(work)
    assert root["b.txt"] == "merge other by hand" and root["a.txt"] == "after merges"
    assert root["d"] == "merge other by hand"  # d/x from main, d/y from other: differs from both parents
    assert _check_against_git(work, "d") == {"x.txt": "main changes b, c and d", "y.txt": "other changes b, adds d/y"}


def _first_mentions(work: Work, sha: str, directory: str) -> dict[str, str]:
    """For a linear history: each entry's newest commit in ``git log --name-only``."""
    log = work.git("log", "--format=>%H", "--name-only", "--no-renames", sha, "--", directory)
    found: dict[str, str] = {}
    current = ""
    for line in log.splitlines():
        if line.startswith(">"):
            current = line[1:]
        elif line:
            found.setdefault(line.split("/")[1], current)
    return found


def test_large_directories_take_each_way_of_comparing_trees(work: Work) -> None:
    # More entries than the lookup limit (compared entry by entry in Python) and more than the Python comparison
    # limit (compared by libgit2's diff); as fewer entries stay unresolved, both switch to lookups by name.
    sizes = {"mid": lc_mod.LOOKUP_LIMIT + 60, "big": lc_mod.DIFF_ABOVE + 40}
    work.commit({f"{d}/f{i:04d}.txt": f"{i}\n" for d, n in sizes.items() for i in range(n)}, "initial")
    for step in range(1, 12):
        work.commit({f"{d}/f{i:04d}.txt": f"{i} v{step}\n" for d, n in sizes.items()
                     for i in range(step * 7, n, 37 + step)}, f"step {step}")
    work.commit({"big/f0003.txt": None, "big/newdir/n.txt": "n\n", "mid/f0004.txt": None}, "delete, add a directory")
    sha = work.head()
    git = GitRepo(work.path / ".git")
    for directory in sizes:
        expected = _first_mentions(work, sha, directory)
        expected.pop("f0003.txt" if directory == "big" else "f0004.txt")
        result = last_commits(git, sha, directory)
        assert result.complete
        assert {name: info.sha for name, info in result.commits.items()} == expected
    assert last_commits(git, sha, "big").commits["newdir"].summary == "delete, add a directory"


def test_deadline_gives_a_partial_result_that_resumes_and_only_the_full_one_is_cached(work: Work) -> None:
    work.commit({f"f{i}.txt": "0\n" for i in range(6)}, "initial")
    for i in range(6):
        work.commit({f"f{i}.txt": "changed\n"}, f"change f{i}")
    for i in range(20):
        work.commit({}, f"empty {i}", allow_empty=True)  # nothing changes: these are skipped by the tree id check
    git = GitRepo(work.path / ".git")
    sha = work.head()
    key = ("last-commits", str(git.path), sha, "")

    partial = last_commits(git, sha, "", deadline=time.monotonic() - 1)
    assert not partial.complete
    assert partial.commits == {}  # one (empty) commit walked before the deadline was noticed
    assert objects.get(key) is None  # an incomplete result is not cached

    seen = 0
    steps = 0
    while True:  # each call walks one more commit and keeps what it found so far
        result = last_commits(git, sha, "", deadline=time.monotonic() - 1)
        steps += 1
        assert len(result.commits) >= seen
        seen = len(result.commits)
        if result.complete:
            break
    # The 26th commit (change f0) resolves the last entry: one commit per call, each resuming the walk.
    assert steps == 25
    full = last_commits(git, sha, "")
    assert full is objects.get(key)  # the complete result is cached ...
    assert last_commits(git, sha, "", deadline=time.monotonic() - 1) is full  # ... and served even past a deadline
    assert {n: c.summary for n, c in full.commits.items()} == {f"f{i}.txt": f"change f{i}" for i in range(6)}
    objects.clear()
    assert last_commits(git, sha, "") == full  # recomputed from scratch: the same


def test_not_a_directory_has_no_entries(work: Work) -> None:
    sha = work.commit({"a.txt": "a\n"}, "initial")
    git = GitRepo(work.path / ".git")
    for path in ("a.txt", "missing", "missing/deeper"):
        result = last_commits(git, sha, path)
        assert result.complete and result.commits == {}
