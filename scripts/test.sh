#!/usr/bin/env bash
# The test command (CI runs exactly this, through .ci/run): set up .venv if needed, then the gates
# (ruff lint, ruff format check, secret scan: scripts/gates.sh, fastest first), then the whole test
# suite (unit, DAG, chain, e2e). Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/gates.sh
exec .venv/bin/python -m pytest "$@"
