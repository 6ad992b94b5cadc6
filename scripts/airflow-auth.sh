#!/usr/bin/env bash
# Authentication and secrets of the containerised Airflow (docker-compose.yaml, `astro dev start`).
#
#   airflow-auth.sh check          exit 1, naming the variable, when a secret of .env is missing or
#                                  still a change-me placeholder of .env.example (or the Fernet key
#                                  is not one); the one-shot `env-check` service of docker-compose.yaml
#   airflow-auth.sh run CMD ARG..  write the simple auth manager's passwords file (mode 600): the
#                                  password of AIRFLOW_ADMIN_USERNAME is AIRFLOW_ADMIN_PASSWORD; then
#                                  exec CMD (the compose api-server runs `airflow api-server` through
#                                  it; the auth manager's settings are its environment block's)
#   airflow-auth.sh astro CMD ARG.. the Astro image's entrypoint: under `astro dev start`
#                                  (ASTRONOMER_ENVIRONMENT=local) the same as `run`, plus the JWT
#                                  secret and Fernet key of .env replacing the Astro CLI's fixed ones;
#                                  elsewhere (Astro's own deployments) the image's entrypoint unchanged
#
# The variables are the names .env.example uses. Nothing here prints a secret.
set -euo pipefail

# Secrets that must be set and edited. The service ones exist only where that container reads them.
REQUIRED=(AIRFLOW_ADMIN_PASSWORD AIRFLOW_JWT_SECRET AIRFLOW_FERNET_KEY)
SERVICE_SECRETS=(
  POSTGRES_PASSWORD AIRFLOW_API_SECRET_KEY REDIS_PASSWORD MARQUEZ_DB_PASSWORD
  MONGO_INITDB_ROOT_PASSWORD QDRANT__SERVICE__API_KEY MINIO_ROOT_PASSWORD
)
PLACEHOLDER=change-me
MIN_LENGTH=12

fail() {
  echo "airflow-auth: $*" >&2
  exit 1
}

check_value() {  # name, required (1) or checked only when set (0)
  local name=$1 required=$2
  if [ -z "${!name+x}" ]; then
    [ "$required" = 1 ] && fail "$name is not set: set it in .env (docs/deployment.md, 'Set-up')"
    return 0
  fi
  local value=${!name}
  [ -n "$value" ] || fail "$name is empty: set it in .env (docs/deployment.md, 'Set-up')"
  case "$value" in
    "$PLACEHOLDER"*) fail "$name still has the placeholder value of .env.example: replace it (scripts/new-env.py writes a .env with generated values)" ;;
  esac
  [ "${#value}" -ge "$MIN_LENGTH" ] || fail "$name is shorter than $MIN_LENGTH characters"
}

check() {
  local name
  for name in "${REQUIRED[@]}"; do check_value "$name" 1; done
  for name in "${SERVICE_SECRETS[@]}"; do check_value "$name" 0; done
  # A Fernet key is 32 url-safe base64-encoded bytes (what Fernet.generate_key() returns).
  python3 - <<'EOF' || fail "AIRFLOW_FERNET_KEY is not a Fernet key (32 url-safe base64 bytes)"
import base64, binascii, os, sys
try:
    sys.exit(0 if len(base64.urlsafe_b64decode(os.environ["AIRFLOW_FERNET_KEY"].encode())) == 32 else 1)
except (binascii.Error, ValueError):
    sys.exit(1)
EOF
}

write_passwords_file() {
  local passwords_file=${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:-${AIRFLOW_HOME:-$HOME}/simple_auth_manager_passwords.json}
  mkdir -p "$(dirname "$passwords_file")"
  # The auth manager generates (and logs) a password for any user missing from this file: write ours.
  (umask 077 && python3 -c '
import json, os, sys
user = os.environ.get("AIRFLOW_ADMIN_USERNAME") or "admin"
with open(sys.argv[1], "w") as out:
    json.dump({user: os.environ["AIRFLOW_ADMIN_PASSWORD"]}, out)
' "$passwords_file")
}

configure_astro_local() {
  # What docker-compose.yaml sets in its environment block; the Astro CLI's project sets the opposite.
  export AIRFLOW__CORE__AUTH_MANAGER=airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager
  export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS=False
  export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="${AIRFLOW_ADMIN_USERNAME:-admin}:admin"
  export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=${AIRFLOW_HOME:-/usr/local/airflow}/simple_auth_manager_passwords.json
  # Fixed for every local project by the Astro CLI; .env's replace them.
  export AIRFLOW__API_AUTH__JWT_SECRET=$AIRFLOW_JWT_SECRET
  export AIRFLOW__CORE__FERNET_KEY=$AIRFLOW_FERNET_KEY
}

command=${1:-}
[ $# -gt 0 ] && shift
case "$command" in
  check)
    check
    echo "airflow-auth: secrets of .env set and not placeholders"
    ;;
  run)
    [ $# -gt 0 ] || fail "usage: airflow-auth.sh run CMD [ARG...]"
    # The other secrets are the env-check service's to check: this container only has this one.
    check_value AIRFLOW_ADMIN_PASSWORD 1
    write_passwords_file
    exec "$@"
    ;;
  astro)
    if [ "${ASTRONOMER_ENVIRONMENT:-}" = local ]; then
      check
      configure_astro_local
      write_passwords_file
    fi
    if [ -x /entrypoint ]; then exec /entrypoint "$@"; fi
    exec "$@"
    ;;
  *)
    fail "usage: airflow-auth.sh check | run CMD [ARG...] | astro CMD [ARG...]"
    ;;
esac
