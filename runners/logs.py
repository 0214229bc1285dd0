"""A job's log on its way to the forge: masking secrets, batching, and appending by offset.

Executors write raw bytes to a ``LogSink``. ``MaskingLog`` replaces masked values with ``[MASKED]`` even when a
value arrives split across two writes. ``LogUploader`` sends what it is given to the forge in batches (at most
``BATCH_DELAY`` seconds or ``BATCH_BYTES`` bytes wait, so a line written by a job is on the server well within the
log-latency target) and resends from the forge's length after a gap or a lost answer, so the stored log has every
byte exactly once. ``BufferLog`` keeps the bytes in memory (tests, local runs).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Protocol

from runners.client import JobClient
from runners.errors import ClientError, JobGone, Stopped

log = logging.getLogger("forge_runner")

MASK = b"[MASKED]"
BATCH_DELAY = 0.1  # seconds the first unsent byte may wait for more
BATCH_BYTES = 64 * 1024  # a batch this big is sent at once
MAX_REQUEST_BYTES = 1024 * 1024  # one request carries at most this much


class LogSink(Protocol):
    def write(self, data: bytes) -> None: ...


class BufferLog:
    """A sink that keeps everything written, thread-safe."""

    def __init__(self) -> None:
        self._data = bytearray()
        self._lock = threading.Lock()

    def write(self, data: bytes) -> None:
        with self._lock:
            self._data += data

    def getvalue(self) -> bytes:
        with self._lock:
            return bytes(self._data)

    def text(self) -> str:
        return self.getvalue().decode("utf-8", "replace")


class Masker:
    """Stream masking: ``feed`` returns what is safe to pass on now, holding back only a tail that could be the
    start of a masked value; ``flush`` returns the rest."""

    def __init__(self, secrets: list[str]) -> None:
        values = sorted({s.encode() for s in secrets if s}, key=len, reverse=True)
        self._values = values
        # Longest first, so a value containing another is masked whole.
        self._pattern = re.compile(b"|".join(re.escape(v) for v in values)) if values else None
        self._held = b""

    def _sub(self, data: bytes) -> bytes:
        return self._pattern.sub(MASK, data) if self._pattern else data

    def _unfinished(self, tail: bytes) -> int:
        """The length of the longest end of ``tail`` that is a proper beginning of a masked value."""
        longest = min(len(tail), max((len(v) for v in self._values), default=1) - 1)
        for size in range(longest, 0, -1):
            end = tail[-size:]
            if any(len(v) > size and v.startswith(end) for v in self._values):
                return size
        return 0

    def feed(self, data: bytes) -> bytes:
        if self._pattern is None:
            return data
        buf = self._held + data
        last_end = 0
        for match in self._pattern.finditer(buf):
            last_end = match.end()
        # Only the part after the last complete match can hold the start of a value that is still arriving;
        # cutting before it keeps every complete match whole.
        keep = self._unfinished(buf[last_end:])
        cut = len(buf) - keep
        self._held = buf[cut:]
        return self._sub(buf[:cut])

    def flush(self) -> bytes:
        rest, self._held = self._held, b""
        return self._sub(rest)


class MaskingLog:
    """A sink wrapper that masks ``secrets``; call ``flush`` when the job's output is complete."""

    def __init__(self, inner: LogSink, secrets: list[str]) -> None:
        self.inner = inner
        self._masker = Masker(secrets)
        self._lock = threading.Lock()

    def write(self, data: bytes) -> None:
        with self._lock:
            safe = self._masker.feed(data)
            if safe:
                self.inner.write(safe)

    def text(self, message: str) -> None:
        self.write(message.encode("utf-8", "replace"))

    def flush(self) -> None:
        with self._lock:
            rest = self._masker.flush()
            if rest:
                self.inner.write(rest)


class LogUploader:
    """Sends a job's log to the forge from a background thread; ``write`` never blocks on the network.

    ``on_state`` is called with the job's state from every log answer (so a cancel seen there acts at once);
    ``on_gone`` when the forge stops accepting the job's token.
    """

    def __init__(self, client: JobClient, offset: int = 0, *, on_state: Callable[[str], None] | None = None,
                 on_gone: Callable[[], None] | None = None) -> None:
        self.client = client
        self._base = offset  # the log offset of self._buf[0]
        self._buf = bytearray()
        self._first_unsent_at = 0.0
        self._cond = threading.Condition()
        self._closing = False
        self._gone = False
        self._on_state = on_state
        self._on_gone = on_gone
        self.bytes_lost = 0
        self._thread = threading.Thread(target=self._loop, name=f"log-{client.job_id}", daemon=True)
        self._thread.start()

    @property
    def length(self) -> int:
        """The forge's length of the log as last acknowledged."""
        with self._cond:
            return self._base

    def write(self, data: bytes) -> None:
        if not data:
            return
        with self._cond:
            if self._gone:
                return
            if not self._buf:
                self._first_unsent_at = time.monotonic()
            self._buf += data
            self._cond.notify()

    def close(self, timeout: float = 60.0) -> bool:
        """Send what is left (for at most ``timeout`` seconds) and stop; True when everything was sent."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout)
        with self._cond:
            self._gone = True  # nothing more is accepted, also if the thread is still stuck in a request
            return not self._buf

    def _ack(self, length: int) -> None:
        """The forge has ``length`` bytes: drop what it has, or start over from its length after a gap."""
        end = self._base + len(self._buf)
        if length < self._base:
            # The forge lost bytes this runner no longer holds; go on from its length (the log has a hole).
            self.bytes_lost += self._base - length
            log.warning("job %s: the forge lost %d log bytes", self.client.job_id, self._base - length)
        elif length >= end:
            self._buf.clear()
        else:
            del self._buf[: length - self._base]
        self._base = length

    def _next_batch(self) -> tuple[int, bytes] | None:
        """Wait until a batch is due; None when closing with nothing left."""
        with self._cond:
            while True:
                if self._buf:
                    due = self._first_unsent_at + BATCH_DELAY
                    now = time.monotonic()
                    if self._closing or len(self._buf) >= BATCH_BYTES or now >= due:
                        return self._base, bytes(self._buf[:MAX_REQUEST_BYTES])
                    self._cond.wait(due - now)
                elif self._closing:
                    return None
                else:
                    self._cond.wait()

    def _loop(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            offset, data = batch
            try:
                ack = self.client.append_log(offset, data)
            except JobGone as exc:
                log.warning("job %s: %s", self.client.job_id, exc)
                with self._cond:
                    self._gone = True
                    self._buf.clear()
                if self._on_gone:
                    self._on_gone()
                return
            except Stopped:
                return
            except ClientError as exc:
                # The forge stayed away for the client's whole retry time: keep the bytes and try again, unless
                # the job is over and we are only flushing (then give up rather than hang the runner).
                log.warning("job %s: cannot send the log: %s", self.client.job_id, exc)
                with self._cond:
                    if self._closing:
                        return
                time.sleep(1.0)
                continue
            with self._cond:
                self._ack(ack.length)
                if self._buf:
                    self._first_unsent_at = time.monotonic() if not ack.gap else 0.0
            if ack.state and self._on_state:
                self._on_state(ack.state)
