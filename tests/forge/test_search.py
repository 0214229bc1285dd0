"""forge.git.search limits (file cap, time limit, caching) on a repository pushed to the live server."""

from __future__ import annotations

import pytest

from forge.git import search
from forge.git.cache import objects
from forge.git.repository import GitRepo
from forge.git.service import GitServiceConfig
from forge.repos import services as repos
from tests.factories import Factory
from tests.gitclient import GitClient


@pytest.fixture
def pushed(git: GitClient, factory: Factory) -> tuple[GitRepo, str, GitServiceConfig]:
    alice = factory.user()
    ref = factory.repo(alice)
    files = {f"f{i:02d}.txt": "".join(f"word {n}\n" for n in range(8)) for i in range(12)}
    work = git.init_repo("search-limits", files)
    git.push_to(work, ref)
    settings = factory.settings
    repo = repos.open_git(settings.repos_dir, ref)
    return repo, repo.resolve_commit("main").sha, GitServiceConfig(settings.git_bin, settings.hooks_dir, settings.home)


def test_grep_caps_files_and_lines(pushed: tuple[GitRepo, str, GitServiceConfig]) -> None:
    repo, sha, config = pushed
    capped = search.grep(config, repo, sha, "WORD", max_files=5)
    assert [f.path for f in capped.files] == [f"f{i:02d}.txt" for i in range(5)]
    assert capped.truncated and not capped.timed_out
    assert all(len(f.lines) == search.MAX_MATCHES_PER_FILE for f in capped.files)
    assert capped.files[0].lines[0].segments == (("word", True), (" 0", False))
    whole = search.grep(config, repo, sha, "word 7")
    assert len(whole.files) == 12 and not whole.truncated
    assert search.grep(config, repo, sha, "word 7") is whole  # complete results are cached


def test_grep_time_limit_gives_partial_results(
    pushed: tuple[GitRepo, str, GitServiceConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, sha, config = pushed
    objects.clear()
    monkeypatch.setattr(search, "GREP_TIMEOUT", 0)  # the timer fires as git starts
    stopped = search.grep(config, repo, sha, "word")
    assert stopped.timed_out
    assert objects.get(("grep", str(repo.path), sha, "word", search.MAX_GREP_FILES)) is None  # not cached


def test_paths_are_cached_by_tree(pushed: tuple[GitRepo, str, GitServiceConfig]) -> None:
    repo, sha, config = pushed
    objects.clear()
    paths = search.all_paths(config, repo, sha)
    assert len(paths) == 12 and search.all_paths(config, repo, sha) is paths
    found = search.find_paths(config, repo, sha, "F0", limit=3)
    assert [m.path for m in found.matches] == ["f00.txt", "f01.txt", "f02.txt"] and found.more == 7
    assert search.clean_query("  a\x00b\n ") == "a b"
