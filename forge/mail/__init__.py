"""Outgoing mail: a durable outbox and an SMTP sender that retries with back-off."""
