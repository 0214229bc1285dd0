"""Running a host process for a job: output streamed to the job log as it comes, killed (with everything it
started) at once on cancel or when the job's deadline passes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from runners.executors.common import JobControl
from runners.logs import LogSink

_POLL = 0.05


@dataclass(frozen=True)
class Outcome:
    exit_code: int | None  # None when killed
    timed_out: bool = False
    canceled: bool = False


def _pump(stream: IO[bytes], log: LogSink) -> None:
    # os.read returns whatever is there (not whole lines), so output reaches the log as soon as it is written.
    # This thread owns the pipe and closes it itself: were another thread to close it while this one still reads,
    # the fd number could be reused by an unrelated file in the meantime and read (or closed) here by mistake.
    fd = stream.fileno()
    try:
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            log.write(chunk)
    finally:
        stream.close()


def run_streaming(args: Sequence[str], *, cwd: Path, env: Mapping[str, str], log: LogSink, control: JobControl,
                  deadline: float) -> Outcome:
    """Run ``args`` with stdout and stderr both going to ``log``; ``deadline`` is a ``time.monotonic`` time."""
    proc = subprocess.Popen(
        list(args), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, start_new_session=True,  # its own process group, so a kill reaches its children
    )
    assert proc.stdout is not None
    reader = threading.Thread(target=_pump, args=(proc.stdout, log), daemon=True)
    reader.start()
    timed_out = canceled = False
    try:
        while True:
            try:
                proc.wait(timeout=_POLL)
                break
            except subprocess.TimeoutExpired:
                pass
            if control.is_set():
                canceled = True
                break
            if time.monotonic() >= deadline:
                timed_out = True
                break
    finally:
        # Also after a normal exit: background processes the script left behind must not outlive the job.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        reader.join(timeout=5)
    if timed_out or canceled:
        return Outcome(None, timed_out=timed_out, canceled=canceled)
    return Outcome(proc.returncode)
