#!/usr/bin/env bash
# Install the forge and start it on its embedded defaults: data in ./forge-data, SQLite, http://127.0.0.1:3000,
# together with a local CI runner (Docker when the engine answers, else the shell executor, with a warning), so the
# first push with a .forge-ci.yml runs a pipeline.
#
#   bash scripts/install.sh                         # install (first time) and start
#   FORGE_PORT=8080 bash scripts/install.sh         # settings go in the environment (the runner follows them)
#   bash scripts/install.sh --workers 2             # extra arguments go to `forge serve`
#
# Safe to re-run: system packages and Python packages are installed only when missing or out of date.
# Configuration (FORGE_HOME, FORGE_DATABASE_URL, ...) is described in docs/admin-guide.md.

source "$(dirname "${BASH_SOURCE[0]}")/_lib.sh"

ensure_apt git
ensure_venv
ensure_installed ""

cd "$REPO_ROOT"
RUNNER_CONFIG="$("$VENV/bin/forge" ci local-runner)" || die "could not register the local runner (see above)"
"$VENV/bin/forge-runner" run --config "$RUNNER_CONFIG" &
RUNNER_PID=$!
# The runner lives as long as the forge: stop it (it reports its running jobs) when the forge stops.
trap 'kill -TERM "$RUNNER_PID" 2>/dev/null; wait "$RUNNER_PID" 2>/dev/null' EXIT
say "Starting the forge and its local runner (stop both with Ctrl-C)"
"$VENV/bin/forge" serve "$@"
