# Shared helpers for scripts/install.sh and scripts/test.sh. Sourced, not run.
#
# Everything here is idempotent: system packages are installed only when missing, the virtualenv is created once
# and `pip install` runs again only when pyproject.toml (or the checkout's location) changed since the last run.

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO_ROOT/.venv"

# No prompts anywhere: CI runs without a terminal or stdin.
export DEBIAN_FRONTEND=noninteractive
export PIP_NO_INPUT=1
export PIP_DISABLE_PIP_VERSION_CHECK=1
export PIP_ROOT_USER_ACTION=ignore

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Run a command as root: directly when we are root, else through sudo (which may ask for a password).
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "'$*' needs root and sudo is not installed; run this script as root or install: ${APT_WANTED:-}"
    fi
}

_apt_updated=0

# ensure_apt PACKAGE...: install the Debian packages that are not installed yet (no apt-get at all otherwise).
ensure_apt() {
    local missing=() pkg
    if ! command -v dpkg-query >/dev/null 2>&1; then
        # Not Debian: the caller checks for the commands it needs and says what is missing.
        return 0
    fi
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$pkg")
        fi
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 || die "missing system packages (${missing[*]}) and no apt-get to install them"
    APT_WANTED="${missing[*]}"
    say "Installing system packages: ${missing[*]}"
    # Another apt run (unattended-upgrades, a parallel job) may hold the lock: wait for it instead of failing.
    if [ "$_apt_updated" -eq 0 ]; then
        as_root apt-get -o DPkg::Lock::Timeout=600 update -qq
        _apt_updated=1
    fi
    as_root apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
}

_python_ok() {
    "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1
}

# find_python: print the first python3 >= 3.11 on PATH (or $PYTHON), installing Debian's python3 if there is none.
find_python() {
    local cand path
    for cand in "${PYTHON:-}" python3 python3.13 python3.12 python3.11; do
        [ -n "$cand" ] || continue
        path="$(command -v "$cand" 2>/dev/null)" || continue
        if _python_ok "$path"; then
            echo "$path"
            return 0
        fi
    done
    ensure_apt python3 python3-venv
    _python_ok /usr/bin/python3 || die "no Python 3.11 or newer found (Debian's python3 is too old)"
    echo /usr/bin/python3
}

_venv_ok() {
    [ -x "$VENV/bin/python" ] && _python_ok "$VENV/bin/python"
}

# ensure_venv: create .venv with a suitable Python unless a working one is already there.
ensure_venv() {
    if _venv_ok; then
        return 0
    fi
    local py
    py="$(find_python)"
    if ! "$py" -c 'import venv, ensurepip' >/dev/null 2>&1; then
        # Debian splits venv/ensurepip into python3-venv.
        ensure_apt python3-venv
    fi
    if [ -e "$VENV" ]; then
        say "The virtualenv at $VENV does not work (its Python moved?); recreating it"
        rm -rf "$VENV"
    fi
    say "Creating the virtualenv $VENV with $py ($("$py" --version 2>&1))"
    "$py" -m venv "$VENV"
}

_install_hash() {
    # What the installed packages depend on: the project metadata and where the checkout lives (editable install).
    { cat "$REPO_ROOT/pyproject.toml"; echo "$REPO_ROOT"; "$VENV/bin/python" --version; } | sha256sum | cut -d' ' -f1
}

# ensure_installed EXTRA: `pip install -e .[EXTRA]` (EXTRA may be empty) unless already done for this pyproject.
ensure_installed() {
    local extra="$1" spec="." stamp hash
    [ -n "$extra" ] && spec=".[$extra]"
    stamp="$VENV/.forge-installed-${extra:-base}"
    hash="$(_install_hash)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ] \
        && "$VENV/bin/python" -c 'import forge, web' >/dev/null 2>&1 && [ -x "$VENV/bin/forge" ]; then
        return 0
    fi
    say "Installing the forge and its Python dependencies ($spec) into $VENV"
    # Editable installs of a pyproject-only project need pip >= 21.3; older ones (very old distributions) are
    # upgraded, newer ones are left alone.
    if ! "$VENV/bin/python" -c 'import sys, pip; sys.exit(tuple(map(int, pip.__version__.split(".")[:2])) < (21, 3))' \
        >/dev/null 2>&1; then
        "$VENV/bin/python" -m pip install --quiet --upgrade pip
    fi
    (cd "$REPO_ROOT" && "$VENV/bin/python" -m pip install --quiet -e "$spec")
    echo "$hash" >"$stamp"
    # The test extra includes everything the base install has.
    [ "$extra" = "test" ] && echo "$hash" >"$VENV/.forge-installed-base"
    return 0
}
