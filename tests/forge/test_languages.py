"""forge.git.languages on repositories made with real git."""

from __future__ import annotations

from forge.git.cache import objects
from forge.git.languages import TOP, language_of, languages
from forge.git.repository import GitRepo
from tests.gitclient import Work


def test_file_names_map_to_languages() -> None:
    expected = {
        "app.py": "Python", "lib.h": "C", "lib.c": "C", "x.cpp": "C++", "README.md": "Markdown",
        "index.ts": "TypeScript", "main.go": "Go", "Makefile": "Makefile", "Dockerfile": "Dockerfile",
        "run.sh": "Shell", "Main.java": "Java", "style.css": "CSS", "page.HTML": "HTML",
    }
    assert {name: language_of(name) for name in expected} == expected
    # Text, data, configuration and unknown (binary) names count as nothing.
    for name in ("notes.txt", "data.json", "config.yml", "logo.png", "archive.zip", "no_extension", "x.toml"):
        assert language_of(name) is None, name


def test_breakdown_by_bytes_skips_vendored_generated_links_and_submodules(work: Work) -> None:
    work.commit({
        "src/app.py": b"p" * 3000, "src/util.py": b"u" * 1000, "web/index.html": b"h" * 1000,
        "lib.c": b"c" * 500, "lib.h": b"h" * 500, "README.md": b"r" * 200,
        # None of these count:
        "data.json": b"{}" * 5000, "notes.txt": b"t" * 5000, "logo.png": b"\x89PNG\x00" * 1000,
        "vendor/big.js": b"v" * 100_000, "node_modules/x/y.js": b"n" * 100_000, "third_party/z.c": b"z" * 100_000,
        "pkg/vendor/deep.py": b"d" * 100_000, "static/app.min.js": b"m" * 50_000,
        "package-lock.json": b"l" * 50_000, "Cargo.lock": b"l" * 50_000, "yarn.lock": b"l" * 50_000,
    })
    (work.path / "link.py").symlink_to("src/app.py")
    work.add_submodule("sub.py", "0123456789abcdef0123456789abcdef01234567")
    sha = work.commit({}, "link and submodule")

    result = languages(GitRepo(work.path / ".git"), sha)
    assert result.total == 6200
    assert [(s.name, s.size, s.percent) for s in result.shares] == [
        ("Python", 4000, 64.5), ("C", 1000, 16.1), ("HTML", 1000, 16.1), ("Markdown", 200, 3.2),
    ]
    assert result.shares[0].color == "#3572A5"
    assert all(s.color.startswith("#") and not s.other for s in result.shares)


def test_small_languages_fold_into_other_and_results_are_cached(work: Work) -> None:
    sizes = {"a.py": 5000, "b.js": 4000, "c.go": 3000, "d.rs": 2000, "e.rb": 1500, "f.java": 1200, "g.kt": 300,
             "h.swift": 200, "i.lua": 3}
    sha = work.commit({name: b"x" * size for name, size in sizes.items()})
    git = GitRepo(work.path / ".git")
    result = languages(git, sha)
    names = [s.name for s in result.shares]
    assert names == ["Python", "JavaScript", "Go", "Rust", "Ruby", "Java", "Other"]
    assert len(names) == TOP + 1
    other = result.shares[-1]
    assert other.other and other.size == 503 and other.percent == 2.9
    assert round(sum(s.percent for s in result.shares)) == 100

    # Same tree, same answer from the cache; a new commit with a new tree gets its own.
    assert languages(git, sha) is result
    tree = work.git("rev-parse", f"{sha}^{{tree}}")
    assert objects.get(("languages", str(git.path), tree)) is result
    newer = work.commit({"z.py": b"x" * 10_000})
    assert languages(git, newer).shares[0].size == 15_000


def test_a_tree_without_code_has_no_languages(work: Work) -> None:
    sha = work.commit({"notes.txt": b"hello\n", "logo.png": b"\x89PNG"})
    assert languages(GitRepo(work.path / ".git"), sha).shares == []
