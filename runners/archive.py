"""Files in and out of a job's checkout: GitLab's path globbing, zip archives made from matches, and safe extraction.

Globbing follows GitLab Runner (the doublestar library): patterns are relative to the project directory, ``*`` and
``?`` stay within one path component, ``**`` as a whole component spans any number of directories, ``[abc]`` and
``{a,b}`` work as in a shell. A pattern that names a directory (``dist`` or ``dist/``) takes everything below it.
``exclude`` patterns are matched against each file and directory on its own, not recursively (GitLab: "to exclude
the contents of a directory, match them, e.g. ``dir/**``").

Nothing outside the project directory is ever read or written: a pattern leaving it is refused, a symbolic link is
archived as a link only when it points inside, and extraction refuses absolute names, ``..``, and links (or
directories reached through links) leading outside — the "zip slip" attacks. Archives are written to and read from
files, never held in memory.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import stat
import subprocess
import time
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

_GLOB_CHARS = re.compile(r"[*?\[{\\]")
_ZIP_SYMLINK = 0o120000
_MAX_LINK_TARGET = 4096
# Left free on the runner's disk when extracting an archive (dependencies' artifacts, caches).
_DISK_RESERVE = 512 * 1024 * 1024


class ArchiveError(Exception):
    """An archive that cannot or must not be extracted; the message names the entry and says why."""


@dataclass
class Matches:
    """What a list of patterns selected: ``entries`` maps each relative path (no trailing slash) to its kind
    (``file``, ``dir`` or ``link``); ``counts`` how many entries each pattern brought; ``warnings`` are lines for
    the job log."""

    entries: dict[str, str] = field(default_factory=dict)
    counts: list[tuple[str, int]] = field(default_factory=list)
    excluded: list[tuple[str, int]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------------------------
# Glob patterns


def _component_regex(text: str) -> str:
    """A regular expression for one path component of a glob (no ``/`` in it)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append(re.escape(text[i + 1]))
            i += 2
            continue
        if c == "*":
            while i + 1 < len(text) and text[i + 1] == "*":  # "a**b" inside a component is a plain "*"
                i += 1
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = text.find("]", i + 2 if i + 1 < len(text) and text[i + 1] in "!^" else i + 1)
            if end == -1:
                out.append(re.escape(c))
            else:
                body = text[i + 1:end]
                negate = body[:1] in ("!", "^")
                if negate:
                    body = body[1:]
                body = body.replace("\\", "\\\\")
                # A negated class must not match "/" either: a component never spans directories.
                out.append(f"[^/{body}]" if negate else f"[{body}]")
                i = end
        elif c == "{":
            depth, end = 0, -1
            for j in range(i, len(text)):
                if text[j] == "{":
                    depth += 1
                elif text[j] == "}":
                    depth -= 1
                    if depth == 0:
                        end = j
                        break
            if end == -1:
                out.append(re.escape(c))
            else:
                options = _split_braces(text[i + 1:end])
                out.append("(?:" + "|".join(_component_regex(o) for o in options) + ")")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _split_braces(body: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for j, c in enumerate(body):
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(body[start:j])
            start = j + 1
    parts.append(body[start:])
    return parts


def glob_regex(pattern: str) -> re.Pattern[str]:
    """The compiled form of a relative glob ``pattern`` (already normalised: no ``./``, no trailing ``/``)."""
    components = pattern.split("/")
    pieces = []
    for index, component in enumerate(components):
        last = index == len(components) - 1
        if component == "**":
            pieces.append(".*" if last else "(?:[^/]+/)*")
        else:
            pieces.append(_component_regex(component) + ("" if last else "/"))
    return re.compile("".join(pieces) + r"\Z", re.DOTALL)


def normalise(pattern: str, project_dir: str) -> str | None:
    """``pattern`` relative to the project (``""`` is the project itself), or None when it points outside it.
    An absolute pattern inside ``project_dir`` (as the job sees it, e.g. ``$CI_PROJECT_DIR/dist``) is accepted."""
    text = pattern.strip()
    if text.startswith("/"):
        base = project_dir.rstrip("/")
        if text != base and not text.startswith(base + "/"):
            return None
        text = text[len(base):].lstrip("/")
    text = posixpath.normpath(text) if text else "."
    if text == "..":
        return None
    if text.startswith("../"):
        return None
    return "" if text == "." else text


def _static_prefix(pattern: str) -> str:
    """The leading components of ``pattern`` that have no glob characters."""
    fixed: list[str] = []
    for component in pattern.split("/"):
        if _GLOB_CHARS.search(component):
            break
        fixed.append(component)
    return "/".join(fixed)


def expand_variables(text: str, env: dict[str, str]) -> str:
    """``$NAME`` and ``${NAME}`` replaced from ``env`` (unknown names become empty, as in a shell), as GitLab Runner
    does for artifact and cache paths."""
    return re.sub(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))",
                  lambda m: env.get(m.group(1) or m.group(2), ""), text)


# ---------------------------------------------------------------------------------------------------------------
# Collecting files


def _inside(root: Path, path: Path) -> bool:
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root.rstrip("/") + "/")


def _link_stays_inside(rel: str, target: str) -> bool:
    """A relative link at ``rel`` whose ``target`` stays in the project when resolved lexically."""
    if not target or target.startswith("/") or "\x00" in target:
        return False
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
    return resolved != ".." and not resolved.startswith("../")


def _add_tree(root: Path, rel: str, entries: dict[str, str], warnings: list[str]) -> int:
    """Add ``rel`` (and, for a directory, everything below it) to ``entries``; how many entries were added."""
    path = root / rel if rel else root
    added = 0

    def add(item_rel: str, item: Path) -> None:
        nonlocal added
        if item_rel in entries or not item_rel:
            return
        try:
            mode = item.lstat().st_mode
        except OSError:
            return
        if stat.S_ISLNK(mode):
            target = os.readlink(item)
            if not _link_stays_inside(item_rel, target):
                warnings.append(f"{item_rel}: a symbolic link to {target}, outside the project directory; skipped")
                return
            entries[item_rel] = "link"
        elif stat.S_ISDIR(mode):
            entries[item_rel] = "dir"
        elif stat.S_ISREG(mode):
            entries[item_rel] = "file"
        else:
            return  # sockets, devices, pipes: never archived
        added += 1

    add(rel, path)
    if not os.path.islink(path) and path.is_dir():
        for dirpath, dirnames, filenames in os.walk(path):  # does not follow links to directories
            base = Path(dirpath)
            base_rel = base.relative_to(root).as_posix()
            base_rel = "" if base_rel == "." else base_rel
            for name in sorted(dirnames) + sorted(filenames):
                add(f"{base_rel}/{name}" if base_rel else name, base / name)
            dirnames.sort()
    return added


def match_paths(root: Path, patterns: Iterable[str], *, project_dir: str, env: dict[str, str],
                exclude: Iterable[str] = (), untracked: bool = False) -> Matches:
    """Everything in the checkout at ``root`` that ``patterns`` (and, with ``untracked``, git's untracked files)
    select, minus what ``exclude`` matches. ``project_dir`` is the project directory as the job sees it and
    ``env`` the job's variables (patterns may use them)."""
    result = Matches()
    for raw in patterns:
        pattern = expand_variables(raw, env)
        rel = normalise(pattern, project_dir)
        if rel is None:
            result.warnings.append(f"{raw}: not a path inside the project directory ({project_dir}); skipped")
            result.counts.append((raw, 0))
            continue
        before = len(result.entries)
        if not _GLOB_CHARS.search(rel):
            candidate = root / rel if rel else root
            if os.path.lexists(candidate):
                if rel and not os.path.islink(candidate) and not _inside(root, candidate):
                    result.warnings.append(f"{raw}: leads outside the project directory; skipped")
                else:
                    _add_tree(root, rel, result.entries, result.warnings)
        else:
            regex = glob_regex(rel)
            base_rel = _static_prefix(rel)
            base = root / base_rel if base_rel else root
            if base.is_dir() and _inside(root, base) and not (base_rel and os.path.islink(base)):
                for dirpath, dirnames, filenames in os.walk(base):
                    here = Path(dirpath)
                    here_rel = here.relative_to(root).as_posix()
                    here_rel = "" if here_rel == "." else here_rel
                    keep_walking = []
                    for name in sorted(dirnames) + sorted(filenames):
                        item_rel = f"{here_rel}/{name}" if here_rel else name
                        if regex.match(item_rel):
                            _add_tree(root, item_rel, result.entries, result.warnings)
                        elif name in dirnames:
                            keep_walking.append(name)
                    dirnames[:] = sorted(keep_walking)  # a matched directory is taken whole already
        count = len(result.entries) - before
        result.counts.append((raw, count))
    if untracked:
        before = len(result.entries)
        for rel in untracked_files(root):
            _add_tree(root, rel, result.entries, result.warnings)
        result.counts.append(("untracked", len(result.entries) - before))
    for raw in exclude:
        rel = normalise(expand_variables(raw, env), project_dir)
        if not rel:
            continue
        regex = glob_regex(rel)
        gone = [path for path in result.entries if regex.match(path)]
        for path in gone:
            del result.entries[path]
        result.excluded.append((raw, len(gone)))
    return result


def untracked_files(root: Path) -> list[str]:
    """Files git does not track in the checkout, ignored ones included (GitLab's ``untracked: true`` ignores
    ``.gitignore``)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root.parent), "LANG": "C",
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    try:
        # safe.directory: files the job made as another user (root in a container) must not make git refuse.
        done = subprocess.run(["git", "-c", "safe.directory=*", "ls-files", "--others", "-z"], cwd=root, env=env,
                              capture_output=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if done.returncode != 0:
        return []
    return [name for name in done.stdout.decode("utf-8", "surrogateescape").split("\0") if name]


# ---------------------------------------------------------------------------------------------------------------
# Zip archives


def write_zip(root: Path, entries: dict[str, str], dest: Path) -> int:
    """Write ``entries`` (from ``match_paths``) under ``root`` into the zip file ``dest``; how many were written.
    Files that vanished or cannot be read are left out."""
    written = 0
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        for rel in sorted(entries):
            kind = entries[rel]
            path = root / rel
            try:
                st = path.lstat()
                if kind == "dir":
                    info = zipfile.ZipInfo(rel + "/", _zip_time(st.st_mtime))
                    info.external_attr = (stat.S_IFDIR | (st.st_mode & 0o7777)) << 16 | 0x10
                    zf.writestr(info, b"")
                elif kind == "link":
                    info = zipfile.ZipInfo(rel, _zip_time(st.st_mtime))
                    info.create_system = 3
                    info.external_attr = (_ZIP_SYMLINK | 0o777) << 16
                    zf.writestr(info, os.readlink(path).encode("utf-8", "surrogateescape"))
                else:
                    zf.write(path, rel)
            except OSError:
                continue
            written += 1
    return written


def _zip_time(mtime: float) -> tuple[int, int, int, int, int, int]:
    t = time.localtime(max(mtime, 315532800))  # zip cannot hold times before 1980
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)


def _safe_name(name: str) -> str:
    """The member's path relative to the destination, or ``ArchiveError`` for an absolute name or one with
    ``..``."""
    if not name or "\x00" in name:
        raise ArchiveError(f"the archive has an entry with an empty or invalid name ({name!r})")
    unified = name.replace("\\", "/")
    if unified.startswith("/") or re.match(r"[A-Za-z]:", unified):
        raise ArchiveError(f"the archive entry {name} has an absolute path")
    parts = [p for p in unified.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(f"the archive entry {name} leads outside the directory (..)")
    return "/".join(parts)


def _is_link(info: zipfile.ZipInfo) -> bool:
    return info.create_system == 3 and stat.S_IFMT(info.external_attr >> 16) == _ZIP_SYMLINK


def extract_zip(archive: Path, dest: Path) -> int:
    """Extract ``archive`` into ``dest`` (which exists); how many entries. Every entry's name and link target is
    checked before anything is written, so such an archive leaves ``dest`` untouched; links are made last, so no
    file of the archive is written through a link of the same archive; a link already in ``dest`` (from the
    checkout) that would lead a file outside stops the extraction with ``ArchiveError`` too."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ArchiveError(f"the archive cannot be read ({exc})") from None
    with zf:
        plan: list[tuple[zipfile.ZipInfo, str]] = []
        links: list[tuple[zipfile.ZipInfo, str, str]] = []
        for info in zf.infolist():
            rel = _safe_name(info.filename)
            if not rel:
                continue
            if _is_link(info):
                if info.file_size > _MAX_LINK_TARGET:
                    raise ArchiveError(f"the archive entry {info.filename} is a link with an oversized target")
                target = zf.read(info).decode("utf-8", "surrogateescape")
                if not _link_stays_inside(rel, target):
                    raise ArchiveError(f"the archive entry {info.filename} is a link to {target}, outside the "
                                       "directory")
                links.append((info, rel, target))
            else:
                plan.append((info, rel))
        _check_space(dest, sum(info.file_size for info, _ in plan))
        real_dest = os.path.realpath(dest)
        count = 0
        for info, rel in plan:
            path = dest / rel
            if info.is_dir():
                _make_dirs(dest, real_dest, rel)
            else:
                _make_dirs(dest, real_dest, posixpath.dirname(rel))
                _write_member(zf, info, path)
            count += 1
        for _info, rel, target in links:
            parent = posixpath.dirname(rel)
            _make_dirs(dest, real_dest, parent)
            path = dest / rel
            if not _within(os.path.realpath(dest / parent / target) if parent else
                           os.path.realpath(dest / target), real_dest):
                raise ArchiveError(f"the archive entry {rel} is a link leading outside the directory")
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif os.path.lexists(path):
                path.unlink()
            os.symlink(target, path)
            count += 1
    return count


def _check_space(dest: Path, needed: int) -> None:
    """Refuse an archive whose files would not fit on the runner's disk (with a reserve left over), before writing
    any: a small archive of highly compressed data (a "zip bomb") must not fill the host. The sizes are the
    archive's own, and ``zipfile`` never writes more than an entry declares."""
    free = shutil.disk_usage(dest).free
    if needed > free - _DISK_RESERVE:
        raise ArchiveError(f"extracting the archive needs {needed // (1024 * 1024)} MiB, but only "
                           f"{max(free - _DISK_RESERVE, 0) // (1024 * 1024)} MiB can be used on this runner's disk")


def _within(real: str, real_root: str) -> bool:
    return real == real_root or real.startswith(real_root.rstrip("/") + "/")


def _make_dirs(dest: Path, real_dest: str, rel: str) -> None:
    """Make ``dest/rel`` a directory, refusing to go through a link (or anything) leading outside ``dest``."""
    current = dest
    for part in [p for p in rel.split("/") if p]:
        current = current / part
        if os.path.lexists(current):
            if not _within(os.path.realpath(current), real_dest):
                raise ArchiveError(f"{current.relative_to(dest)} leads outside the directory")
            if not current.is_dir():
                raise ArchiveError(f"{current.relative_to(dest)} is a file, so the archive cannot make a "
                                   "directory there")
        else:
            current.mkdir()


def _write_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> None:
    if os.path.islink(path):
        path.unlink()  # replaced by the archive's file, never written through
    elif path.is_dir():
        raise ArchiveError(f"{info.filename}: a directory is in the way of this file")
    mode = (info.external_attr >> 16) & 0o777 if info.create_system == 3 and info.external_attr >> 16 else 0o644
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
    fd = os.open(path, flags, mode or 0o644)
    with os.fdopen(fd, "wb") as out, zf.open(info) as src:
        shutil.copyfileobj(src, out, 1024 * 1024)
    os.chmod(path, mode or 0o644)
    stamp = time.mktime((*info.date_time, 0, 0, -1))
    os.utime(path, (stamp, stamp))
