#!/usr/bin/env bash
# Install the forge and start it on its embedded defaults: data in ./forge-data, SQLite, http://127.0.0.1:3000.
#
#   bash scripts/install.sh                 # install (first time) and start
#   bash scripts/install.sh --port 8080     # extra arguments go to `forge serve`
#
# Safe to re-run: system packages and Python packages are installed only when missing or out of date.
# Configuration (FORGE_HOME, FORGE_DATABASE_URL, ...) is described in docs/admin-guide.md.

source "$(dirname "${BASH_SOURCE[0]}")/_lib.sh"

ensure_apt git
ensure_venv
ensure_installed ""

cd "$REPO_ROOT"
say "Starting the forge (stop it with Ctrl-C; start it again with: .venv/bin/forge serve)"
exec "$VENV/bin/forge" serve "$@"
