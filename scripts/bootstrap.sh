#!/usr/bin/env bash
# Create .venv with the pinned dependencies and the ragdag package (idempotent).
# torch comes first and pinned: a bare `torch` (asked for by sentence-transformers) pulls a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
# Headless Chromium for the UI test (tests/e2e): Debian's package, which Playwright drives (it never
# downloads a browser of its own here). Installed when missing and we are root (CI is); else the UI
# test says what to install.
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt_log="$(mktemp)"
  if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
         DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >"$apt_log" 2>&1; then
    echo "warning: apt-get install chromium failed; the UI test will fail. Last lines:" >&2
    tail -n 20 "$apt_log" >&2
  fi
  rm -f "$apt_log"
fi
stamp=.venv/.ragdag-installed
want="$(cat requirements.txt requirements-dev.txt pyproject.toml | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet torch==2.13.0
.venv/bin/python -m pip install --quiet -r requirements-dev.txt
.venv/bin/python -m pip install --quiet --no-deps -e .
echo "$want" > "$stamp"
echo ".venv ready: $(.venv/bin/python -c 'import airflow, torch; print("airflow", airflow.__version__, "torch", torch.__version__)')"
