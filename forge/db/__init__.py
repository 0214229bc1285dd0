"""Database access: engine creation, sessions and migrations."""
