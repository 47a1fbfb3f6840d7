#!/usr/bin/env bash
# Writes deploy/k8s/secrets/delivertrack.env, keda.env and
# rabbitmq-definitions.json, from which `kubectl apply -k deploy/k8s`
# generates the Secrets (never committed; .gitignore keeps them out).
# DeliverTrack's own secrets and the in-cluster broker's two passwords
# (admin; delivertrack, the services') are random; the broker gets their
# hashes only (rabbitmq-definitions.json), the services the URLs to the
# three broker pods. Database and mail URLs, which carry your credentials,
# come from this script's environment:
#   DATABASE_URL DATABASE_READ_URL SMTP_URL BOOTSTRAP_ADMIN_EMAIL
# One not given stays a REPLACE-ME placeholder, which the services refuse at
# start, naming the variable (DATABASE_READ_URL stays empty: no replica). An
# existing file is kept (pass --force to replace them all: the signing key
# and passwords would change). A deployment written before the broker
# cluster keeps delivertrack.env: add AMQP_URLS to it by hand, or --force.
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

# Each file is decided on its own, so a deployment made before the broker
# cluster keeps its keys and URLs and only gains the files it lacks.
root="$(cd "$dir/../../.." && pwd)"
definitions="$dir/rabbitmq-definitions.json"
if [ -e "$definitions" ] && [ "$force" = 0 ] && [ -e "$dir/delivertrack.env" ]; then
  echo "kept $definitions (--force replaces it)"
else
  export RABBITMQ_ADMIN_PASSWORD RABBITMQ_SERVICE_PASSWORD
  RABBITMQ_ADMIN_PASSWORD=$(random)
  RABBITMQ_SERVICE_PASSWORD=$(random)
  python3 "$root/scripts/rabbitmq-definitions.py" "$root/rabbitmq/definitions.json" \
    "$definitions" RABBITMQ_ADMIN_PASSWORD RABBITMQ_SERVICE_PASSWORD
  chmod 600 "$definitions"
  echo "wrote $definitions"
  # Operators' broker password: never printed, kept beside the others.
  write "$dir/rabbitmq-admin.env" "RABBITMQ_ADMIN_PASSWORD=$RABBITMQ_ADMIN_PASSWORD"
  service="delivertrack:$RABBITMQ_SERVICE_PASSWORD"
fi
service="${service:-delivertrack:REPLACE-ME}"
node() { echo "amqp://$service@rabbitmq-server-$1.rabbitmq-nodes:5672/%2f"; }
management="http://$service@rabbitmq:15672"
write "$dir/delivertrack.env" "JWT_SECRET=$(random)
MESSAGE_SIGNING_KEY=$(random)
WEBHOOK_SECRET_KEY=$(random)
BOOTSTRAP_ADMIN_EMAIL=${BOOTSTRAP_ADMIN_EMAIL:-REPLACE-ME@example.com}
BOOTSTRAP_ADMIN_PASSWORD=$(random)
DATABASE_URL=${DATABASE_URL:-postgres://delivertrack:REPLACE-ME@postgres:5432/delivertrack}
DATABASE_READ_URL=${DATABASE_READ_URL:-}
AMQP_URLS=$(node 0),$(node 1),$(node 2)
RABBITMQ_MANAGEMENT_URL=$management
SMTP_URL=${SMTP_URL:-smtp://REPLACE-ME:REPLACE-ME@smtp.example.com:587?tls=required}"
write "$dir/keda.env" "rabbitmq-host=$management/%2F"
echo "the first admin's password is in $dir/delivertrack.env (BOOTSTRAP_ADMIN_PASSWORD)"
echo "the broker's admin password (user admin) is in $dir/rabbitmq-admin.env"
