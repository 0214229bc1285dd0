"""Queueing mail and delivering the queue over SMTP with retries.

``enqueue`` only writes an ``outgoing_mail`` row, in the caller's transaction: a request (or the notification
fan-out) never talks to the mail server, and the message commits or rolls back with whatever caused it. With no
SMTP host configured nothing is queued at all.

``deliver_due`` runs every few seconds in every worker. It claims due rows with a conditional UPDATE of
``claimed_until`` (a lease, so a worker that dies mid-batch only delays its rows), sends them over one SMTP
connection, and records each outcome. A failure keeps the row and schedules the next attempt with an exponential
back-off (1 min, 2, 4 ... capped at 1 h); after 24 h or 20 attempts the row is marked ``failed_at`` and kept with
its last error for the administrator.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from forge.background import periodic
from forge.db.engine import session_scope
from forge.db.models_base import utcnow
from forge.mail.models import OutgoingMail
from forge.settings import Settings

log = logging.getLogger("forge.mail")

BATCH = 50  # messages per SMTP connection and per run
LEASE = timedelta(minutes=5)  # how long a claimed row stays away from other workers
FIRST_RETRY = timedelta(minutes=1)
MAX_RETRY = timedelta(hours=1)
GIVE_UP_AFTER = timedelta(hours=24)
MAX_ATTEMPTS = 20
SMTP_TIMEOUT = 30.0  # seconds, for connecting and for each SMTP command

# The subject and addresses are stored in bounded columns; longer values are cut rather than refused.
_SUBJECT_MAX = 255
_ADDRESS_MAX = 254


def mail_enabled(settings: Settings) -> bool:
    return bool(settings.smtp_host.strip())


def sender_address(settings: Settings) -> str:
    """The From header: ``mail_from`` or ``Forge <noreply@<public host>>``."""
    if settings.mail_from.strip():
        return settings.mail_from.strip()
    host = urlsplit(settings.public_url()).hostname or "localhost"
    return f"Forge <noreply@{host}>"


def mail_domain(settings: Settings) -> str:
    """The right-hand side of Message-IDs: the forge's public host name."""
    return urlsplit(settings.public_url()).hostname or "localhost"


def enqueue(
    session: Session,
    settings: Settings,
    *,
    to: str,
    subject: str,
    text: str,
    html: str = "",
    message_id: str = "",
    in_reply_to: str = "",
) -> OutgoingMail | None:
    """Store one message for delivery (in the caller's transaction); None when no SMTP host is configured or
    there is no address to send to."""
    if not mail_enabled(settings) or not to.strip():
        return None
    # Header injection: a subject is one line.
    subject = " ".join(subject.split())[:_SUBJECT_MAX]
    row = OutgoingMail(
        to_address=to.strip()[:_ADDRESS_MAX],
        subject=subject,
        body_text=text,
        body_html=html,
        message_id=message_id or make_msgid(domain=mail_domain(settings)),
        in_reply_to=in_reply_to,
    )
    session.add(row)
    session.flush()
    return row


def build_message(settings: Settings, mail: OutgoingMail) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender_address(settings)
    msg["To"] = mail.to_address
    msg["Subject"] = mail.subject
    msg["Date"] = formatdate(mail.created_at.timestamp(), localtime=False, usegmt=True)
    msg["Message-ID"] = mail.message_id
    if mail.in_reply_to:
        msg["In-Reply-To"] = mail.in_reply_to
        msg["References"] = mail.in_reply_to
    # RFC 3834: tell auto-responders (vacation replies) not to answer.
    msg["Auto-Submitted"] = "auto-generated"
    msg["List-Unsubscribe"] = f"<{settings.public_url()}/settings/notifications>"
    msg.set_content(mail.body_text)
    if mail.body_html:
        msg.add_alternative(mail.body_html, subtype="html")
    return msg


def retry_delay(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: 1 min, 2, 4, ... at most 1 h."""
    delay = FIRST_RETRY * (2 ** max(0, min(attempts - 1, 12)))
    return min(delay, MAX_RETRY)


# --- claiming -----------------------------------------------------------------------------------------------


def _due(now: datetime) -> list[ColumnElement[bool]]:
    return [
        col(OutgoingMail.sent_at).is_(None),
        col(OutgoingMail.failed_at).is_(None),
        col(OutgoingMail.next_attempt_at) <= now,
        or_(col(OutgoingMail.claimed_until).is_(None), col(OutgoingMail.claimed_until) < now),
    ]


def _claim(engine: Engine, now: datetime, limit: int) -> list[OutgoingMail]:
    """Claim up to ``limit`` due messages, oldest first. Each claim is a conditional UPDATE, so of two workers
    racing for a row exactly one gets it."""
    with session_scope(engine) as session:
        ids = [i for i in session.exec(
            select(OutgoingMail.id).where(*_due(now)).order_by(col(OutgoingMail.next_attempt_at),
                                                                col(OutgoingMail.id)).limit(limit)
        ) if i is not None]
    claimed: list[OutgoingMail] = []
    for mail_id in ids:
        with session_scope(engine) as session:
            result = session.exec(  # type: ignore[call-overload]
                update(OutgoingMail).where(col(OutgoingMail.id) == mail_id, *_due(now))
                .values(claimed_until=now + LEASE)
            )
            if result.rowcount != 1:
                continue
            mail = session.get(OutgoingMail, mail_id)
            if mail is not None:
                claimed.append(mail)
    return claimed


# --- recording outcomes ---------------------------------------------------------------------------------------


def _record_sent(engine: Engine, mail_id: int, now: datetime) -> None:
    with session_scope(engine) as session:
        mail = session.get(OutgoingMail, mail_id)
        if mail is None:
            return
        mail.attempts += 1
        mail.sent_at = now
        mail.claimed_until = None
        mail.last_error = ""
        session.add(mail)


def _record_failure(engine: Engine, mail_id: int, now: datetime, error: str) -> None:
    with session_scope(engine) as session:
        mail = session.get(OutgoingMail, mail_id)
        if mail is None:
            return
        mail.attempts += 1
        mail.last_error = error[:1024]
        mail.claimed_until = None
        if mail.attempts >= MAX_ATTEMPTS or now - mail.created_at >= GIVE_UP_AFTER:
            mail.failed_at = now
            log.warning("giving up on mail %s to %s after %s attempts: %s", mail.id, mail.to_address,
                        mail.attempts, error)
        else:
            mail.next_attempt_at = now + retry_delay(mail.attempts)
        session.add(mail)


def _release(engine: Engine, mail_ids: list[int]) -> None:
    """Give claimed rows back untouched (delivery stopped before trying them)."""
    if not mail_ids:
        return
    with session_scope(engine) as session:
        session.exec(  # type: ignore[call-overload]
            update(OutgoingMail).where(col(OutgoingMail.id).in_(mail_ids), col(OutgoingMail.sent_at).is_(None))
            .values(claimed_until=None)
        )


# --- SMTP -----------------------------------------------------------------------------------------------------


def connect(settings: Settings) -> smtplib.SMTP:
    """An SMTP connection set up as configured (TLS, STARTTLS or plain; signed in when a user is set)."""
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if settings.smtp_security == "tls":
        smtp = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT, context=context)
    else:
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT)
    try:
        smtp.ehlo()
        if settings.smtp_security == "starttls":
            smtp.starttls(context=context)
            smtp.ehlo()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
    except BaseException:
        _close(smtp)
        raise
    return smtp


def _close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        detail = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        return f"{exc.smtp_code} {detail}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(
            f"{addr}: {code} {msg.decode('utf-8', 'replace') if isinstance(msg, bytes) else msg}"
            for addr, (code, msg) in exc.recipients.items()
        )
    return f"{type(exc).__name__}: {exc}"


@dataclass
class DeliveryResult:
    sent: int = 0
    failed: int = 0


def deliver_batch(engine: Engine, settings: Settings, now: datetime | None = None,
                  limit: int = BATCH, connector: Callable[[Settings], smtplib.SMTP] = connect) -> DeliveryResult:
    """Claim and send one batch over one connection. A connection that cannot be made, or that breaks, counts as
    a failed attempt for every message it would have carried."""
    now = now or utcnow()
    result = DeliveryResult()
    batch = _claim(engine, now, limit)
    if not batch:
        return result
    try:
        smtp = connector(settings)
    except (smtplib.SMTPException, OSError) as exc:
        error = _describe(exc)
        log.warning("cannot reach the SMTP server %s:%s: %s", settings.smtp_host, settings.smtp_port, error)
        for mail in batch:
            assert mail.id is not None
            _record_failure(engine, mail.id, now, error)
        result.failed = len(batch)
        return result
    try:
        for index, mail in enumerate(batch):
            assert mail.id is not None
            try:
                smtp.send_message(build_message(settings, mail))
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                # The connection is gone: this message failed; the rest were not tried and go back to the queue.
                _record_failure(engine, mail.id, now, _describe(exc))
                result.failed += 1
                _release(engine, [m.id for m in batch[index + 1:] if m.id is not None])
                break
            except smtplib.SMTPException as exc:
                _record_failure(engine, mail.id, now, _describe(exc))
                result.failed += 1
                try:
                    smtp.rset()
                except (smtplib.SMTPException, OSError):
                    _release(engine, [m.id for m in batch[index + 1:] if m.id is not None])
                    break
            else:
                _record_sent(engine, mail.id, now)
                result.sent += 1
    finally:
        _close(smtp)
    return result


@periodic(5)
def deliver_due(engine: Engine, settings: Settings, now: datetime | None = None, limit: int = BATCH) -> None:
    """Send the messages whose next attempt is due (nothing when no SMTP host is configured: the rows wait)."""
    if not mail_enabled(settings):
        return
    while True:
        outcome = deliver_batch(engine, settings, now, limit)
        # Another full batch may be waiting; stop at the first batch that was short or hit trouble.
        if outcome.failed or outcome.sent < limit:
            return


def pending_count(session: Session) -> int:
    """Messages neither sent nor given up (for the administrator)."""
    stmt = select(func.count()).select_from(OutgoingMail).where(
        col(OutgoingMail.sent_at).is_(None), col(OutgoingMail.failed_at).is_(None))
    return int(session.exec(stmt).one())
