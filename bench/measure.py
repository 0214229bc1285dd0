"""Timing helpers: run a git command with a deadline, and sample a server's memory while it works."""

from __future__ import annotations

import os
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

_CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    pass


def run_timed(argv: list[str], env: dict[str, str], *, timeout: float, cwd: Path | None = None) -> float:
    """Seconds the command took; BenchError (with git's stderr) when it fails or overruns."""
    start = time.perf_counter()
    try:
        res = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"timed out after {timeout:.0f} s: {' '.join(argv)}") from None
    took = time.perf_counter() - start
    if res.returncode != 0:
        raise BenchError(f"{' '.join(argv)} exited {res.returncode}: {res.stderr.decode(errors='replace')[-2000:]}")
    return took


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100), interpolated between the nearest samples (numpy's default method)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out.extend(int(c) for c in fh.read().split())
        except OSError:
            continue
    return out


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    todo = _children(pid)
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(_children(child))
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process itself (not its children)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


@dataclass
class MemorySampler:
    """Samples VmRSS of ``pid`` and the sum over its descendants (git upload-pack, pack-objects...) every 20 ms."""

    pid: int
    interval: float = 0.02
    samples: list[tuple[float, int, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> MemorySampler:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        start = time.perf_counter()
        while not self._stop.is_set():
            own = _rss_kib(self.pid)
            kids = sum(_rss_kib(c) for c in _descendants(self.pid))
            self.samples.append((time.perf_counter() - start, own, kids))
            time.sleep(self.interval)

    @property
    def peak_own_mib(self) -> float:
        return max((s[1] for s in self.samples), default=0) / 1024

    @property
    def first_own_mib(self) -> float:
        return self.samples[0][1] / 1024 if self.samples else 0.0

    @property
    def peak_children_mib(self) -> float:
        return max((s[2] for s in self.samples), default=0) / 1024

    def own_profile_mib(self, points: int = 8) -> list[float]:
        """The server's RSS at evenly spaced moments of the transfer: flat means no buffering of the pack."""
        if not self.samples:
            return []
        step = max(1, len(self.samples) // points)
        return [round(s[1] / 1024, 1) for s in self.samples[::step]][:points + 1]
