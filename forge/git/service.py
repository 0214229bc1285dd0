"""Running ``git upload-pack`` / ``git receive-pack`` in stateless-RPC mode and moving bytes to and from them.

This is the clone/fetch/push hot path. Bytes are streamed in both directions and never gathered whole: the
request body is written to git's stdin as it arrives (with back-pressure from ``drain``) and git's stdout is read
in chunks of up to ``READ_SIZE``. Large chunks matter: each chunk costs a wake-up of the event loop and a write
to the socket, and on a two-core machine the server competes with git pack-objects and the client for CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

SERVICES = ("git-upload-pack", "git-receive-pack")
READ_SIZE = 1 << 20
# Linux lets an unprivileged process grow a pipe to 1 MiB (/proc/sys/fs/pipe-max-size); fewer, larger reads.
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


async def advertise_refs(
    config: GitServiceConfig, service: str, repo_path: Path, *, git_protocol: str | None
) -> tuple[bytes, int, str]:
    """Run the ref advertisement (GET info/refs); the output is small, so it is returned whole."""
    argv = [*_base_args(config, service), "--stateless-rpc", "--advertise-refs", str(repo_path)]
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_env(config, git_protocol, {}),
    )
    out, err = await proc.communicate()
    return out, proc.returncode or 0, err.decode("utf-8", "replace")


@dataclass
class GitRpc:
    """One running stateless-RPC git process."""

    proc: asyncio.subprocess.Process
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
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=_env(config, git_protocol, extra_env or {}),
            limit=READ_SIZE,
        )
        rpc = cls(proc)
        rpc._grow_pipes()
        rpc._stderr_task = asyncio.create_task(rpc._collect_stderr())
        return rpc

    def _grow_pipes(self) -> None:
        for stream in (self.proc.stdout, self.proc.stdin):
            transport = getattr(stream, "_transport", None)
            pipe = transport.get_extra_info("pipe") if transport is not None else None
            if pipe is not None:
                with contextlib.suppress(OSError):
                    fcntl.fcntl(pipe.fileno(), _F_SETPIPE_SZ, _PIPE_SIZE)

    async def _collect_stderr(self) -> None:
        assert self.proc.stderr is not None
        kept = 0
        while chunk := await self.proc.stderr.read(65536):
            if kept < _STDERR_KEEP:
                self.stderr_chunks.append(chunk)
                kept += len(chunk)

    async def write_input(self, chunks: AsyncIterator[bytes], *, prefix: bytes = b"") -> None:
        """Copy the request body into git's stdin, then close it. git exiting early (it refused the input)
        is not an error here: its exit status and stderr tell the caller what happened."""
        stdin = self.proc.stdin
        assert stdin is not None
        try:
            if prefix:
                stdin.write(prefix)
                await stdin.drain()
            async for chunk in chunks:
                stdin.write(chunk)
                await stdin.drain()
            stdin.close()
            await stdin.wait_closed()
        except (BrokenPipeError, ConnectionResetError):
            pass

    async def read(self) -> bytes:
        assert self.proc.stdout is not None
        return await self.proc.stdout.read(READ_SIZE)

    async def wait(self) -> int:
        code = await self.proc.wait()
        if self._stderr_task is not None:
            await self._stderr_task
        return code

    @property
    def stderr(self) -> str:
        return b"".join(self.stderr_chunks).decode("utf-8", "replace")

    def kill(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
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
