"""Watching repositories, subscriptions to threads, in-app notifications and their e-mail."""
