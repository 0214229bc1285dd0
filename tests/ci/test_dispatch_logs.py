"""Job logs in the database: appends by offset (resends ignored, gaps refused), secrets masked even when split
across appends, UTF-8 characters never split between stored chunks, the size cap, and reading back."""

from __future__ import annotations

import pytest

from ci import logs
from ci.models import FAILED, RUNNING, Job
from forge.db.engine import session_scope
from tests.ci.runner_helpers import make_job, set_job

SECRET = b"hunter2-very-secret"


def _job(server, factory, *, masked: str = SECRET.decode()) -> int:  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    spec = {"script": ["x"], "variables": [
        {"key": "TOKEN", "value": masked, "masked": True},
        {"key": "PLAIN", "value": "visible-value", "masked": False},
    ]}
    job_id = make_job(server.engine, ref, tags="never-taken", spec=spec)
    set_job(server.engine, job_id, status=RUNNING)
    return job_id


def _append(server, job_id, offset, data, extra=()):  # type: ignore[no-untyped-def]
    with session_scope(server.engine) as s:
        job = s.get(Job, job_id)
        assert job is not None
        return logs.append(s, job_id, offset, data, logs.masked_values(job, extra))


def _stored(server, job_id) -> bytes:  # type: ignore[no-untyped-def]
    with session_scope(server.engine) as s:
        job = s.get(Job, job_id)
        assert job is not None
        return logs.read_all(s, job)


def test_append_by_offset_is_idempotent_and_gaps_are_refused(server, factory):  # type: ignore[no-untyped-def]
    job_id = _job(server, factory)
    assert _append(server, job_id, 0, b"line 1\n").length == 7
    assert _append(server, job_id, 0, b"line 1\n").length == 7  # a resend changes nothing
    assert _append(server, job_id, 3, b"e 1\nline 2\n").length == 14  # overlapping: only the new part is added
    with pytest.raises(logs.LogGap) as gap:
        _append(server, job_id, 20, b"later\n")
    assert gap.value.length == 14 and gap.value.status == 416
    assert _append(server, job_id, 14, b"line 3\n").state == RUNNING
    assert _stored(server, job_id) == b"line 1\nline 2\nline 3\n"


def test_masked_values_never_reach_the_database(server, factory):  # type: ignore[no-untyped-def]
    job_id = _job(server, factory)
    token = "fjt_" + "t" * 40
    _append(server, job_id, 0, b"token " + SECRET + b" and " + token.encode() + b" visible-value\n", [token])
    stored = _stored(server, job_id)
    assert stored == b"token [MASKED] and [MASKED] visible-value\n"


@pytest.mark.parametrize("cut", [1, 5, len(SECRET) - 1])
def test_a_secret_split_across_appends_is_masked(server, factory, cut):  # type: ignore[no-untyped-def]
    job_id = _job(server, factory)
    text = b"echo " + SECRET + b" done\n"
    split = len(b"echo ") + cut
    first = _append(server, job_id, 0, text[:split])
    assert first.length == split  # everything counted as received...
    with session_scope(server.engine) as s:
        visible = b"".join(d for _, d in logs.read_chunks(s, job_id))
    assert visible == b"echo "  # ...but the possible start of the secret is held back
    _append(server, job_id, split, text[split:])
    assert _stored(server, job_id) == b"echo [MASKED] done\n"


def test_a_secret_in_three_pieces_and_a_false_start(server, factory):  # type: ignore[no-untyped-def]
    job_id = _job(server, factory)
    pieces = [b"x hunt", b"er2-very-", b"secret y hun", b"gry\n"]
    offset = 0
    for piece in pieces:
        _append(server, job_id, offset, piece)
        offset += len(piece)
    assert _stored(server, job_id) == b"x [MASKED] y hungry\n"


def test_what_is_held_back_is_shown_once_the_job_ends(server, factory):  # type: ignore[no-untyped-def]
    job_id = _job(server, factory)
    _append(server, job_id, 0, b"tail hunter")
    with session_scope(server.engine) as s:
        job = s.get(Job, job_id)
        assert job is not None
        assert logs.read_all(s, job) == b"tail "
    set_job(server.engine, job_id, status=FAILED)
    assert _stored(server, job_id) == b"tail hunter"
    # Bytes sent after the end are stored at once (nothing can complete a secret later).
    _append(server, job_id, 11, b"2-very-secret\n")
    assert _stored(server, job_id) == b"tail [MASKED]\n"


def test_utf8_characters_are_not_split_between_chunks(server, factory):  # type: ignore[no-untyped-def]
    job_id = _job(server, factory)
    text = "héllo wörld ✓\n".encode()
    for i in range(len(text)):  # one byte at a time
        _append(server, job_id, i, text[i : i + 1])
    with session_scope(server.engine) as s:
        chunks = logs.read_chunks(s, job_id)
    for _, data in chunks:
        data.decode("utf-8")  # each stored chunk decodes on its own
    assert b"".join(d for _, d in chunks) == text


def test_log_is_capped_with_a_note(server, factory):  # type: ignore[no-untyped-def]
    job_id = _job(server, factory)
    with session_scope(server.engine) as s:
        job = s.get(Job, job_id)
        assert job is not None
        masks = logs.masked_values(job)
        assert logs.append(s, job_id, 0, b"a" * 60, masks, limit=100).length == 60
        assert logs.append(s, job_id, 60, b"b" * 60, masks, limit=100).length == 120
        assert logs.append(s, job_id, 120, b"c" * 60, masks, limit=100).length == 180
    stored = _stored(server, job_id)
    assert stored == b"a" * 60 + b"b" * 40 + b"\n[The log exceeded 100 bytes; the rest of the output was not stored.]\n"


def test_read_end_gives_the_last_part(server, factory):  # type: ignore[no-untyped-def]
    job_id = _job(server, factory)
    offset = 0
    for i in range(10):
        line = f"line {i}\n".encode() * 10
        _append(server, job_id, offset, line)
        offset += len(line)
    with session_scope(server.engine) as s:
        job = s.get(Job, job_id)
        assert job is not None
        text, partial, last = logs.read_end(s, job, 250)
        chunks = logs.read_chunks(s, job_id)
    assert partial and text.endswith(b"line 9\n") and b"line 0" not in text
    assert last == chunks[-1][0]
