"""Masking secrets in a log stream, and sending a log to a real HTTP server by offset: resends never duplicate,
gaps resume from the server's length, and a line reaches the server quickly without waiting for the job's end."""

from __future__ import annotations

import time

from runners.client import JobClient
from runners.logs import BATCH_DELAY, BufferLog, LogUploader, Masker, MaskingLog
from runners.payload import Job
from tests.runners.protocol_server import FakeJob, ProtocolServer

SECRETS = ["hunter2-secret", "abcabd", "token-xyz"]


def mask_in_pieces(text: bytes, cuts: list[int]) -> bytes:
    masker = Masker(SECRETS)
    out = b""
    last = 0
    for cut in [*cuts, len(text)]:
        out += masker.feed(text[last:cut])
        last = cut
    return out + masker.flush()


def test_masking_is_the_same_wherever_the_stream_is_cut() -> None:
    text = b"user=bob pass=hunter2-secret; again hunter2-secret\nabcabcabd and token-xyz.\n"
    expected = b"user=bob pass=[MASKED]; again [MASKED]\nabc[MASKED] and [MASKED].\n"
    assert mask_in_pieces(text, []) == expected
    for a in range(len(text)):
        assert mask_in_pieces(text, [a]) == expected, a
        for b in range(a, len(text), 7):
            assert mask_in_pieces(text, [a, b]) == expected, (a, b)


def test_masking_holds_back_only_a_possible_start_of_a_secret() -> None:
    masker = Masker(SECRETS)
    assert masker.feed(b"line one\n") == b"line one\n"
    assert masker.feed(b"partial hunt") == b"partial "
    assert masker.feed(b"ing season\n") == b"hunting season\n"
    assert masker.feed(b"ends with token-") == b"ends with "
    assert masker.flush() == b"token-"


def test_masking_log_passes_everything_once_flushed() -> None:
    sink = BufferLog()
    log = MaskingLog(sink, ["s3cr3t"])
    for piece in (b"a s3", b"cr3t b s", b"3c", b"r3", b"t c s3"):
        log.write(piece)
    log.flush()
    assert sink.getvalue() == b"a [MASKED] b [MASKED] c s3"


def server_job(server: ProtocolServer, job_id: int = 1) -> tuple[FakeJob, Job]:
    payload = {"id": job_id, "token": f"fjt_job{job_id}", "name": "t", "stage": "test", "pipeline_id": 1,
               "image": None, "script": ["true"], "variables": [], "timeout": 60,
               "git": {"url": "http://example.invalid/a/b.git", "sha": "0" * 40, "ref": "main", "depth": 1}}
    fake = server.add_job(payload)
    fake.state = "running"
    return fake, Job.from_payload(payload)


def test_append_log_is_idempotent_by_offset_and_reports_gaps(protocol_server: ProtocolServer) -> None:
    fake, job = server_job(protocol_server)
    client = JobClient(protocol_server.url, job)
    try:
        assert client.append_log(0, b"hello ").length == 6
        ack = client.append_log(0, b"hello ")  # a resend after a lost answer
        assert (ack.length, ack.gap, ack.state) == (6, False, "running")
        assert client.append_log(3, b"lo world").length == 11  # overlapping: only the new part is added
        gap = client.append_log(20, b"later")
        assert (gap.gap, gap.length) == (True, 11)
        assert bytes(fake.log) == b"hello world"
    finally:
        client.close()


def test_uploader_resends_after_lost_answers_without_duplicating(protocol_server: ProtocolServer) -> None:
    fake, job = server_job(protocol_server)
    protocol_server.fail_after_store = 3  # the server stores the bytes but the runner never hears back
    client = JobClient(protocol_server.url, job)
    uploader = LogUploader(client)
    expected = b""
    for i in range(50):
        line = f"line {i}\n".encode()
        expected += line
        uploader.write(line)
        if i % 10 == 0:
            time.sleep(BATCH_DELAY * 2)
    assert uploader.close()
    client.close()
    assert bytes(fake.log) == expected
    assert uploader.length == len(expected)


def test_uploader_resumes_from_the_servers_length_after_a_gap(protocol_server: ProtocolServer) -> None:
    fake, job = server_job(protocol_server)
    fake.log += b"from an earlier attempt\n"
    client = JobClient(protocol_server.url, job)
    # The runner believes the log is longer than the server has it: the server answers 416 with its length.
    uploader = LogUploader(client, offset=100)
    uploader.write(b"new output\n")
    assert uploader.close()
    client.close()
    assert bytes(fake.log) == b"from an earlier attempt\nnew output\n"
    assert uploader.bytes_lost == 100 - len(b"from an earlier attempt\n")  # noted, so the runner can say so


def test_uploader_sends_a_line_within_the_batch_delay(protocol_server: ProtocolServer) -> None:
    fake, job = server_job(protocol_server)
    client = JobClient(protocol_server.url, job)
    uploader = LogUploader(client)
    try:
        written = time.monotonic()
        uploader.write(b"first line\n")
        protocol_server.wait_for(lambda: bytes(fake.log) == b"first line\n", timeout=5)
        assert time.monotonic() - written < 1.0
        uploader.write(b"x" * 200_000)  # more than a batch: sent without waiting, in requests of bounded size
        protocol_server.wait_for(lambda: len(fake.log) == 11 + 200_000, timeout=10)
    finally:
        assert uploader.close()
        client.close()


def test_uploader_reports_a_cancel_seen_in_the_log_answer(protocol_server: ProtocolServer) -> None:
    fake, job = server_job(protocol_server)
    protocol_server.cancel(job.id)
    seen: list[str] = []
    client = JobClient(protocol_server.url, job)
    uploader = LogUploader(client, on_state=seen.append)
    uploader.write(b"output\n")
    assert uploader.close()
    client.close()
    assert seen == ["canceled"]
