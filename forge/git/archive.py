"""Archives of a commit (zip, tar.gz), streamed from ``git archive`` without being held in memory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from forge.git.service import GitServiceConfig, _env, _spawn

FORMATS = {"zip": "application/zip", "tar.gz": "application/gzip"}


async def stream_archive(
    config: GitServiceConfig, repo_path: Path, sha: str, fmt: str, prefix: str
) -> AsyncIterator[bytes]:
    """Yield the archive of commit ``sha`` in ``fmt`` ("zip" or "tar.gz"), every path under ``prefix/``.
    ``sha`` must be a resolved commit id, never user input, so it cannot be read as an option."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown archive format {fmt!r}")
    argv = [config.git_bin, "-C", str(repo_path), "archive", f"--format={fmt}", f"--prefix={prefix}/", sha]
    child = await _spawn(argv, _env(config, None, {}), with_stdin=False)
    try:
        while chunk := await child.stdout.read():
            yield chunk
        code = await child.wait()
        if code != 0:
            err = (await child.stderr.read_all(4096)).decode("utf-8", "replace").strip()
            raise RuntimeError(f"git archive failed ({code}): {err}")
    finally:
        child.kill()
