"""Searching one commit of a repository: file names, and file contents with ``git grep``.

File names are matched case-insensitively as substrings against every file path of the commit's tree. The path
list comes from ``git ls-tree -r`` (8 ms for thousands of files, far cheaper than walking trees from Python) and
is cached under the tree id, so later searches of the same tree only scan a list in memory.

Contents are searched by ``git grep`` on the commit, in the bare repository: fixed strings only (``-F``), so a
query can never be an expensive regular expression; binary files skipped (``-I``); a few matches per file; the
output read as it comes and git stopped once enough files matched or the time limit passed. A stopped search
returns what it found so far, marked as incomplete, rather than an error.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass

import pygit2

from forge.errors import TooSlow
from forge.git.cache import objects
from forge.git.repository import GitRepo
from forge.git.service import GitServiceConfig, _env
from forge.i18n import N_

MIN_QUERY = 2
MAX_QUERY = 200
MAX_PATH_RESULTS = 100
MAX_GREP_FILES = 100
MAX_MATCHES_PER_FILE = 5
GREP_TIMEOUT = 10.0
LINE_CONTEXT = 80  # characters kept before the first match of a long line
MAX_LINE_SHOWN = 300

# (text, is_match) pieces of a path or line, for marking the matches.
Segments = tuple[tuple[str, bool], ...]


@dataclass(frozen=True)
class PathMatch:
    path: str
    segments: Segments


@dataclass(frozen=True)
class PathResults:
    matches: tuple[PathMatch, ...]
    total: int  # all matching paths; more than len(matches) when the list was cut

    @property
    def more(self) -> int:
        return self.total - len(self.matches)


@dataclass(frozen=True)
class LineMatch:
    number: int
    segments: Segments


@dataclass(frozen=True)
class FileMatches:
    path: str
    lines: tuple[LineMatch, ...]


@dataclass(frozen=True)
class GrepResults:
    files: tuple[FileMatches, ...]
    truncated: bool  # more files matched than are listed
    timed_out: bool  # git was stopped at the time limit; other files may match too


_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]+")


def clean_query(query: str) -> str:
    """The query as searched: control characters (a NUL cannot even be passed to git; a newline would split the
    pattern in two) become spaces, and surrounding space is dropped."""
    return _CONTROL_RE.sub(" ", query).strip()


def _mark(text: str, pattern: re.Pattern[str]) -> Segments:
    pieces: list[tuple[str, bool]] = []
    pos = 0
    for m in pattern.finditer(text):
        if m.start() > pos:
            pieces.append((text[pos : m.start()], False))
        pieces.append((m.group(), True))
        pos = m.end()
    if pos < len(text):
        pieces.append((text[pos:], False))
    return tuple(pieces)


def _pattern(query: str) -> re.Pattern[str]:
    return re.compile(re.escape(query), re.IGNORECASE)


def _git(config: GitServiceConfig, git: GitRepo, *args: str) -> list[str]:
    return [config.git_bin, f"--git-dir={git.path}", *args]


# --- file names --------------------------------------------------------------------------------------------


def _tree_id(git: GitRepo, commit_sha: str) -> str:
    # forge.git is the one package that holds pygit2; this module reads through GitRepo's handle.
    commit = git._repo.get(commit_sha)
    assert isinstance(commit, pygit2.Commit)
    return str(commit.tree_id)


def _list_paths(config: GitServiceConfig, git: GitRepo, tree: str) -> tuple[str, ...]:
    try:
        result = subprocess.run(
            _git(config, git, "ls-tree", "-r", "-z", tree),
            env=_env(config, None, {}),
            capture_output=True,
            timeout=GREP_TIMEOUT,
            check=True,
        )
    except subprocess.TimeoutExpired as exc:
        raise TooSlow(N_("Listing the files took longer than %(seconds)s seconds and was stopped."),
                      seconds=int(GREP_TIMEOUT)) from exc
    paths = []
    for record in result.stdout.split(b"\0"):
        meta, _, path = record.partition(b"\t")
        # Files and links; submodules ("commit") hold no files of this repository.
        if path and meta.split(b" ")[1:2] == [b"blob"]:
            paths.append(path.decode("utf-8", "replace"))
    return tuple(paths)


def all_paths(config: GitServiceConfig, git: GitRepo, commit_sha: str) -> tuple[str, ...]:
    """Every file path in the tree of ``commit_sha`` (a full commit id), in git's order."""
    tree = _tree_id(git, commit_sha)
    return objects.get_or_compute(("paths", str(git.path), tree), lambda: _list_paths(config, git, tree), len)


def find_paths(
    config: GitServiceConfig, git: GitRepo, commit_sha: str, query: str, limit: int = MAX_PATH_RESULTS
) -> PathResults:
    """Paths containing ``query`` in any letter case: those whose file name matches first (an exact name, then a
    name starting with it), then shorter paths, then by path."""
    needle = query.lower()
    found = []
    for path in all_paths(config, git, commit_sha):
        lowered = path.lower()
        if needle not in lowered:
            continue
        base = lowered.rsplit("/", 1)[-1]
        found.append(((needle not in base, base != needle, not base.startswith(needle), len(path), path), path))
    found.sort()
    pattern = _pattern(query)
    matches = tuple(PathMatch(path, _mark(path, pattern)) for _, path in found[:limit])
    return PathResults(matches, len(found))


# --- contents ----------------------------------------------------------------------------------------------


def _line_segments(text: str, pattern: re.Pattern[str]) -> Segments:
    """The line with its matches marked, cut to a window around the first match when it is long (minified files
    have lines of many kilobytes)."""
    text = text.rstrip("\r")
    if len(text) > MAX_LINE_SHOWN:
        first = pattern.search(text)
        start = max(0, (first.start() if first else 0) - LINE_CONTEXT)
        window = text[start : start + MAX_LINE_SHOWN]
        before: Segments = (("…", False),) if start else ()
        after: Segments = (("…", False),) if start + MAX_LINE_SHOWN < len(text) else ()
        return before + _mark(window, pattern) + after
    return _mark(text, pattern)


def _run_grep(
    config: GitServiceConfig, git: GitRepo, commit_sha: str, query: str, max_files: int
) -> GrepResults:
    argv = _git(
        config,
        git,
        "grep",
        "-I",
        "-n",
        "-F",
        "-i",
        "--null",
        "--no-color",
        f"--max-count={MAX_MATCHES_PER_FILE}",
        "-e",
        query,  # after -e, so a query starting with "-" is a pattern, never an option
        commit_sha,
        "--",
    )
    pattern = _pattern(query)
    prefix = commit_sha.encode() + b":"
    files: list[FileMatches] = []
    current: tuple[str, list[LineMatch]] | None = None
    truncated = False
    timed_out = threading.Event()

    with tempfile.TemporaryFile() as err:
        # stderr goes to a file, not a pipe, so git can never block on it while stdout is being read.
        proc = subprocess.Popen(argv, env=_env(config, None, {}), stdout=subprocess.PIPE, stderr=err)

        def stop() -> None:
            timed_out.set()
            proc.kill()

        deadline = time.monotonic() + GREP_TIMEOUT
        timer = threading.Timer(GREP_TIMEOUT, stop)
        timer.start()
        try:
            assert proc.stdout is not None
            for raw in proc.stdout:
                if time.monotonic() > deadline:  # the timer may lag behind a busy machine; output may not
                    stop()
                    break
                parts = raw.rstrip(b"\n").split(b"\0", 2)
                if len(parts) != 3 or not parts[0].startswith(prefix) or not parts[1].isdigit():
                    continue  # a path with a newline in it: not worth garbling the rest for
                path = parts[0][len(prefix) :].decode("utf-8", "replace")
                if current is None or current[0] != path:
                    if current is not None:
                        files.append(FileMatches(current[0], tuple(current[1])))
                        current = None
                    if len(files) >= max_files:
                        truncated = True
                        proc.kill()  # enough: the rest of git's output is not needed
                        break
                    current = (path, [])
                line = parts[2].decode("utf-8", "replace")
                current[1].append(LineMatch(int(parts[1]), _line_segments(line, pattern)))
            if current is not None:
                files.append(FileMatches(current[0], tuple(current[1])))
            code = proc.wait()  # output ended: git exits, or was killed by the timer or above
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        # 0: matches, 1: none; anything else is git failing, unless this code stopped it.
        if code not in (0, 1) and not truncated and not timed_out.is_set():
            err.seek(0)
            raise RuntimeError(f"git grep failed ({code}): {err.read(4096).decode('utf-8', 'replace')}")
    return GrepResults(tuple(files), truncated, timed_out.is_set())


def grep(
    config: GitServiceConfig, git: GitRepo, commit_sha: str, query: str, max_files: int = MAX_GREP_FILES
) -> GrepResults:
    """Lines containing ``query`` (any letter case, as a fixed string) in the text files of commit
    ``commit_sha`` (a full commit id), grouped by file in path order. Complete results are cached."""
    key = ("grep", str(git.path), commit_sha, query, max_files)
    found = objects.get(key)
    if found is not None:
        return found  # type: ignore[no-any-return]
    result = _run_grep(config, git, commit_sha, query, max_files)
    if not result.timed_out:
        objects.put(key, result)
    return result
