#!/bin/sh
# Run the git smart HTTP benchmark; installs Debian's nginx and fcgiwrap first when they are missing.
# Usage: bench/run-git-http.sh [--quick] [--reps N] [--no-doc]
set -eu
cd "$(dirname "$0")/.."
if [ ! -x /usr/sbin/nginx ] || [ ! -x /usr/sbin/fcgiwrap ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nginx-light fcgiwrap
fi
exec .venv/bin/python -m bench.git_http "$@"
