"""Where CI keeps files (artifact archives, cache archives): a small interface with one implementation today, a
directory under ``FORGE_HOME/data/ci``, so an object store (S3) can replace it without touching its callers.

Objects are written once under a fresh key and never changed: a new upload gets a new key, and the database row
that names the key is what switches readers over. So a reader holding an open object never sees it change, and a
failed upload never damages the object already in place. Uploads are first spooled to a temporary file in the
store's own ``tmp`` directory (same filesystem), which makes the final move an atomic rename.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

import anyio.to_thread

from forge.settings import Settings

CHUNK = 1024 * 1024
# Keys are made by this module's callers from ids and random hex; anything else is a bug, refused outright so a key
# can never name a path outside the store.
_KEY_RE = re.compile(r"^[a-z]+(/[A-Za-z0-9_.-]+)+$")


class TooLarge(Exception):
    """The data passed the size limit while it was being received."""


@dataclass(frozen=True)
class Spooled:
    """An upload received into a temporary file, with what was learnt while receiving it."""

    path: Path
    size: int
    sha256: str

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


@dataclass(frozen=True)
class StoredFile:
    """A stored object to stream to a client: its key, the file name to offer and its size."""

    storage_key: str
    filename: str
    size: int


class FileStore(Protocol):
    """What CI needs from a file store."""

    def spool_file(self) -> tuple[BinaryIO, Path]:
        """A new temporary file to receive an upload into (moved into place by :meth:`put`)."""
        ...

    def put(self, key: str, spooled: Spooled) -> None:
        """Make ``spooled`` the object ``key`` (consumes the temporary file)."""
        ...

    def open(self, key: str) -> BinaryIO:
        """The object for reading; ``FileNotFoundError`` when it does not exist."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; nothing happens when it is already gone (several workers may race)."""
        ...

    def keys(self, prefix: str, older_than: float) -> Iterator[str]:
        """Keys under ``prefix`` last written more than ``older_than`` seconds ago (for the orphan sweep)."""
        ...


class LocalFileStore:
    """Objects as files under ``root``: ``root/<key>``; temporary files in ``root/tmp``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if not _KEY_RE.match(key) or ".." in key.split("/"):
            raise ValueError(f"invalid storage key {key!r}")
        return self.root / key

    def spool_file(self) -> tuple[BinaryIO, Path]:
        tmp = self.root / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="upload-", dir=tmp)
        return os.fdopen(fd, "wb"), Path(name)

    def put(self, key: str, spooled: Spooled) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(spooled.path, target)

    def open(self, key: str) -> BinaryIO:
        return self._path(key).open("rb")

    def delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        # Leave no empty per-job directories behind; another upload may be creating one at the same moment, so a
        # directory that is not empty (or already gone) is left alone.
        for parent in path.parents:
            if parent == self.root or self.root not in parent.parents:
                break
            try:
                parent.rmdir()
            except OSError:
                break

    def keys(self, prefix: str, older_than: float) -> Iterator[str]:
        base = self.root / prefix
        if not base.is_dir():
            return
        cutoff = time.time() - older_than
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                path = Path(dirpath) / name
                try:
                    if path.stat().st_mtime < cutoff:
                        yield path.relative_to(self.root).as_posix()
                except FileNotFoundError:
                    continue

    def clear_spool(self, older_than: float) -> None:
        """Remove temporary files left by uploads whose server process died mid-way."""
        tmp = self.root / "tmp"
        if not tmp.is_dir():
            return
        cutoff = time.time() - older_than
        for path in tmp.iterdir():
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink(missing_ok=True)
            except FileNotFoundError:
                continue


def file_store(settings: Settings) -> LocalFileStore:
    return LocalFileStore(settings.data_dir / "ci")


def new_key(kind: str, *parts: int | str) -> str:
    """A fresh key such as ``artifacts/12/345/9f0c….zip``: never reused, so writing it replaces nothing."""
    return "/".join([kind, *(str(p) for p in parts), secrets.token_hex(16)])


async def receive(store: FileStore, chunks: AsyncIterator[bytes], limit: int) -> Spooled:
    """Write an async stream of byte chunks to a temporary file, hashing it; :class:`TooLarge` as soon as more
    than ``limit`` bytes arrive (the partial file is removed). Never holds more than one chunk in memory."""
    handle, path = store.spool_file()
    digest = hashlib.sha256()
    size = 0
    try:
        async for chunk in chunks:
            if not chunk:
                continue
            size += len(chunk)
            if size > limit:
                raise TooLarge
            digest.update(chunk)
            await anyio.to_thread.run_sync(handle.write, chunk)
        handle.close()
    except BaseException:
        handle.close()
        path.unlink(missing_ok=True)
        raise
    return Spooled(path, size, digest.hexdigest())


def read_chunks(handle: BinaryIO) -> Iterator[bytes]:
    """An open object as chunks, closing it at the end (for streamed responses)."""
    try:
        while chunk := handle.read(CHUNK):
            yield chunk
    finally:
        handle.close()
