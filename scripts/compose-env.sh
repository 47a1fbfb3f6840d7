#!/usr/bin/env bash
# Prepares docker-compose.yml's environment: writes .env beside it with
# random secrets and passwords (none is published anywhere), and the
# broker's definitions with this deployment's accounts:
#   - `admin`, an administrator, for operators (the management UI on
#     127.0.0.1:15672);
#   - `delivertrack`, the services' account: `monitoring` (it reads queue
#     depths), not an administrator.
# An existing .env is kept (--force writes a new one: every password and the
# signing key change, so existing sessions and broker data no longer match);
# keys it lacks are added.
# --cluster also selects the compose `cluster` profile (three RabbitMQ
# nodes, a Redis Cluster, a PostgreSQL replica) and points the services at
# it (AMQP_URLS, REDIS_CLUSTER_URLS, DATABASE_READ_URL).
# Prints where the first admin's and the operators' passwords are.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
env_file="$root/.env"
definitions="$root/.local/compose/rabbitmq-definitions.json"
force=0 cluster=0
for argument in "$@"; do
  case "$argument" in
    --force) force=1 ;;
    --cluster) cluster=1 ;;
    *) echo "usage: $0 [--force] [--cluster]" >&2; exit 2 ;;
  esac
done
random() { head -c 36 /dev/urandom | base64 | tr -d '\n/+='; }
value() { sed -n "s/^$1=//p" "$env_file" | tail -n 1; }
add() { # key value: appended unless .env has the key
  grep -q "^$1=" "$env_file" || { echo "$1=$2" >>"$env_file"; echo "added $1 to $env_file"; }
}

if [ -e "$env_file" ] && [ "$force" = 0 ]; then
  echo "kept $env_file (--force writes a new one)"
  # Keys added since it was written.
  add WEBHOOK_SECRET_KEY "$(random)"
else
  (umask 077 && cat >"$env_file" <<ENV
# Written by scripts/compose-env.sh; never commit it.
JWT_SECRET=$(random)
MESSAGE_SIGNING_KEY=$(random)
WEBHOOK_SECRET_KEY=$(random)
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
# Keys added after a .env may have been written.
add RABBITMQ_ERLANG_COOKIE "$(random)"
add POSTGRES_REPLICATION_PASSWORD "$(random)"
if [ "$cluster" = 1 ]; then
  service="delivertrack:$(value RABBITMQ_SERVICE_PASSWORD)"
  add COMPOSE_PROFILES cluster
  add AMQP_URLS "amqp://$service@rabbitmq:5672/%2f,amqp://$service@rabbitmq-2:5672/%2f,amqp://$service@rabbitmq-3:5672/%2f"
  add REDIS_CLUSTER_URLS "redis://redis-node-1:6379,redis://redis-node-2:6379,redis://redis-node-3:6379"
  add DATABASE_READ_URL "postgres://postgres:$(value POSTGRES_PASSWORD)@postgres-replica:5432/delivertrack"
fi

# The definitions follow .env, so they are written every time.
mkdir -p "$(dirname "$definitions")"
RABBITMQ_ADMIN_PASSWORD="$(value RABBITMQ_ADMIN_PASSWORD)" \
  RABBITMQ_SERVICE_PASSWORD="$(value RABBITMQ_SERVICE_PASSWORD)" \
  python3 "$root/scripts/rabbitmq-definitions.py" "$root/rabbitmq/definitions.json" "$definitions" \
  RABBITMQ_ADMIN_PASSWORD RABBITMQ_SERVICE_PASSWORD
echo "wrote $definitions (accounts: admin, delivertrack)"
echo "passwords: $env_file (BOOTSTRAP_ADMIN_PASSWORD for the API, RABBITMQ_ADMIN_PASSWORD and GRAFANA_ADMIN_PASSWORD for operators)"
