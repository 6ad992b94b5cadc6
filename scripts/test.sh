#!/usr/bin/env bash
# The test command: set up .venv if needed, then run the whole test suite (unit, DAG, chain, e2e).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/python -m pytest "$@"
