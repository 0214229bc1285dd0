#!/bin/sh
# Run the code-browsing benchmark (home, a 25,000-file directory, file history, blame, compare on a generated
# repository of 20,000+ commits) against the equivalent git commands; see docs/benchmarks.md.
# Usage: bench/run-code-browsing.sh [--quick] [--reps N] [--ref-reps N] [--doc | --no-doc]
set -eu
cd "$(dirname "$0")/.."
exec .venv/bin/python -m bench.code_browsing "$@"
