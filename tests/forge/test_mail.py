"""The mail outbox against a real SMTP server on loopback: queueing, delivery, threading headers, retries with
back-off when the server is down, giving up, claims, signing in."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult
from sqlmodel import select

from forge.db.engine import session_scope
from forge.db.models_base import utcnow
from forge.mail import outbox
from forge.mail.models import OutgoingMail
from forge.settings import Settings
from tests.factories import unique
from tests.smtpsink import SmtpSink


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    smtp = SmtpSink().start()
    yield smtp
    smtp.stop()


def mail_settings(server: Any, port: int, **extra: Any) -> Settings:
    values = {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none",
              "mail_from": "Forge <forge@example.test>", **extra}
    return server.settings.model_copy(update=values)  # type: ignore[no-any-return]


def queue(server: Any, settings: Settings, to: str, **kwargs: Any) -> int:
    with session_scope(server.engine) as s:
        row = outbox.enqueue(s, settings, to=to, subject=kwargs.pop("subject", "Hello"),
                             text=kwargs.pop("text", "Plain body"), **kwargs)
        assert row is not None and row.id is not None
        return row.id


def row_of(server: Any, mail_id: int) -> OutgoingMail:
    with session_scope(server.engine) as s:
        row = s.get(OutgoingMail, mail_id)
        assert row is not None
        return row


def edit_row(server: Any, mail_id: int, **values: Any) -> None:
    with session_scope(server.engine) as s:
        row = s.get(OutgoingMail, mail_id)
        assert row is not None
        for key, value in values.items():
            setattr(row, key, value)
        s.add(row)


def test_nothing_is_queued_without_an_smtp_host(server: Any) -> None:
    to = f"{unique('nohost')}@example.test"
    with session_scope(server.engine) as s:
        assert outbox.enqueue(s, server.settings, to=to, subject="x", text="y") is None
    with session_scope(server.engine) as s:
        assert s.exec(select(OutgoingMail).where(OutgoingMail.to_address == to)).first() is None


def test_a_queued_message_is_delivered_with_its_headers(server: Any, sink: SmtpSink) -> None:
    settings = mail_settings(server, sink.port)
    to = f"{unique('rcpt')}@example.test"
    mail_id = queue(server, settings, to, subject="[o/r] A title\r\nBcc: evil@example.test (#3)",
                    text="Plain body", html="<p>HTML <b>body</b></p>",
                    message_id="<o/r/issues/3/9@forge.test>", in_reply_to="<o/r/issues/3@forge.test>")
    outbox.deliver_due(server.engine, settings)
    got = sink.to(to)
    assert len(got) == 1
    msg = got[0].message
    # A subject is one line: a line break cannot add a header.
    assert msg["Subject"] == "[o/r] A title Bcc: evil@example.test (#3)"
    assert msg["Bcc"] is None
    assert msg["From"] == "Forge <forge@example.test>"
    assert msg["Message-ID"] == "<o/r/issues/3/9@forge.test>"
    assert msg["In-Reply-To"] == "<o/r/issues/3@forge.test>"
    assert msg["References"] == "<o/r/issues/3@forge.test>"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert "/settings/notifications" in msg["List-Unsubscribe"]
    assert got[0].text.strip() == "Plain body"
    assert "<b>body</b>" in got[0].html
    row = row_of(server, mail_id)
    assert row.sent_at is not None and row.attempts == 1 and row.last_error == "" and row.claimed_until is None
    # Sent once only.
    outbox.deliver_due(server.engine, settings)
    assert len(sink.to(to)) == 1


def test_one_connection_carries_a_batch(server: Any, sink: SmtpSink) -> None:
    settings = mail_settings(server, sink.port)
    addresses = [f"{unique('batch')}@example.test" for _ in range(3)]
    for to in addresses:
        queue(server, settings, to)
    outbox.deliver_due(server.engine, settings)
    peers = {sink.to(to)[0].peer for to in addresses}
    assert len(peers) == 1


def test_a_server_that_is_down_loses_nothing(server: Any) -> None:
    sink = SmtpSink()  # not started: connections are refused
    settings = mail_settings(server, sink.port)
    to = f"{unique('down')}@example.test"
    mail_id = queue(server, settings, to, subject="Kept")
    start = utcnow()
    outbox.deliver_due(server.engine, settings, now=start)
    row = row_of(server, mail_id)
    assert row.sent_at is None and row.failed_at is None
    assert row.attempts == 1 and row.last_error
    assert row.next_attempt_at == start + timedelta(minutes=1)

    # Still down a minute later: the next wait doubles.
    outbox.deliver_due(server.engine, settings, now=start + timedelta(minutes=1))
    row = row_of(server, mail_id)
    assert row.attempts == 2 and row.next_attempt_at == start + timedelta(minutes=3)

    sink.start()
    try:
        # Back up, but the message is not due yet: nothing is sent before its time.
        outbox.deliver_due(server.engine, settings, now=start + timedelta(minutes=2))
        assert sink.to(to) == []
        outbox.deliver_due(server.engine, settings, now=start + timedelta(minutes=3))
        assert [r.message["Subject"] for r in sink.to(to)] == ["Kept"]
        row = row_of(server, mail_id)
        assert row.sent_at is not None and row.attempts == 3 and row.last_error == ""
    finally:
        sink.stop()


def test_backoff_doubles_up_to_an_hour() -> None:
    assert [outbox.retry_delay(n) for n in (1, 2, 3, 4, 5, 6, 7, 8, 20)] == [
        timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 32, 60, 60, 60)
    ]


def test_it_gives_up_after_twenty_attempts_and_keeps_the_row(server: Any) -> None:
    settings = mail_settings(server, SmtpSink().port)
    to = f"{unique('giveup')}@example.test"
    mail_id = queue(server, settings, to)
    edit_row(server, mail_id, attempts=19)
    outbox.deliver_due(server.engine, settings)
    row = row_of(server, mail_id)
    assert row.attempts == 20 and row.failed_at is not None and row.sent_at is None and row.last_error
    # Given up: never tried again.
    outbox.deliver_due(server.engine, settings, now=utcnow() + timedelta(days=1))
    assert row_of(server, mail_id).attempts == 20


def test_it_gives_up_after_a_day(server: Any) -> None:
    settings = mail_settings(server, SmtpSink().port)
    mail_id = queue(server, settings, f"{unique('old')}@example.test")
    edit_row(server, mail_id, created_at=utcnow() - timedelta(hours=25))
    outbox.deliver_due(server.engine, settings)
    row = row_of(server, mail_id)
    assert row.attempts == 1 and row.failed_at is not None


def test_a_claimed_message_is_left_to_its_worker(server: Any, sink: SmtpSink) -> None:
    settings = mail_settings(server, sink.port)
    to = f"{unique('claimed')}@example.test"
    mail_id = queue(server, settings, to)
    now = utcnow()
    edit_row(server, mail_id, claimed_until=now + outbox.LEASE)
    outbox.deliver_due(server.engine, settings, now=now)
    assert sink.to(to) == []
    # The worker died: once its lease runs out another one sends the message.
    outbox.deliver_due(server.engine, settings, now=now + outbox.LEASE + timedelta(seconds=1))
    assert len(sink.to(to)) == 1


def test_it_signs_in_when_a_user_is_configured(server: Any) -> None:
    logins: list[tuple[str, str]] = []

    def authenticator(server_: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        login, password = auth_data.login.decode(), auth_data.password.decode()
        logins.append((login, password))
        return AuthResult(success=password == "s3cret", handled=False)

    sink = SmtpSink().start(authenticator=authenticator, auth_require_tls=False,
                           auth_exclude_mechanism=["LOGIN"])
    try:
        wrong = mail_settings(server, sink.port, smtp_user="forge", smtp_password="nope")
        to = f"{unique('auth')}@example.test"
        mail_id = queue(server, wrong, to)
        outbox.deliver_due(server.engine, wrong)
        row = row_of(server, mail_id)
        assert row.sent_at is None and row.attempts == 1 and "535" in row.last_error

        right = mail_settings(server, sink.port, smtp_user="forge", smtp_password="s3cret")
        outbox.deliver_due(server.engine, right, now=utcnow() + timedelta(minutes=2))
        assert len(sink.to(to)) == 1
        assert ("forge", "s3cret") in logins
    finally:
        sink.stop()
