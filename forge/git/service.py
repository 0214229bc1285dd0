"""Running ``git upload-pack`` / ``git receive-pack`` in stateless-RPC mode and moving bytes to and from them.

This is the clone/fetch/push hot path. Bytes are streamed in both directions and never gathered whole: the
request body is written to git's stdin as it arrives (with back-pressure from ``drain``) and git's stdout is
handed over in pieces of about ``READ_SIZE`` at most, reading pausing beyond that. Large pieces matter: each costs
a wake-up of the event loop and a write to the socket, and on a two-core machine the server competes with git
pack-objects and the client for CPU. How git is started matters too (see ``_spawn``). The figures behind these
choices are in docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import os
import re
import subprocess
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

SERVICES = ("git-upload-pack", "git-receive-pack")
READ_SIZE = 1 << 20
_F_SETPIPE_SZ = 1031
_PIPE_SIZE = 1 << 20
_GIT_PROTOCOL_RE = re.compile(r"^[A-Za-z0-9=:._-]{1,200}$")
_STDERR_KEEP = 64 * 1024


@dataclass
class GitServiceConfig:
    git_bin: str
    hooks_dir: Path
    home: Path


def _base_args(config: GitServiceConfig, service: str) -> list[str]:
    if service == "git-upload-pack":
        return [
            config.git_bin,
            # Partial clone (--filter) and the lazy fetches of missing blobs it makes later.
            "-c", "uploadpack.allowFilter=true",
            "-c", "uploadpack.allowReachableSHA1InWant=true",
            "upload-pack",
        ]
    return [
        config.git_bin,
        # Our pre-/post-receive hooks, for every repository, out of reach of repository contents.
        "-c", f"core.hooksPath={config.hooks_dir}",
        # Check every incoming object; a malformed pack is refused with git's own message, refs untouched
        # (receive-pack quarantines new objects until the hooks and checks pass).
        "-c", "receive.fsckObjects=true",
        "receive-pack",
    ]


def _env(config: GitServiceConfig, git_protocol: str | None, extra: dict[str, str]) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        # Operators may tune serving (pack.threads...) in $FORGE_HOME/.gitconfig; a user's ~/.gitconfig is not read.
        "HOME": str(config.home),
        "LANG": "C.UTF-8",
        "FORGE_GIT_BIN": config.git_bin,
    }
    if git_protocol and _GIT_PROTOCOL_RE.match(git_protocol):
        env["GIT_PROTOCOL"] = git_protocol
    env.update(extra)
    return env


class _PipeReader(asyncio.Protocol):
    """Read side of a pipe from git: hands over everything that arrived since the last read in one piece.

    Cheaper than asyncio.StreamReader on this path: no copy into and out of a bytearray per chunk, and one read
    returns all pending data (up to about ``high_water``), so a busy server makes fewer, larger socket writes.
    Reading from the pipe pauses above ``high_water``, so a slow client holds git back instead of filling memory.
    """

    def __init__(self, high_water: int) -> None:
        self._high_water = high_water
        self._chunks: collections.deque[bytes] = collections.deque()
        self._size = 0
        self._eof = False
        self._paused = False
        self._transport: asyncio.ReadTransport | None = None
        self._waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._chunks.append(data)
        self._size += len(data)
        if self._size >= self._high_water and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def read(self) -> bytes:
        """The pending bytes, waiting for some if there are none; b"" at end of file."""
        while not self._chunks and not self._eof:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if not self._chunks:
            return b""
        data = self._chunks.popleft() if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks.clear()
        self._size = 0
        if self._paused and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        return data

    async def read_all(self, keep: int | None = None) -> bytes:
        """Everything up to end of file; beyond ``keep`` bytes the rest is read and dropped."""
        parts: list[bytes] = []
        kept = 0
        while chunk := await self.read():
            if keep is None or kept < keep:
                parts.append(chunk)
                kept += len(chunk)
        return b"".join(parts)


class _PipeWriter(asyncio.Protocol):
    """Write side of a pipe into git, with the back-pressure of StreamWriter.drain()."""

    def __init__(self) -> None:
        self._paused = False
        self._lost = False
        self._waiters: list[asyncio.Future[None]] = []
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._wake()
        if not self.closed.done():
            self.closed.set_result(None)

    def _wake(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def drain(self) -> None:
        if self._lost:
            raise BrokenPipeError("git closed its input")
        if self._paused:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter
            if self._lost:
                raise BrokenPipeError("git closed its input")


@dataclass
class _Child:
    """A git child process and its pipes, wired to the running event loop."""

    popen: subprocess.Popen[bytes]
    stdout: _PipeReader
    stderr: _PipeReader
    stdin: asyncio.WriteTransport | None
    stdin_protocol: _PipeWriter | None

    @property
    def returncode(self) -> int | None:
        return self.popen.returncode

    async def wait(self) -> int:
        """Wait for the exit without blocking the loop or a thread: a pidfd becomes readable when git exits."""
        popen = self.popen
        if popen.poll() is not None:
            return popen.returncode
        loop = asyncio.get_running_loop()
        try:
            pidfd = os.pidfd_open(popen.pid)
        except (AttributeError, OSError):
            return await loop.run_in_executor(None, popen.wait)
        try:
            exited: asyncio.Future[None] = loop.create_future()
            loop.add_reader(pidfd, _resolve, exited)
            try:
                if popen.poll() is None:
                    await exited
            finally:
                loop.remove_reader(pidfd)
        finally:
            os.close(pidfd)
        return popen.wait()

    def kill(self) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.kill()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _LoopPipe:
    """One pipe end handed to the event loop, which then owns it.

    uvloop hands the descriptor to libuv, which closes it when the transport closes, and then calls ``close()`` on
    the object it was given as well (uvloop/handles/handle.pyx, UVSocketHandle._close). With a real file object that
    second close runs on a descriptor number that may already belong to something another thread just opened (a
    pipe of another subprocess, a database file), closing it under that thread's feet. So under uvloop ``close``
    does nothing; under asyncio's own loop, which does not close the descriptor itself, it closes it once."""

    def __init__(self, fd: int, loop: asyncio.AbstractEventLoop) -> None:
        self._fd = fd
        self._loop_closes = type(loop).__module__.startswith("uvloop")

    def fileno(self) -> int:
        return self._fd

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0 and not self._loop_closes:
            os.close(fd)


async def _spawn(argv: list[str], env: dict[str, str], *, with_stdin: bool) -> _Child:
    """Start git with subprocess.Popen rather than the loop's subprocess support.

    Popen uses vfork(), which costs the same whatever the size of the server; uvloop's spawn fork()s, copying the
    page tables of the whole server process while the event loop waits: measured 17-25 ms per git process at
    200 MiB resident, against 0.6 ms here (see docs/benchmarks.md). Every clone, fetch and push starts two.
    """
    loop = asyncio.get_running_loop()
    # The pipes are made here rather than by Popen (see _LoopPipe): the parent's ends are owned by the event loop's
    # transports alone, never also by a Python file object.
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    in_r, in_w = os.pipe() if with_stdin else (subprocess.DEVNULL, -1)
    parent_ends = [out_r, err_r] + ([in_w] if with_stdin else [])
    try:
        popen = subprocess.Popen(argv, stdin=in_r, stdout=out_w, stderr=err_w, env=env)
    except BaseException:
        for fd in parent_ends:
            os.close(fd)
        raise
    finally:
        for fd in (out_w, err_w, in_r):
            if fd >= 0:
                os.close(fd)  # the child's ends: it has its own copies now
    handed: list[int] = []
    try:
        for fd in (out_r, in_w if with_stdin else -1):
            if fd >= 0:
                # Linux lets an unprivileged process grow a pipe to 1 MiB (/proc/sys/fs/pipe-max-size); fewer,
                # larger reads and writes on both sides.
                with contextlib.suppress(OSError):
                    fcntl.fcntl(fd, _F_SETPIPE_SZ, _PIPE_SIZE)
        _, stdout = await loop.connect_read_pipe(lambda: _PipeReader(READ_SIZE), _LoopPipe(out_r, loop))
        handed.append(out_r)
        _, stderr = await loop.connect_read_pipe(lambda: _PipeReader(_STDERR_KEEP), _LoopPipe(err_r, loop))
        handed.append(err_r)
        stdin: asyncio.WriteTransport | None = None
        stdin_protocol: _PipeWriter | None = None
        if with_stdin:
            stdin, stdin_protocol = await loop.connect_write_pipe(_PipeWriter, _LoopPipe(in_w, loop))
            handed.append(in_w)
    except BaseException:
        popen.kill()
        for fd in parent_ends:
            if fd not in handed:
                os.close(fd)
        raise
    return _Child(popen, stdout, stderr, stdin, stdin_protocol)


async def advertise_refs(
    config: GitServiceConfig, service: str, repo_path: Path, *, git_protocol: str | None
) -> tuple[bytes, int, str]:
    """Run the ref advertisement (GET info/refs); the output is small, so it is returned whole."""
    argv = [*_base_args(config, service), "--stateless-rpc", "--advertise-refs", str(repo_path)]
    child = await _spawn(argv, _env(config, git_protocol, {}), with_stdin=False)
    try:
        out, err = await asyncio.gather(child.stdout.read_all(), child.stderr.read_all(_STDERR_KEEP))
        code = await child.wait()
    finally:
        child.kill()
    return out, code, err.decode("utf-8", "replace")


@dataclass
class GitRpc:
    """One running stateless-RPC git process."""

    proc: _Child
    stderr_chunks: list[bytes] = field(default_factory=list)
    _stderr_task: asyncio.Task[None] | None = None

    @classmethod
    async def start(
        cls,
        config: GitServiceConfig,
        service: str,
        repo_path: Path,
        *,
        git_protocol: str | None,
        extra_env: dict[str, str] | None = None,
    ) -> GitRpc:
        argv = [*_base_args(config, service), "--stateless-rpc", str(repo_path)]
        child = await _spawn(argv, _env(config, git_protocol, extra_env or {}), with_stdin=True)
        rpc = cls(child)
        rpc._stderr_task = asyncio.create_task(rpc._collect_stderr())
        return rpc

    async def _collect_stderr(self) -> None:
        kept = 0
        while chunk := await self.proc.stderr.read():
            if kept < _STDERR_KEEP:
                self.stderr_chunks.append(chunk)
                kept += len(chunk)

    async def write_input(self, chunks: AsyncIterator[bytes], *, prefix: bytes = b"") -> None:
        """Copy the request body into git's stdin, then close it. git exiting early (it refused the input)
        is not an error here: its exit status and stderr tell the caller what happened."""
        stdin, protocol = self.proc.stdin, self.proc.stdin_protocol
        assert stdin is not None and protocol is not None
        try:
            if prefix:
                stdin.write(prefix)
                await protocol.drain()
            async for chunk in chunks:
                stdin.write(chunk)
                await protocol.drain()
            stdin.close()
            await protocol.closed
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            stdin.close()

    async def read(self) -> bytes:
        return await self.proc.stdout.read()

    async def wait(self) -> int:
        code = await self.proc.wait()
        if self._stderr_task is not None:
            await self._stderr_task
        return code

    @property
    def stderr(self) -> str:
        return b"".join(self.stderr_chunks).decode("utf-8", "replace")

    def kill(self) -> None:
        self.proc.kill()


async def decompress(chunks: AsyncIterator[bytes], encoding: str) -> AsyncIterator[bytes]:
    """Undo ``Content-Encoding: gzip`` (git compresses large fetch negotiations) chunk by chunk."""
    if encoding not in ("gzip", "x-gzip"):
        async for chunk in chunks:
            yield chunk
        return
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    async for chunk in chunks:
        # Bounded output per step: a tiny compressed body must not inflate into memory all at once.
        data = chunk
        while data:
            out = inflater.decompress(data, READ_SIZE)
            if out:
                yield out
            data = inflater.unconsumed_tail
    tail = inflater.flush()
    if tail:
        yield tail
