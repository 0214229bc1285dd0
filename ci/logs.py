"""Job logs: appending the runner's bytes by offset, masking secrets, reading them back.

Offsets are counted in the bytes the runner sent (``Job.log_length`` is how many it has sent), so appending is
idempotent: a resent range is recognised by its offset and ignored, a range that starts beyond what the server has
is a gap (:class:`LogGap`, HTTP 416) and the runner resends from ``length``. What is *stored* is the masked text:
every masked variable's value (and the job token) is replaced by ``[MASKED]`` before a byte reaches the database.

A secret can arrive split across two appends. So the end of an append that could be the start of a secret (a
proper prefix of one) is not stored yet: it waits in the job's *tail* row (``JobLogChunk`` with offset -1) and is
masked together with the next append. The tail also holds an incomplete UTF-8 sequence, so every stored chunk
decodes on its own. When the job has finished nothing more can come, and the tail is stored as it is.

Stored chunks are keyed by the runner offset of their first byte; readers order by it, and the live log stream
uses a chunk's offset as its event id. A log is capped at :data:`LOG_LIMIT` bytes; what comes after is counted (so
offsets stay right) but dropped, with a note at the cut.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import update
from sqlmodel import Session, col, select

from ci import notify
from ci.models import DONE_STATES, Job, JobLogChunk
from forge.errors import ForgeError, NotFound
from forge.i18n import N_

LOG_LIMIT = 64 * 1024 * 1024
MASK = b"[MASKED]"
TAIL_OFFSET = -1
TRUNCATED_NOTE = "\n[The log exceeded {size}; the rest of the output was not stored.]\n"
# An append that keeps losing the optimistic race this often is given up (never seen in practice: the one
# runner that holds a job sends its log in order).
_ATTEMPTS = 20


class LogGap(ForgeError):
    """The append starts after the end of what the server has; ``length`` is where the runner must resume."""

    status = 416

    def __init__(self, length: int) -> None:
        super().__init__(N_("The log has %(length)s bytes; send from there."), length=length)
        self.length = length


@dataclass(frozen=True)
class Appended:
    length: int  # bytes received so far (runner offsets)
    state: str  # the job's status now


def masked_values(job: Job, extra: Iterable[str] = ()) -> list[bytes]:
    """The byte strings to hide in ``job``'s log: masked variables of its spec, plus ``extra`` (the job token)."""
    values: set[str] = set(extra)
    variables = (job.spec or {}).get("variables") or []
    if isinstance(variables, dict):  # tolerate {"KEY": {"value": ..., "masked": ...}}
        variables = [{"key": k, **v} for k, v in variables.items() if isinstance(v, dict)]
    for var in variables:
        if isinstance(var, dict) and var.get("masked") and var.get("value"):
            values.add(str(var["value"]))
    return sorted((v.encode() for v in values if v), key=len, reverse=True)


def mask(data: bytes, secrets: list[bytes]) -> tuple[bytes, int]:
    """``data`` with every secret replaced; also where the last replacement ends in the result (0 if none)."""
    if not secrets:
        return data, 0
    pattern = re.compile(b"|".join(re.escape(s) for s in secrets))
    out = bytearray()
    pos = 0
    for m in pattern.finditer(data):
        out += data[pos : m.start()]
        out += MASK
        pos = m.end()
    last = len(out) if pos else 0
    out += data[pos:]
    return bytes(out), last


def _incomplete_utf8(data: bytes) -> int:
    """How many bytes at the end of ``data`` start a UTF-8 sequence that is not complete yet."""
    for i in range(1, min(4, len(data) + 1)):
        byte = data[-i]
        if byte & 0xC0 == 0x80:  # continuation byte: look further back for the lead byte
            continue
        if byte >= 0xC0:
            needed = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return i if i < needed else 0
        return 0
    return 0


def held_back(data: bytes, secrets: list[bytes], protected: int) -> int:
    """How many bytes at the end of ``data`` (never reaching into ``data[:protected]``) must wait for the next
    append: the longest suffix that is a proper prefix of a secret, or an unfinished UTF-8 character."""
    hold = _incomplete_utf8(data)
    if secrets:
        longest = min(len(data) - protected, max(len(s) for s in secrets) - 1)
        for k in range(longest, hold, -1):
            suffix = data[-k:]
            if any(s.startswith(suffix) for s in secrets):
                hold = k
                break
    return hold


def _tail(session: Session, job_id: int) -> JobLogChunk | None:
    return session.exec(
        select(JobLogChunk).where(JobLogChunk.job_id == job_id, JobLogChunk.offset == TAIL_OFFSET)
    ).first()


def append(session: Session, job_id: int, offset: int, data: bytes, secrets: list[bytes],
           limit: int = LOG_LIMIT) -> Appended:
    """Add the runner's bytes ``data`` that start at ``offset``. Raises LogGap when bytes are missing before it."""
    for _ in range(_ATTEMPTS):
        job = session.get(Job, job_id, populate_existing=True)
        if job is None:
            raise NotFound(N_("This job does not exist."))
        length = job.log_length
        if offset > length:
            raise LogGap(length)
        new = data[length - offset :]
        if not new:
            return Appended(length, job.status)
        # Claim the range [length, length + len(new)): only one concurrent append of the same bytes wins, the
        # loser re-reads and finds them already there. The row stays locked until commit (PostgreSQL), so the
        # tail read below is the latest.
        claimed = session.execute(
            update(Job).where(col(Job.id) == job_id, col(Job.log_length) == length)
            .values(log_length=length + len(new))
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            continue
        _store(session, job, length, new, secrets, limit)
        notify.after_commit(session, notify.job_key(job_id))
        return Appended(length + len(new), job.status)
    raise LogGap(length)


def _store(session: Session, job: Job, start: int, new: bytes, secrets: list[bytes], limit: int) -> None:
    assert job.id is not None
    if start >= limit:
        return  # already cut: count the bytes, keep nothing
    keep = new[: limit - start]
    cut = len(keep) < len(new)
    tail_row = _tail(session, job.id)
    tail = tail_row.data if tail_row is not None else b""
    masked, last = mask(tail + keep, secrets)
    finished = job.status in DONE_STATES
    hold = 0 if finished or cut else held_back(masked, secrets, last)
    chunk_offset = start - len(tail)
    body = masked[: len(masked) - hold]
    if body:
        session.add(JobLogChunk(job_id=job.id, offset=chunk_offset, data=body))
    rest = masked[len(masked) - hold :] if hold else b""
    if rest:
        if tail_row is None:
            session.add(JobLogChunk(job_id=job.id, offset=TAIL_OFFSET, data=rest))
        else:
            tail_row.data = rest
            session.add(tail_row)
    elif tail_row is not None:
        session.delete(tail_row)
    if cut:
        size = f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{limit} bytes"
        session.add(JobLogChunk(job_id=job.id, offset=limit, data=TRUNCATED_NOTE.format(size=size).encode()))
    session.flush()


def flush_tail(session: Session, job: Job) -> None:
    """Store what was held back, as it is: the job has finished, no continuation of a secret can come."""
    assert job.id is not None
    row = _tail(session, job.id)
    if row is None:
        return
    row.offset = job.log_length - len(row.data)
    session.add(row)
    session.flush()
    notify.after_commit(session, notify.job_key(job.id))


def read_chunks(session: Session, job_id: int, after: int | None = None, max_bytes: int = 1024 * 1024,
                ) -> list[tuple[int, bytes]]:
    """Stored chunks (offset, text) in order, those after offset ``after`` if given, up to about ``max_bytes``."""
    stmt = select(JobLogChunk.offset, JobLogChunk.data).where(JobLogChunk.job_id == job_id)
    stmt = stmt.where(col(JobLogChunk.offset) > (TAIL_OFFSET if after is None else after))
    out: list[tuple[int, bytes]] = []
    size = 0
    for chunk_offset, data in session.exec(stmt.order_by(col(JobLogChunk.offset))):
        out.append((chunk_offset, data))
        size += len(data)
        if size >= max_bytes:
            break
    return out


def held_tail(session: Session, job_id: int) -> bytes:
    """The bytes held back at the end (only shown once the job has finished)."""
    row = _tail(session, job_id)
    return row.data if row is not None else b""


def read_all(session: Session, job: Job) -> bytes:
    """The whole stored log (with the held-back end once the job has finished)."""
    assert job.id is not None
    parts = [data for _, data in read_chunks(session, job.id, max_bytes=LOG_LIMIT * 2)]
    if job.status in DONE_STATES:
        parts.append(held_tail(session, job.id))
    return b"".join(parts)


def read_end(session: Session, job: Job, max_bytes: int) -> tuple[bytes, bool, int | None]:
    """The last ``max_bytes`` or so of the stored log, whether earlier text was left out, and the offset of the
    last chunk included (None when there is none): what a page shows before the live stream takes over."""
    assert job.id is not None
    rows = session.exec(
        select(JobLogChunk.offset, JobLogChunk.data)
        .where(JobLogChunk.job_id == job.id, col(JobLogChunk.offset) > TAIL_OFFSET)
        .order_by(col(JobLogChunk.offset).desc())
    )
    picked: list[bytes] = []
    size = 0
    last: int | None = None
    partial = False
    for chunk_offset, data in rows:  # newest first, read only as far as needed
        if last is None:
            last = chunk_offset
        if size + len(data) > max_bytes and picked:
            partial = True
            break
        picked.append(data)
        size += len(data)
    text = b"".join(reversed(picked))
    if job.status in DONE_STATES:
        text += held_tail(session, job.id)
    return text, partial, last
