"""forge.git.history on local repositories made with real git."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from forge.errors import NotFound
from forge.git import history as history_mod
from forge.git.history import History
from forge.git.repository import GitRepo

ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "A",
    "GIT_AUTHOR_EMAIL": "a@example.com",
    "GIT_COMMITTER_NAME": "A",
    "GIT_COMMITTER_EMAIL": "a@example.com",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00+00:00",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00+00:00",
}


def _git(work: Path, *args: str) -> str:
    env = {**ENV, "HOME": str(work.parent)}
    return subprocess.run(["git", *args], cwd=work, env=env, check=True, capture_output=True, text=True).stdout.strip()


def _commit(work: Path, files: dict[str, str], message: str) -> str:
    for name, content in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(content)
    _git(work, "add", "-A")
    _git(work, "commit", "-q", "--allow-empty", "-m", message)
    return _git(work, "rev-parse", "HEAD")


@pytest.fixture
def work(tmp_path: Path) -> Path:
    path = tmp_path / "w"
    path.mkdir()
    _git(path, "init", "-q", "-b", "main")
    return path


def _history(work: Path) -> History:
    return History(GitRepo(work / ".git"))


def test_resolve_prefers_the_longest_ref(work: Path) -> None:
    first = _commit(work, {"a/b/c.txt": "1\n"}, "first")
    _git(work, "tag", "feature")
    _git(work, "tag", "same")
    second = _commit(work, {"x.txt": "2\n"}, "second")
    _git(work, "branch", "feature/a")
    _git(work, "branch", "same")
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


def test_resolve_nested_branch_tag_and_sha(work: Path) -> None:
    first = _commit(work, {"src/app.py": "1\n"}, "first")
    _git(work, "branch", "release/1.0")
    _git(work, "tag", "v1", first)
    second = _commit(work, {"src/app.py": "2\n"}, "second")
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


def test_log_pages_and_path_filter_through_a_merge(work: Path) -> None:
    _commit(work, {"f.txt": "0\n", "g.txt": "0\n"}, "root")
    _git(work, "checkout", "-q", "-b", "side")
    _commit(work, {"f.txt": "side\n"}, "side changes f")
    _git(work, "checkout", "-q", "main")
    _commit(work, {"g.txt": "1\n"}, "main changes g")
    _git(work, "merge", "-q", "--no-ff", "-m", "merge side", "side")
    head = _git(work, "rev-parse", "HEAD")
    h = _history(work)
    assert [c.summary for c in h.log(head).commits][0] == "merge side"
    assert len(h.log(head).commits) == 4
    # The merge took f.txt from side unchanged, so only the side commit and the root changed it.
    assert [c.summary for c in h.log(head, path="f.txt").commits] == ["side changes f", "root"]
    page = h.log(head, per_page=3)
    assert page.has_older and not page.has_newer and len(page.commits) == 3
    page = h.log(head, per_page=3, page=2)
    assert not page.has_older and page.has_newer and [c.summary for c in page.commits] == ["root"]


def test_large_diffs_are_truncated(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _commit(work, {"seed.txt": "x\n"}, "root")
    files = {f"f{i:02}.txt": "a\nb\n" for i in range(6)}
    files["big.txt"] = "".join(f"{i}\n" for i in range(30))
    sha = _commit(work, files, "many")
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


def test_unknown_commit(work: Path) -> None:
    _commit(work, {"a": "1\n"}, "root")
    h = _history(work)
    for sha in ("0" * 40, "abcd", "not-a-sha"):
        with pytest.raises(NotFound) as err:
            h.commit(sha)
        assert err.value.params == {"sha": sha}
