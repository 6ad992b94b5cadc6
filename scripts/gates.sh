#!/usr/bin/env bash
# CI gates, run by scripts/test.sh before the tests, fastest first:
#   1. ruff lint          (rules and line length: [tool.ruff] of pyproject.toml)
#   2. ruff format check  (the same config; `ruff format` fixes it)
#   3. secret scan        (detect-secrets over the git-tracked files against .secrets.baseline:
#                          scripts/secret_scan.py)
# The first that fails stops the run with exit 1 and a line `gate failed: <gate>` naming the
# problem and the fix.
#
#   scripts/gates.sh [REPO_DIR]     (default: this repository; tests/test_ci_gates.py passes a copy)
#
# The tools come from RAGDAG_GATES_VENV (default: the repository's .venv).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "${1:-$(dirname "$0")/..}" && pwd)"
venv="${RAGDAG_GATES_VENV:-$root/.venv}"
cd "$root"

failed() {
  echo "gate failed: $1" >&2
  exit 1
}

for tool in ruff python; do
  [ -x "$venv/bin/$tool" ] || failed "$venv/bin/$tool is missing (scripts/bootstrap.sh installs requirements-dev.txt)"
done

echo "gate: ruff check"
"$venv/bin/ruff" check --no-cache --output-format concise . \
  || failed "ruff lint (see above; '.venv/bin/ruff check --fix .' fixes the safe ones)"

echo "gate: ruff format --check"
"$venv/bin/ruff" format --no-cache --check . \
  || failed "ruff format (the files above; '.venv/bin/ruff format .' rewrites them)"

echo "gate: detect-secrets (tracked files)"
"$venv/bin/python" "$here/secret_scan.py" "$root" \
  || failed "secret scan (above: file, line, type). Remove the secret and rotate it; if it is a false
  positive: '.venv/bin/detect-secrets scan --baseline .secrets.baseline', then
  '.venv/bin/detect-secrets audit .secrets.baseline' to mark it, and commit the baseline"
echo "gates passed"
