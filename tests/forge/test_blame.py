"""forge.git.blame and forge.git.graph on repositories pushed to the live server with real git, checked against
git's own ``blame --line-porcelain`` run on the client's copy of the same history."""

from __future__ import annotations

from pathlib import Path

import pytest

from forge.errors import TooSlow
from forge.git import blame as blame_mod
from forge.git.blame import blame_file, parse_porcelain
from forge.git.cache import objects
from forge.git.graph import ahead_behind
from forge.git.repository import GitRepo
from forge.git.service import GitServiceConfig
from forge.repos import services as repos
from tests.factories import Factory
from tests.gitclient import GitClient

WEIRD = 'dir/we"ird 名.txt'


def _build_history(git: GitClient, name: str) -> tuple[Path, dict[str, str]]:
    """A file written by two authors over several commits, renamed once, plus a file with an awkward name."""
    work = git.new_work(name)
    shas = {}
    lines = "".join(f"line {i}\n" for i in range(1, 11))
    shas["first"] = work.commit({"old.py": lines, WEIRD: "quoted path\n"}, "first version", author="Ann",
                                when="2025-01-01T00:00:00+00:00")
    changed = lines.splitlines(keepends=True)
    changed[2] = "line 3 changed by bob\n"
    changed[3] = "line 4 changed by bob\n"
    shas["bob"] = work.commit({"old.py": "".join(changed)}, "bob edits", author="Bob", when="2025-02-01T00:00:00+00:00")
    work.git("mv", "old.py", "new.py")
    shas["rename"] = work.commit({}, "rename to new.py", author="Ann", when="2025-03-01T00:00:00+00:00")
    changed[7:7] = ["inserted a\n", "inserted b\n"]
    changed[2] = "line 3 changed again\n"
    shas["ann"] = work.commit({"new.py": "".join(changed)}, "ann inserts", author="Ann",
                              when="2025-04-01T00:00:00+00:00")
    return work.path, shas


def _line_porcelain(git: GitClient, work: Path, path: str) -> list[dict[str, str]]:
    """git's blame of every line, parsed independently: --line-porcelain repeats all fields on each line."""
    out = git.run("-c", "core.quotePath=false", "blame", "--line-porcelain", "HEAD", "--", path, cwd=work, check=True)
    result: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in out.out.split("\n"):
        if line.startswith("\t"):
            result.append(current)
            current = {}
        elif line:
            key, _, value = line.partition(" ")
            if len(key) == 40 and not current:
                fields = value.split(" ")
                current = {"sha": key, "orig": fields[0], "final": fields[1]}
            else:
                current[key] = value
    return result


@pytest.fixture
def pushed(git: GitClient, factory: Factory) -> tuple[GitRepo, Path, dict[str, str], GitServiceConfig]:
    alice = factory.user()
    ref = factory.repo(alice)
    work, shas = _build_history(git, "blame-work")
    git.push_to(work, ref)
    settings = factory.settings
    config = GitServiceConfig(settings.git_bin, settings.hooks_dir, settings.home)
    return repos.open_git(settings.repos_dir, ref), work, shas, config


def test_blame_agrees_with_git(pushed: tuple[GitRepo, Path, dict[str, str], GitServiceConfig], git: GitClient) -> None:
    repo, work, shas, config = pushed
    blame = blame_file(config, repo, shas["ann"], "new.py")
    expected = _line_porcelain(git, work, "new.py")
    assert blame.line_count == len(expected) == 12
    # Hunks cover the file in order, without gaps.
    assert [h.start for h in blame.hunks] == [1] + [h.end + 1 for h in blame.hunks[:-1]]
    by_line = {n: h for h in blame.hunks for n in range(h.start, h.end + 1)}
    for n, want in enumerate(expected, start=1):
        hunk = by_line[n]
        assert hunk.commit.sha == want["sha"]
        assert hunk.orig_start + (n - hunk.start) == int(want["orig"])
        assert hunk.orig_path == want["filename"]
        assert hunk.commit.summary == want["summary"]
        assert hunk.commit.author_name == want["author"]
        assert int(hunk.commit.author_time.timestamp()) == int(want["author-time"])
        previous = want.get("previous")
        assert (f"{hunk.previous_sha} {hunk.previous_path}" if hunk.previous_sha else None) == previous

    # The lines Bob changed keep his commit and their pre-rename path; "previous" points at the version before.
    bob = by_line[4]
    assert bob.commit.sha == shas["bob"] and bob.commit.author_name == "Bob"
    assert bob.orig_path == "old.py" and (bob.previous_sha, bob.previous_path) == (shas["first"], "old.py")
    again = by_line[3]
    assert again.commit.sha == shas["ann"] and (again.previous_sha, again.previous_path) == (shas["rename"], "new.py")
    first = by_line[1]
    assert first.commit.sha == shas["first"] and first.previous_sha is None and first.orig_path == "old.py"


def test_blame_of_a_quoted_path_and_an_older_commit(
    pushed: tuple[GitRepo, Path, dict[str, str], GitServiceConfig],
) -> None:
    repo, _, shas, config = pushed
    weird = blame_file(config, repo, shas["ann"], WEIRD)
    assert [(h.commit.sha, h.orig_path, h.count) for h in weird.hunks] == [(shas["first"], WEIRD, 1)]

    # Blaming the previous revision of Bob's lines, as the page's "previous" link does.
    before = blame_file(config, repo, shas["first"], "old.py")
    assert {h.commit.sha for h in before.hunks} == {shas["first"]} and before.line_count == 10


def test_blame_is_cached_per_commit(pushed: tuple[GitRepo, Path, dict[str, str], GitServiceConfig]) -> None:
    repo, _, shas, config = pushed
    objects.clear()
    one = blame_file(config, repo, shas["ann"], "new.py")
    assert blame_file(config, repo, shas["ann"], "new.py") is one
    assert objects.get(("blame", str(repo.path), shas["ann"], "new.py")) is one
    older = blame_file(config, repo, shas["rename"], "new.py")
    assert older is not one and older.line_count == 10


def test_blame_timeout_is_a_clear_error(
    pushed: tuple[GitRepo, Path, dict[str, str], GitServiceConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, _, shas, config = pushed
    objects.clear()
    monkeypatch.setattr(blame_mod, "TIMEOUT_SECONDS", 0)  # already past when git has started
    with pytest.raises(TooSlow) as info:
        blame_file(config, repo, shas["ann"], "new.py")
    assert info.value.status == 503 and "new.py" in str(info.value)


def test_porcelain_repeats_previous_only_with_filename() -> None:
    # A commit seen again for another path: its "previous" must not leak from the first path to the second.
    a, p = "a" * 40, "b" * 40
    out = (
        f"{a} 1 1 1\nauthor X\nauthor-mail <x@y>\nauthor-time 0\nsummary s\nprevious {p} one.txt\nfilename one.txt\n"
        f"\tx\n{a} 2 2 1\nfilename two.txt\n\ty\n{a} 3 3 1\n\tz\n"
    ).encode()
    hunks = parse_porcelain(out, a, "two.txt").hunks
    assert [(h.orig_path, h.previous_sha) for h in hunks] == [("one.txt", p), ("two.txt", None), ("two.txt", None)]


def test_ahead_behind(git: GitClient, factory: Factory) -> None:
    alice = factory.user()
    ref = factory.repo(alice)
    work = git.init_repo("graph")
    base = git.run("rev-parse", "HEAD", cwd=work, check=True).out.strip()
    git.run("checkout", "-q", "-b", "topic", cwd=work, check=True)
    topic = git.commit(work, "t.txt", "t\n", "topic 1")
    git.run("checkout", "-q", "main", cwd=work, check=True)
    git.commit(work, "m1.txt", "1\n", "main 1")
    main = git.commit(work, "m2.txt", "2\n", "main 2")
    git.run("checkout", "-q", "--orphan", "lonely", cwd=work, check=True)
    lonely = git.commit(work, "l.txt", "l\n", "unrelated root")
    git.push_to(work, ref, "main", "topic", "lonely")
    repo = repos.open_git(factory.settings.repos_dir, ref)

    d = ahead_behind(repo, topic, main)
    assert (d.ahead, d.behind, d.related, d.even) == (1, 2, True, False)
    assert ahead_behind(repo, topic, main) is d  # cached under both ids
    assert ahead_behind(repo, base, main).behind == 2
    assert ahead_behind(repo, main, main).even
    assert not ahead_behind(repo, lonely, main).related
