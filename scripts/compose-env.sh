#!/usr/bin/env bash
# Prepares docker-compose.yml's environment: writes .env beside it with
# random secrets and passwords (none is published anywhere), and the
# broker's definitions with this deployment's accounts:
#   - `admin`, an administrator, for operators (the management UI on
#     127.0.0.1:15672);
#   - `delivertrack`, the services' account: `monitoring` (it reads queue
#     depths), not an administrator.
# An existing .env is kept (--force writes a new one: every password and the
# signing key change, so existing sessions and broker data no longer match).
# Prints where the first admin's and the operators' passwords are.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
env_file="$root/.env"
definitions="$root/.local/compose/rabbitmq-definitions.json"

if [ -e "$env_file" ] && [ "${1:-}" != "--force" ]; then
  echo "kept $env_file (--force writes a new one)"
else
  random() { head -c 36 /dev/urandom | base64 | tr -d '\n/+='; }
  (umask 077 && cat >"$env_file" <<ENV
# Written by scripts/compose-env.sh; never commit it.
JWT_SECRET=$(random)
MESSAGE_SIGNING_KEY=$(random)
BOOTSTRAP_ADMIN_EMAIL=admin@delivertrack.local
BOOTSTRAP_ADMIN_PASSWORD=$(random)
POSTGRES_PASSWORD=$(random)
RABBITMQ_ADMIN_PASSWORD=$(random)
RABBITMQ_SERVICE_PASSWORD=$(random)
GRAFANA_ADMIN_PASSWORD=$(random)
RABBITMQ_DEFINITIONS=./.local/compose/rabbitmq-definitions.json
# log: mail is written to the mail-workers' log. Set an SMTP server to send it
# (smtps://user:pass@host:465 or smtp://user:pass@host:587?tls=required).
SMTP_URL=log
ENV
  )
  echo "wrote $env_file"
fi

# The definitions follow .env, so they are written every time.
mkdir -p "$(dirname "$definitions")"
python3 - "$env_file" "$root/rabbitmq/definitions.json" "$definitions" <<'PY'
import base64, hashlib, json, os, sys

env = {}
for line in open(sys.argv[1]):
    line = line.strip()
    if line and not line.startswith("#") and "=" in line:
        key, value = line.split("=", 1)
        env[key] = value

def password_hash(password):
    # rabbit_password_hashing_sha256: base64(salt + sha256(salt + password)).
    salt = os.urandom(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()

definitions = json.load(open(sys.argv[2]))
definitions["users"] = [
    {"name": "admin", "password_hash": password_hash(env["RABBITMQ_ADMIN_PASSWORD"]),
     "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ["administrator"]},
    {"name": "delivertrack", "password_hash": password_hash(env["RABBITMQ_SERVICE_PASSWORD"]),
     "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ["monitoring"]},
]
definitions["permissions"] = [
    {"user": user, "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}
    for user in ("admin", "delivertrack")
]
with open(sys.argv[3], "w") as out:
    json.dump(definitions, out, indent=2)
os.chmod(sys.argv[3], 0o644)
PY
echo "wrote $definitions (accounts: admin, delivertrack)"
echo "passwords: $env_file (BOOTSTRAP_ADMIN_PASSWORD for the API, RABBITMQ_ADMIN_PASSWORD and GRAFANA_ADMIN_PASSWORD for operators)"
