#!/bin/sh
# Run the CI latency benchmark (job dispatch to a runner's long poll, live log lines to an SSE reader) against a
# fresh `forge serve`; see docs/benchmarks.md.
# Usage: bench/run-ci.sh [--quick] [--jobs N] [--lines N] [--doc | --no-doc]
set -eu
cd "$(dirname "$0")/.."
exec .venv/bin/python -m bench.ci_latency "$@"
