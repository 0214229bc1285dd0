"""forge.git.compare on local repositories made with real git: three dots, two dots, unknown sides, unrelated
histories, and the time a comparison across a thousand commits takes."""

from __future__ import annotations

import time

import pytest

from forge.errors import InvalidInput, NotFound
from forge.git import compare as comparing
from forge.git.repository import GitRepo
from tests.gitclient import Work


def test_parse_spec() -> None:
    assert comparing.parse_spec("main...feature/x") == ("main", "feature/x", True)
    assert comparing.parse_spec("v1.0..v2.0") == ("v1.0", "v2.0", False)
    assert comparing.parse_spec("release/1.0...a.b") == ("release/1.0", "a.b", True)
    for bad in ("main...", "..feature", "nodots"):
        with pytest.raises(InvalidInput):
            comparing.parse_spec(bad)


def test_three_dots_against_two_dots(work: Work) -> None:
    work.commit({"shared.txt": "s\n"}, "root")
    work.git("checkout", "-q", "-b", "release/1.0")
    work.commit({"feature.txt": "f\n"}, "feature 1")
    head = work.commit({"feature.txt": "f\nf2\n"}, "feature 2")
    work.git("checkout", "-q", "main")
    work.commit({"main.txt": "m\n"}, "main moves on")
    git = GitRepo(work.path / ".git")

    three = comparing.compare(git, "main", "release/1.0")
    assert [c.summary for c in three.commits] == ["feature 2", "feature 1"] and three.total_commits == 2
    assert three.head.kind == "branch" and three.head.commit.sha == head
    assert three.diff is not None and [f.path for f in three.diff.files] == ["feature.txt"]
    assert three.diff.old_sha == three.merge_base
    two = comparing.compare(git, "main", "release/1.0", three_dot=False)
    assert [c.summary for c in two.commits] == ["feature 2", "feature 1"]
    assert two.diff is not None
    assert sorted((f.status, f.path) for f in two.diff.files) == [("added", "feature.txt"), ("deleted", "main.txt")]
    back = comparing.compare(git, "release/1.0", "main")
    assert [c.summary for c in back.commits] == ["main moves on"]
    # Once base has merged head, three dots have nothing to show.
    work.git("merge", "-q", "--no-ff", "-m", "merge", "release/1.0")
    merged = comparing.compare(git, "main", "release/1.0")
    assert merged.commits == [] and merged.diff is None and not merged.identical and not merged.unrelated


def test_sides_unknown_identical_and_unrelated(work: Work) -> None:
    first = work.commit({"a.txt": "a\n"}, "root")
    work.git("tag", "-a", "-m", "annotated", "v1.0")
    work.git("checkout", "-q", "--orphan", "other")
    work.git("rm", "-q", "-rf", ".")
    work.commit({"b.txt": "b\n"}, "other root")
    git = GitRepo(work.path / ".git")
    with pytest.raises(NotFound) as err:
        comparing.compare(git, "nope", "main")
    assert err.value.params == {"rev": "nope"} and "base" in err.value.message
    with pytest.raises(NotFound) as err:
        comparing.compare(git, "main", "main~1")
    assert err.value.params == {"rev": "main~1"} and "head" in err.value.message

    same = comparing.compare(git, "v1.0", first[:8])
    assert same.identical and same.diff is None and same.base.kind == "tag" and same.head.kind == "commit"

    unrelated = comparing.compare(git, "main", "other")
    assert unrelated.unrelated and [c.summary for c in unrelated.commits] == ["other root"]
    assert unrelated.diff is not None
    assert sorted((f.status, f.path) for f in unrelated.diff.files) == [("added", "b.txt"), ("deleted", "a.txt")]


def test_compare_across_a_thousand_commits_is_fast(work: Work) -> None:
    work.commit({f"d{i % 20}/f{i}.txt": f"{i}\n" * 20 for i in range(400)}, "root")
    work.git("branch", "base")
    # fast-import: a thousand commits, each editing two of the files, in well under a second.
    lines = []
    for n in range(1000):
        lines.append(f"commit refs/heads/main\ncommitter A <a@example.com> {1_700_000_000 + n} +0000\n"
                     f"data 7\nc{n:05}\n" + ("from refs/heads/main^0\n" if n == 0 else ""))
        for i in (n % 400, (n * 7) % 400):
            body = f"{i}\n" * 20 + f"edit {n}\n"
            lines.append(f"M 100644 inline d{i % 20}/f{i}.txt\ndata {len(body.encode())}\n{body}")
        lines.append("\n")
    work.git("fast-import", "--quiet", "--force", input="".join(lines))
    git = GitRepo(work.path / ".git")
    started = time.perf_counter()
    result = comparing.compare(git, "base", "main")
    elapsed = time.perf_counter() - started
    assert result.total_commits == 1000 and len(result.commits) == comparing.MAX_COMMITS
    assert result.commits[0].summary == "c00999"
    assert result.diff is not None and result.diff.files_changed == 400
    assert elapsed < 1.0, f"comparing 1,000 commits took {elapsed:.2f} s"
