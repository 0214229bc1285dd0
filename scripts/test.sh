#!/usr/bin/env bash
# Install the test dependencies and run every check CI runs:
#   ruff, mypy, import-linter contracts, migrations vs models (SQLite and PostgreSQL),
#   the whole pytest suite on SQLite, then the whole suite again on a real PostgreSQL server.
#
#   bash scripts/test.sh              # everything
#   bash scripts/test.sh -k signup    # extra arguments go to both pytest runs
#
# PostgreSQL: a throw-away server is started on a free loopback port for this run and removed afterwards. Set
# FORGE_TEST_DATABASE_URL=postgresql://user:pw@host:port/db to use an existing (empty, disposable) database instead.
#
# Every step runs even when an earlier one failed, so one run shows all problems; the exit status is non-zero if
# any step failed. Safe to re-run: installed system and Python packages are reused.

source "$(dirname "${BASH_SOURCE[0]}")/_lib.sh"

CHROMIUM=/usr/bin/chromium

# Settings from the caller's environment must not leak into the tests (they build their own Settings); only the
# test database URL is honoured.
for var in $(compgen -e | grep '^FORGE_' || true); do
    [ "$var" = FORGE_TEST_DATABASE_URL ] || unset "$var"
done

# busybox-static: the CI tests build their job image from it with `docker import` (there is no image registry).
ensure_apt git chromium postgresql busybox-static
ensure_venv
ensure_installed test
cd "$REPO_ROOT"

command -v git >/dev/null 2>&1 || die "git is not installed"
# The browser tests only skip when Chromium is missing; here it must be present so they really run.
[ -x "$CHROMIUM" ] || die "$CHROMIUM is missing (apt-get install chromium)"
# The CI tests run jobs in real containers; like the browser, Docker must be there so they really run.
docker info >/dev/null 2>&1 || die "the Docker Engine does not answer (docker info failed); the CI tests need it"

FAILED=()
RESULTS=()

# step NAME COMMAND...: run one check, time it, and remember whether it passed.
step() {
    local name="$1" start=$SECONDS rc=0
    shift
    say "$name"
    "$@" || rc=$?
    if [ "$rc" -eq 0 ]; then
        RESULTS+=("  ok      $name ($((SECONDS - start))s)")
    else
        # Any non-zero status fails, including pytest's 5 ("no tests were collected").
        [ "$rc" -eq 5 ] && [[ "$name" == pytest* ]] && echo "pytest collected no tests (exit 5)" >&2
        FAILED+=("$name")
        RESULTS+=("  FAILED  $name (exit $rc, $((SECONDS - start))s)")
        printf '\033[1;31m--- FAILED: %s (exit %s)\033[0m\n' "$name" "$rc" >&2
    fi
    return 0
}

# check_migrations [DATABASE_URL]: upgrade a fresh database to head, then `alembic check` that the models match.
check_migrations() {
    local home rc=0
    home="$(mktemp -d)"
    FORGE_HOME="$home" FORGE_DATABASE_URL="${1:-}" "$VENV/bin/forge" migrate || rc=$?
    [ "$rc" -eq 0 ] && { FORGE_HOME="$home" FORGE_DATABASE_URL="${1:-}" "$VENV/bin/forge" migrate --check || rc=$?; }
    rm -rf "$home"
    return "$rc"
}

PG_DIR=""
PG_BIN=""
PG_RUN=()

stop_postgres() {
    [ -n "$PG_DIR" ] || return 0
    if [ -f "$PG_DIR/data/postmaster.pid" ]; then
        (cd "$PG_DIR" && "${PG_RUN[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1) || true
    fi
    rm -rf "$PG_DIR"
    PG_DIR=""
}

# start_postgres: a private PostgreSQL cluster in a temporary directory on a free loopback port (fsync off: the
# data is thrown away), with a database owned by a password-authenticated user. Exports FORGE_TEST_DATABASE_URL.
start_postgres() {
    PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    [ -x "$PG_BIN/initdb" ] || { echo "PostgreSQL server binaries not found under /usr/lib/postgresql" >&2; return 1; }
    PG_DIR="$(mktemp -d /tmp/forge-test-pg.XXXXXX)"
    trap stop_postgres EXIT
    if [ "$(id -u)" -eq 0 ]; then
        # PostgreSQL refuses to run as root.
        chown postgres:postgres "$PG_DIR"
        PG_RUN=(runuser -u postgres --)
    else
        PG_RUN=(env)
    fi
    local port
    port="$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    (
        cd "$PG_DIR"
        "${PG_RUN[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -E UTF8 --locale=C.UTF-8 \
            --auth-local=trust --auth-host=scram-sha-256 >"$PG_DIR/initdb.log" 2>&1 \
            || { cat "$PG_DIR/initdb.log" >&2; exit 1; }
        "${PG_RUN[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
            start >/dev/null || { cat "$PG_DIR/server.log" >&2; exit 1; }
        "${PG_RUN[@]}" "$PG_BIN/psql" -q -h "$PG_DIR" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
            -c "CREATE ROLE forge LOGIN PASSWORD 'forge-test'" \
            -c "CREATE DATABASE forge_test OWNER forge"
    ) || return 1
    export FORGE_TEST_DATABASE_URL="postgresql://forge:forge-test@127.0.0.1:$port/forge_test"
    echo "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') is running on 127.0.0.1:$port ($PG_DIR)"
}

run_pytest() {
    "$VENV/bin/pytest" -q "$@"
}

say "Python $("$VENV/bin/python" --version 2>&1 | cut -d' ' -f2), $(git --version), $("$CHROMIUM" --version 2>/dev/null | head -n 1)"

step "ruff check" "$VENV/bin/ruff" check .
step "mypy" "$VENV/bin/mypy"
step "import-linter contracts" "$VENV/bin/lint-imports"
step "migrations match the models (SQLite)" check_migrations ""
step "pytest on SQLite" env -u FORGE_TEST_DATABASE_URL "$VENV/bin/pytest" -q "$@"

if [ -n "${FORGE_TEST_DATABASE_URL:-}" ]; then
    say "Using the PostgreSQL database from FORGE_TEST_DATABASE_URL"
    pg_ready=1
else
    pg_ready=0
    step "start PostgreSQL" start_postgres
    [ -n "${FORGE_TEST_DATABASE_URL:-}" ] && pg_ready=1
fi
if [ "$pg_ready" -eq 1 ]; then
    step "migrations match the models (PostgreSQL)" check_migrations "$FORGE_TEST_DATABASE_URL"
    step "pytest on PostgreSQL" run_pytest "$@"
else
    FAILED+=("pytest on PostgreSQL")
    RESULTS+=("  FAILED  pytest on PostgreSQL (not run: no database)")
fi
stop_postgres

echo
say "Summary"
printf '%s\n' "${RESULTS[@]}"
if [ "${#FAILED[@]}" -ne 0 ]; then
    say "${#FAILED[@]} step(s) failed: $(IFS=,; echo "${FAILED[*]}" | sed 's/,/, /g')"
    exit 1
fi
say "All checks passed."
