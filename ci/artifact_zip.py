"""Reading artifact archives (zip) safely: checking an upload for paths that would escape the directory it is
extracted into ("zip slip"), listing one directory of an archive and opening one member, all from the zip's
central directory, never extracting anything to disk.

Runners extract dependencies' archives into their project directory, so the server refuses, at upload, any archive
a careless extractor could be tricked by: absolute names, ``..`` components, backslash separators that some tools
treat as directories, and symbolic links whose target leaves the archive's root.
"""

from __future__ import annotations

import posixpath
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from forge.errors import ForgeError, NotFound
from forge.i18n import N_

MAX_ENTRIES = 200_000  # members in one archive; beyond that a listing would be useless and slow
MAX_LINK_TARGET = 4096
CHUNK = 1024 * 1024


class BadArchive(ForgeError):
    """An upload that is not an acceptable zip (HTTP 400, as the runner protocol says)."""

    status = 400


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16)


def _unsafe_name(name: str) -> bool:
    if not name or "\\" in name or "\x00" in name or name.startswith("/"):
        return True
    if len(name) > 1 and name[1] == ":":  # a Windows drive ("C:...")
        return True
    return any(part == ".." for part in name.split("/"))


def _link_escapes(name: str, target: str) -> bool:
    if not target or target.startswith("/") or "\\" in target or "\x00" in target:
        return True
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name.rstrip("/")), target))
    return resolved == ".." or resolved.startswith("../") or resolved.startswith("/")


def check_archive(path: Path) -> int:
    """Raise :class:`BadArchive` unless ``path`` is a zip whose every member stays inside the extraction root;
    the number of members otherwise."""
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.infolist()
            if len(members) > MAX_ENTRIES:
                raise BadArchive(N_("The archive has more than %(max)s files."), max=MAX_ENTRIES)
            for info in members:
                if _unsafe_name(info.filename):
                    raise BadArchive(N_("The archive contains “%(name)s”, a path outside the project directory."),
                                     name=info.filename[:200])
                if _is_symlink(info):
                    if info.file_size > MAX_LINK_TARGET:
                        raise BadArchive(N_("The archive contains a symbolic link with an overlong target."))
                    target = zf.read(info).decode("utf-8", "replace")
                    if _link_escapes(info.filename, target):
                        raise BadArchive(
                            N_("The archive contains the symbolic link “%(name)s” pointing outside the project "
                               "directory."), name=info.filename[:200])
            return len(members)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise BadArchive(N_("The upload is not a valid zip archive.")) from exc


@dataclass(frozen=True)
class Entry:
    """One line of an archive listing."""

    name: str  # last path component
    path: str  # from the archive's root, no leading or trailing slash
    is_dir: bool
    size: int = 0
    is_symlink: bool = False
    count: int = 0  # for a directory: the files below it


@dataclass(frozen=True)
class Listing:
    path: str  # the directory listed, "" for the root
    entries: list[Entry]  # directories first, then files, each by name


def _clean(path: str) -> str:
    return "/".join(p for p in path.split("/") if p not in ("", "."))


def list_directory(handle: BinaryIO, path: str) -> Listing:
    """The directories and files directly inside ``path`` (NotFound when the archive has no such directory)."""
    path = _clean(path)
    prefix = f"{path}/" if path else ""
    dirs: dict[str, int] = {}
    files: dict[str, Entry] = {}
    found = not path
    with zipfile.ZipFile(handle) as zf:
        for info in zf.infolist():
            name = info.filename
            if not name.startswith(prefix):
                continue
            found = True
            rest = name[len(prefix):]
            if not rest:
                continue
            head, sep, tail = rest.partition("/")
            if sep:  # inside a subdirectory (or the subdirectory's own entry, "dir/")
                dirs[head] = dirs.get(head, 0) + (1 if tail and not tail.endswith("/") else 0)
            else:
                files[head] = Entry(head, prefix + head, False, info.file_size, _is_symlink(info))
    if not found:
        raise NotFound(N_("The archive has no directory “%(path)s”."), path=path)
    entries = [Entry(d, prefix + d, True, count=n) for d, n in sorted(dirs.items())]
    entries += [files[f] for f in sorted(files) if f not in dirs]
    return Listing(path, entries)


def is_directory(handle: BinaryIO, path: str) -> bool:
    path = _clean(path)
    if not path:
        return True
    with zipfile.ZipFile(handle) as zf:
        return any(name.startswith(path + "/") for name in zf.namelist())


@dataclass
class Member:
    """One file of an archive, open for reading: ``head`` is its first bytes (to choose a content type), ``chunks``
    yields the whole content and closes the archive at the end."""

    path: str
    size: int
    is_symlink: bool
    head: bytes
    chunks: Iterator[bytes]


def open_member(handle: BinaryIO, path: str) -> Member:
    """The file ``path`` of the archive (NotFound when there is no such file). ``handle`` is closed by the
    returned member's ``chunks`` (or here, on error)."""
    path = _clean(path)
    zf = zipfile.ZipFile(handle)
    try:
        info = zf.getinfo(path)
    except KeyError:
        zf.close()
        handle.close()
        raise NotFound(N_("The archive has no file “%(path)s”."), path=path) from None
    if info.is_dir():
        zf.close()
        handle.close()
        raise NotFound(N_("The archive has no file “%(path)s”."), path=path)
    stream = zf.open(info)
    head = stream.read(8192)

    def chunks() -> Iterator[bytes]:
        try:
            if head:
                yield head
            while chunk := stream.read(CHUNK):
                yield chunk
        finally:
            stream.close()
            zf.close()
            handle.close()

    return Member(path, info.file_size, _is_symlink(info), head, chunks())
