#!/usr/bin/env bash
# Writes deploy/k8s/secrets/delivertrack.env and keda.env, from which
# `kubectl apply -k deploy/k8s` generates the two Secrets (never committed;
# .gitignore keeps them out). DeliverTrack's own secrets are random; the
# service URLs, which carry your databases' and broker's credentials, come
# from this script's environment:
#   DATABASE_URL AMQP_URL RABBITMQ_MANAGEMENT_URL SMTP_URL BOOTSTRAP_ADMIN_EMAIL
# One not given stays a REPLACE-ME placeholder, which the services refuse at
# start, naming the variable. An existing file is kept (pass --force to
# replace it: the signing key and admin password would change).
set -euo pipefail
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/deploy/k8s/secrets"
force=0
[ "${1:-}" = "--force" ] && force=1

random() { head -c 48 /dev/urandom | base64 | tr -d '\n/+='; }

write() { # file, content
  if [ -e "$1" ] && [ "$force" = 0 ]; then
    echo "kept $1 (--force replaces it)"
    return
  fi
  (umask 077 && printf '%s\n' "$2" >"$1")
  echo "wrote $1"
}

management="${RABBITMQ_MANAGEMENT_URL:-http://delivertrack:REPLACE-ME@rabbitmq:15672}"
write "$dir/delivertrack.env" "JWT_SECRET=$(random)
MESSAGE_SIGNING_KEY=$(random)
BOOTSTRAP_ADMIN_EMAIL=${BOOTSTRAP_ADMIN_EMAIL:-REPLACE-ME@example.com}
BOOTSTRAP_ADMIN_PASSWORD=$(random)
DATABASE_URL=${DATABASE_URL:-postgres://delivertrack:REPLACE-ME@postgres:5432/delivertrack}
AMQP_URL=${AMQP_URL:-amqp://delivertrack:REPLACE-ME@rabbitmq:5672/%2f}
RABBITMQ_MANAGEMENT_URL=$management
SMTP_URL=${SMTP_URL:-smtp://REPLACE-ME:REPLACE-ME@smtp.example.com:587?tls=required}"
write "$dir/keda.env" "rabbitmq-host=${management%/}/%2F"
echo "the first admin's password is in $dir/delivertrack.env (BOOTSTRAP_ADMIN_PASSWORD)"
