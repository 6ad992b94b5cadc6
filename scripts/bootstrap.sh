#!/usr/bin/env bash
# Create .venv with the pinned dependencies and the ragdag package (idempotent).
# torch comes first and pinned: a bare `torch` (asked for by sentence-transformers) pulls a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
# Headless Chromium for the UI test (tests/e2e): Debian's package, which Playwright drives (it never
# downloads a browser of its own here). And redis-server, the Celery broker the CeleryExecutor test
# (tests/e2e/test_celery_executor.py) starts. Installed when missing and we are root (CI is); else the
# tests say what to install.
apt_packages=""
[ -x /usr/bin/chromium ] || apt_packages="chromium"
command -v redis-server >/dev/null || apt_packages="$apt_packages redis-server"
if [ -n "$apt_packages" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt_log="$(mktemp)"
  # shellcheck disable=SC2086  # one word per package
  if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
         DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $apt_packages; } >"$apt_log" 2>&1; then
    echo "warning: apt-get install ${apt_packages# } failed; the UI / Celery tests will fail. Last lines:" >&2
    tail -n 20 "$apt_log" >&2
  fi
  rm -f "$apt_log"
fi
stamp=.venv/.ragdag-installed
want="$(cat requirements.txt requirements-dev.txt requirements-nodeps.txt pyproject.toml | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet torch==2.13.0
.venv/bin/python -m pip install --quiet -r requirements-dev.txt
.venv/bin/python -m pip install --quiet --no-deps -r requirements-nodeps.txt
.venv/bin/python -m pip install --quiet --no-deps -e .
echo "$want" > "$stamp"
echo ".venv ready: $(.venv/bin/python -c 'import airflow, torch; print("airflow", airflow.__version__, "torch", torch.__version__)')"
