#!/usr/bin/env bash
# The test command (CI runs exactly this, through .ci/run): set up .venv if needed, then the gates
# (ruff lint, ruff format check, secret scan: scripts/gates.sh, fastest first), then the whole test
# suite (unit, DAG, chain, e2e). Arguments go to pytest.
#
#   scripts/test.sh --quick [pytest args]   the edit-test loop: everything but the `slow` and `e2e`
#                                          tiers (no embedding model, no training, no Airflow run);
#                                          see docs/testing.md for what each tier covers.
set -euo pipefail
cd "$(dirname "$0")/.."
selection=()
if [[ "${1:-}" == "--quick" ]]; then
  shift
  selection=(-m "not slow and not e2e")
fi
scripts/bootstrap.sh
scripts/gates.sh
exec .venv/bin/python -m pytest "${selection[@]}" "$@"
