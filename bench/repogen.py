"""Generate a realistic-sized git repository without network access.

The content is real source text: lines of the Python files installed on this machine (the stdlib and
site-packages), so zlib and git's delta search see the kind of data they see in a real project. A seeded random
walk edits a few files per commit (delete a hunk, insert lines drawn from elsewhere, sometimes a new file), and
every commit brings some new lines, so the pack grows with the history as it does in a real project rather than
deltifying to nothing. The stream goes through ``git fast-import`` (seconds, not minutes), then one
``git repack -adf`` gives the pack the delta chains a maintained server would have.

Same arguments, same seed: same repository, byte for byte (fixed dates, fixed author).
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any


@dataclass(frozen=True)
class RepoSpec:
    commits: int
    initial_files: int
    # New lines (drawn from the corpus) that each commit brings on average: this sets how the pack grows.
    new_lines_per_commit: int
    seed: int
    branch: str = "main"
    start_time: int = 1_600_000_000


def corpus_files(limit_bytes: int = 400_000_000) -> list[Path]:
    """Python sources on this machine, in a stable order."""
    roots = {Path(sysconfig.get_paths()["stdlib"]), Path(sysconfig.get_paths()["purelib"])}
    files: list[Path] = []
    total = 0
    for root in sorted(roots):
        for path in sorted(root.rglob("*.py")):
            try:
                size = path.stat().st_size
            except OSError:
                continue
            if 500 <= size <= 300_000:
                files.append(path)
                total += size
                if total > limit_bytes:
                    return files
    return files


class Corpus:
    def __init__(self, files: list[Path]) -> None:
        self.files: list[tuple[str, list[bytes]]] = []
        self.lines: list[bytes] = []
        for path in files:
            try:
                data = path.read_bytes()
            except OSError:
                continue
            lines = data.splitlines(keepends=True)
            rel = "/".join(path.parts[-3:])
            self.files.append((rel, lines))
            self.lines.extend(lines)


def _mutate_line(rng: random.Random, line: bytes) -> bytes:
    # Rename an identifier now and then, so inserted lines are not all verbatim copies of the corpus.
    if rng.random() < 0.3 and b"_" in line:
        return line.replace(b"_", b"_%x_" % rng.getrandbits(16), 1)
    return line


def sample_lines(rng: random.Random, corpus: Corpus, n: int) -> list[bytes]:
    # Runs of consecutive lines read like code; single random lines would read like noise.
    out: list[bytes] = []
    while len(out) < n:
        start = rng.randrange(len(corpus.lines))
        run = corpus.lines[start:start + rng.randint(3, 40)]
        out.extend(_mutate_line(rng, line) for line in run)
    return out[:n]


def write_data(out: IO[bytes], payload: bytes) -> None:
    out.write(b"data %d\n" % len(payload))
    out.write(payload)
    out.write(b"\n")


def _commits(spec: RepoSpec, corpus: Corpus) -> Iterator[tuple[int, dict[str, bytes | None]]]:
    """Yield (index, {path: new content or None for deletion}) per commit."""
    rng = random.Random(spec.seed)
    picks = rng.sample(range(len(corpus.files)), min(spec.initial_files, len(corpus.files)))
    tree: dict[str, list[bytes]] = {}
    for i in picks:
        rel, lines = corpus.files[i]
        tree[f"src/{rel}"] = list(lines)
    yield 0, {p: b"".join(v) for p, v in tree.items()}
    for n in range(1, spec.commits):
        changes: dict[str, bytes | None] = {}
        budget = max(1, int(rng.expovariate(1 / spec.new_lines_per_commit)))
        if rng.random() < 0.05:
            # A new module.
            path = f"src/gen/m{n}_{rng.getrandbits(20):05x}.py"
            tree[path] = sample_lines(rng, corpus, budget)
            changes[path] = b"".join(tree[path])
        else:
            paths = rng.sample(sorted(tree), rng.randint(1, 4))
            for path in paths:
                lines = tree[path]
                for _ in range(rng.randint(1, 3)):
                    at = rng.randrange(len(lines) + 1)
                    del lines[at:at + rng.randint(0, 8)]
                    lines[at:at] = sample_lines(rng, corpus, max(1, budget // len(paths) // 2))
                changes[path] = b"".join(lines)
        if rng.random() < 0.01 and len(tree) > 50:
            gone = rng.choice(sorted(tree))
            del tree[gone]
            changes[gone] = None
        yield n, changes


def fast_import_stream(spec: RepoSpec, corpus: Corpus, out: IO[bytes]) -> None:
    ref = f"refs/heads/{spec.branch}".encode()
    for n, changes in _commits(spec, corpus):
        when = spec.start_time + n * 3600
        out.write(b"commit %s\nmark :%d\n" % (ref, n + 1))
        out.write(b"author Bench Author <bench@example.com> %d +0000\n" % when)
        out.write(b"committer Bench Author <bench@example.com> %d +0000\n" % when)
        write_data(out, b"Change %d: %s\n" % (n, ", ".join(sorted(changes))[:200].encode()))
        if n > 0:
            out.write(b"from :%d\n" % n)
        for path, content in sorted(changes.items()):
            if content is None:
                out.write(b"D %s\n" % path.encode())
            else:
                out.write(b"M 100644 inline %s\n" % path.encode())
                write_data(out, content)
        out.write(b"\n")
        if n % 500 == 499:
            out.write(b"tag v%d\nfrom :%d\ntagger Bench Author <bench@example.com> %d +0000\n" % (n + 1, n + 1, when))
            write_data(out, b"Release %d\n" % (n + 1))


def generate(path: Path, spec: RepoSpec, env: dict[str, str], corpus: Corpus | None = None) -> None:
    """Create a bare repository at ``path`` holding ``spec``'s history, fully repacked."""
    corpus = corpus or Corpus(corpus_files())
    fast_import(path, spec.branch, env, lambda out: fast_import_stream(spec, corpus, out))


def fast_import(path: Path, branch: str, env: dict[str, str], write: Callable[[IO[bytes]], None]) -> None:
    """Create the bare repository ``path`` from the fast-import stream ``write`` produces, fully repacked.

    Built beside ``path`` and renamed into place at the end, so an interrupted run never leaves a half-made
    repository that a later run would take for a finished one."""
    tmp = path.with_name(path.name + ".tmp")
    subprocess.run(["rm", "-rf", str(tmp)], check=True)
    subprocess.run(["git", "init", "-q", "--bare", "-b", branch, str(tmp)], check=True, env=env)
    proc = subprocess.Popen(["git", "-C", str(tmp), "fast-import", "--quiet"], stdin=subprocess.PIPE, env=env)
    assert proc.stdin is not None
    write(proc.stdin)
    proc.stdin.close()
    if proc.wait() != 0:
        sys.exit("git fast-import failed")
    # A full repack with fresh deltas and a bitmap: the state of a repository that a server gc has maintained.
    subprocess.run(["git", "-C", str(tmp), "repack", "-q", "-a", "-d", "-f", "-b"], check=True, env=env)
    subprocess.run(["rm", "-rf", str(path)], check=True)
    tmp.rename(path)


def build_once(path: Path, spec: Any, build: Callable[[], None]) -> float | None:
    """Run ``build()`` (which makes ``path``) unless ``path`` exists and was made from an equal ``spec`` (a
    dataclass, recorded as JSON in ``<path>.spec.json``). Seconds the build took, or None when the cached one
    was kept."""
    stamp = path.with_name(path.name + ".spec.json")
    wanted = json.dumps(asdict(spec), sort_keys=True)
    if path.exists() and stamp.is_file() and stamp.read_text() == wanted:
        return None
    stamp.unlink(missing_ok=True)
    started = time.perf_counter()
    build()
    stamp.write_text(wanted)
    return time.perf_counter() - started
