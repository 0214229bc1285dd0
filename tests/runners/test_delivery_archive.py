"""The runner's file handling for artifacts and caches, on real files: GitLab's globbing (``dir/``, ``*``, ``**``,
braces, ``exclude``, untracked files from a real git checkout), zip archives made from matches, and extraction that
refuses every way out of the destination (zip slip)."""

from __future__ import annotations

import os
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest

from runners.archive import ArchiveError, extract_zip, glob_regex, match_paths, normalise, write_zip

PROJECT = "/builds/alice/app"


def tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return tree(tmp_path / "project", {
        "README.md": "readme\n",
        "dist/app.bin": "binary\n",
        "dist/lib/util.so": "lib\n",
        "dist/lib/cache.tmp": "tmp\n",
        "build/a/x.o": "o\n",
        "build/a/b/y.o": "o\n",
        "build/a/b/y.c": "c\n",
        "build/z.o": "o\n",
        "reports/unit.xml": "<testsuite/>\n",
        "reports/sub/int.xml": "<testsuite/>\n",
        "a.rpm": "rpm\n",
        "a.deb": "deb\n",
        ".hidden/secret.txt": "hidden\n",
    })


def matched(root: Path, patterns: list[str], **kwargs: object) -> set[str]:
    return set(match_paths(root, patterns, project_dir=PROJECT, env={"CI_PROJECT_DIR": PROJECT, "OUT": "dist"},
                           **kwargs).entries)  # type: ignore[arg-type]


@pytest.mark.parametrize(("pattern", "path", "expected"), [
    ("*.o", "x.o", True),
    ("*.o", "a/x.o", False),  # a single star stays in one directory
    ("**/*.o", "x.o", True),  # ** may be no directory at all
    ("**/*.o", "a/b/c/x.o", True),
    ("build/**/y.o", "build/a/b/y.o", True),
    ("build/**", "build/a/b/y.o", True),
    ("a.{rpm,deb}", "a.deb", True),
    ("a.{rpm,deb}", "a.zip", False),
    ("file?.txt", "file1.txt", True),
    ("file?.txt", "file10.txt", False),
    ("[ab].txt", "b.txt", True),
    ("[!ab].txt", "c.txt", True),
    ("[!ab].txt", "a.txt", False),
    ("*", ".hidden", True),  # doublestar: no special rule for dot files
])
def test_glob_follows_doublestar(pattern: str, path: str, expected: bool) -> None:
    assert bool(glob_regex(pattern).match(path)) is expected


def test_a_directory_takes_everything_below_it(project: Path) -> None:
    assert matched(project, ["dist/"]) == {"dist", "dist/app.bin", "dist/lib", "dist/lib/util.so",
                                           "dist/lib/cache.tmp"}
    assert matched(project, ["dist"]) == matched(project, ["./dist/"])


def test_wildcards_variables_and_absolute_paths_inside_the_project(project: Path) -> None:
    assert matched(project, ["build/**/*.o"]) == {"build/a/x.o", "build/a/b/y.o", "build/z.o"}
    assert matched(project, ["build/*.o"]) == {"build/z.o"}
    assert matched(project, ["a.{rpm,deb}"]) == {"a.rpm", "a.deb"}
    assert matched(project, ["$OUT/app.bin"]) == {"dist/app.bin"}
    assert matched(project, ["${CI_PROJECT_DIR}/reports/*.xml"]) == {"reports/unit.xml"}
    assert matched(project, ["reports/**/*.xml"]) == {"reports/unit.xml", "reports/sub/int.xml"}


def test_exclude_is_matched_per_path_not_recursively(project: Path) -> None:
    found = match_paths(project, ["dist/", "build/"], project_dir=PROJECT, env={},
                        exclude=["dist/**/*.tmp", "build/a/b"])
    assert "dist/lib/cache.tmp" not in found.entries and "dist/lib/util.so" in found.entries
    # Excluding a directory leaves its files (GitLab: match the contents, e.g. build/a/b/**).
    assert "build/a/b" not in found.entries and "build/a/b/y.o" in found.entries
    assert ("dist/**/*.tmp", 1) in found.excluded
    gone = match_paths(project, ["build/"], project_dir=PROJECT, env={}, exclude=["build/a/b/**"]).entries
    assert not any(p.startswith("build/a/b/") for p in gone)


def test_paths_outside_the_project_are_refused_with_a_warning(project: Path, tmp_path: Path) -> None:
    tree(tmp_path, {"outside.txt": "secret\n"})
    found = match_paths(project, ["../outside.txt", "/etc/passwd", "dist/../../outside.txt", "missing/"],
                        project_dir=PROJECT, env={})
    assert found.entries == {}
    assert len(found.warnings) == 3
    assert ("missing/", 0) in found.counts
    assert normalise("/builds/alice/app", PROJECT) == ""
    assert normalise("/builds/alice/apple/x", PROJECT) is None


def test_symbolic_links_are_kept_inside_and_skipped_outside(project: Path, tmp_path: Path) -> None:
    os.symlink("app.bin", project / "dist/current")
    os.symlink("/etc/passwd", project / "dist/passwd")
    os.symlink("../../..", project / "dist/up")
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", project / "escape")
    found = match_paths(project, ["dist/", "escape/", "escape"], project_dir=PROJECT, env={})
    assert found.entries["dist/current"] == "link"
    assert "dist/passwd" not in found.entries and "dist/up" not in found.entries
    assert "escape" not in found.entries
    assert any("dist/passwd" in w for w in found.warnings)


def test_untracked_files_come_from_git_including_ignored_ones(tmp_path: Path) -> None:
    repo = tree(tmp_path / "repo", {"tracked.txt": "t\n", ".gitignore": "*.log\n"})
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@b",
           "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@b"}
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "x"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True)
    tree(repo, {"new/file.txt": "n\n", "debug.log": "l\n"})
    found = match_paths(repo, [], project_dir=PROJECT, env={}, untracked=True)
    assert set(found.entries) == {"new/file.txt", "debug.log"}
    assert found.counts == [("untracked", 2)]


def test_zip_round_trip_keeps_paths_modes_links_and_empty_directories(project: Path, tmp_path: Path) -> None:
    (project / "dist/app.bin").chmod(0o755)
    os.symlink("lib/util.so", project / "dist/util")
    (project / "dist/empty").mkdir()
    found = match_paths(project, ["dist/"], project_dir=PROJECT, env={})
    archive = tmp_path / "a.zip"
    assert write_zip(project, found.entries, archive) == len(found.entries)

    dest = tmp_path / "dest"
    dest.mkdir()
    assert extract_zip(archive, dest) == len(found.entries)
    assert (dest / "dist/lib/util.so").read_text() == "lib\n"
    assert stat.S_IMODE((dest / "dist/app.bin").stat().st_mode) == 0o755
    assert os.readlink(dest / "dist/util") == "lib/util.so" and (dest / "dist/util").read_text() == "lib\n"
    assert (dest / "dist/empty").is_dir()


def make_zip(path: Path, members: list[tuple[str, bytes]], links: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members:
            zf.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return path


@pytest.mark.parametrize(("members", "links", "why"), [
    ([("ok.txt", b"x"), ("../evil.txt", b"x")], None, "leads outside"),
    ([("ok.txt", b"x"), ("a/../../evil.txt", b"x")], None, "leads outside"),
    ([("ok.txt", b"x"), ("/tmp/evil.txt", b"x")], None, "absolute path"),
    ([("ok.txt", b"x"), ("..\\evil.txt", b"x")], None, "leads outside"),
    ([("ok.txt", b"x")], {"link": "/etc"}, "outside the directory"),
    ([("ok.txt", b"x")], {"sub/link": "../../etc"}, "outside the directory"),
])
def test_zip_slip_archives_are_refused_before_anything_is_written(
        tmp_path: Path, members: list[tuple[str, bytes]], links: dict[str, str] | None, why: str) -> None:
    archive = make_zip(tmp_path / "evil.zip", members, links)
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(ArchiveError, match=why):
        extract_zip(archive, dest)
    assert list(dest.iterdir()) == []  # not even the harmless entry
    assert not (tmp_path / "evil.txt").exists()


def test_a_link_already_in_the_checkout_cannot_lead_a_file_outside(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    os.symlink(outside, dest / "evil")  # e.g. committed to the repository
    archive = make_zip(tmp_path / "a.zip", [("evil/passwd", b"owned")])
    with pytest.raises(ArchiveError, match="leads outside"):
        extract_zip(archive, dest)
    assert list(outside.iterdir()) == []


def test_a_link_in_the_archive_is_replaced_not_written_through(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    target = tmp_path / "target.txt"
    target.write_text("keep\n")
    os.symlink(target, dest / "file.txt")
    extract_zip(make_zip(tmp_path / "a.zip", [("file.txt", b"new\n")]), dest)
    assert target.read_text() == "keep\n"
    assert not (dest / "file.txt").is_symlink() and (dest / "file.txt").read_text() == "new\n"


def test_a_corrupt_archive_is_an_archive_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 this is not a zip")
    with pytest.raises(ArchiveError, match="cannot be read"):
        extract_zip(bad, tmp_path)


def test_an_archive_that_would_not_fit_on_the_disk_is_refused_before_writing(tmp_path: Path) -> None:
    # A "zip bomb": 300 tiny entries whose central directory declares 4 GiB each (1.2 TiB in all), more than any
    # disk this runs on. Nothing may be written.
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for i in range(300):
            zf.writestr(f"part-{i}.bin", b"x")
    data = bytearray(archive.read_bytes())
    start = 0
    while (found := data.find(b"PK\x01\x02", start)) != -1:  # each central directory entry
        data[found + 24:found + 28] = (0xFFFFFFFE).to_bytes(4, "little")  # its uncompressed size
        start = found + 4
    archive.write_bytes(bytes(data))
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(ArchiveError, match="MiB can be used on this runner's disk"):
        extract_zip(archive, dest)
    assert list(dest.iterdir()) == []
