"""The mail outbox: every message is stored before any attempt to send it, so a mail server that is down loses
nothing; the sender retries with growing delays and gives up (keeping the row and its last error) after a day."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from forge.db.models_base import utcnow


class OutgoingMail(SQLModel, table=True):
    __tablename__ = "outgoing_mail"

    id: int | None = Field(default=None, primary_key=True)
    to_address: str = Field(max_length=254)
    subject: str = Field(max_length=255)
    body_text: str = Field(sa_column=Column(Text, nullable=False))
    body_html: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # Threading headers (Message-ID / In-Reply-To / References) so a mail client groups an issue's messages.
    message_id: str = Field(default="", max_length=255)
    in_reply_to: str = Field(default="", max_length=255)
    created_at: datetime = Field(default_factory=utcnow)
    next_attempt_at: datetime = Field(default_factory=utcnow, index=True)
    attempts: int = 0
    sent_at: datetime | None = Field(default=None, index=True)
    failed_at: datetime | None = None  # gave up
    last_error: str = Field(default="", max_length=1024)
    claimed_until: datetime | None = None  # a worker sending it; others skip it until then
