"""Webhooks: per-repository and per-organisation HTTP callbacks with a durable, retried delivery queue."""
