#!/usr/bin/env bash
# Brings the whole system up on this machine: backing services, then ingest,
# workers and broadcaster (release builds). Ctrl-C stops them cleanly.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/services.sh"
ensure_toolchain
ensure_services
ensure_web
cd "$REPO_ROOT"
cargo build --release --locked --bins
export WEB_ROOT="${WEB_ROOT:-$REPO_ROOT/web/dist}"
bin="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release"

# Secrets for local use: a token secret, the broker messages' signing key
# and a first admin, generated once into .local/auth.env (not committed) and
# kept, so tokens and the password survive restarts. Variables already set
# win.
auth_env="$REPO_ROOT/.local/auth.env"
random() { head -c 48 /dev/urandom | base64 | tr -d '\n/+='; }
mkdir -p "$(dirname "$auth_env")"
(
  umask 077
  touch "$auth_env"
  grep -q '^JWT_SECRET=' "$auth_env" || echo "JWT_SECRET=$(random)" >> "$auth_env"
  grep -q '^MESSAGE_SIGNING_KEY=' "$auth_env" || echo "MESSAGE_SIGNING_KEY=$(random)" >> "$auth_env"
  grep -q '^WEBHOOK_SECRET_KEY=' "$auth_env" || echo "WEBHOOK_SECRET_KEY=$(random)" >> "$auth_env"
  grep -q '^BOOTSTRAP_ADMIN_EMAIL=' "$auth_env" || echo "BOOTSTRAP_ADMIN_EMAIL=admin@delivertrack.local" >> "$auth_env"
  grep -q '^BOOTSTRAP_ADMIN_PASSWORD=' "$auth_env" || echo "BOOTSTRAP_ADMIN_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '\n/+=')" >> "$auth_env"
)
while IFS='=' read -r name value; do
  [[ -n "$name" && -z "${!name:-}" ]] && export "$name=$value"
done < "$auth_env"

# Mail (verification and reset links) goes to the workers' log unless an
# SMTP server is named.
export SMTP_URL="${SMTP_URL:-log}"
export PUBLIC_URL="${PUBLIC_URL:-http://${INGEST_LISTEN:-127.0.0.1:8080}}"

SERVICE_PIDS=()
stop_all() {
  trap - INT TERM EXIT
  log "stopping"
  local pid
  for pid in "${SERVICE_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${SERVICE_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  stop_started_services
}
trap stop_all INT TERM EXIT

# Each on its own operations port (METRICS_LISTEN defaults: ingest 9100,
# workers 9101, broadcaster 9102).
env -u METRICS_LISTEN "$bin/workers" & SERVICE_PIDS+=("$!")
env -u METRICS_LISTEN "$bin/ingest" & SERVICE_PIDS+=("$!")
env -u METRICS_LISTEN "$bin/broadcaster" & SERVICE_PIDS+=("$!")
sleep 1
cat <<MSG
DeliverTrack is up:
  ingest       http://${INGEST_LISTEN:-127.0.0.1:8080}/api/v1/health
  broadcaster  ws://${BROADCASTER_LISTEN:-127.0.0.1:8081}/ws
  workers      consuming from ${AMQP_URL:-amqp://127.0.0.1:5672}
  tracking     http://${INGEST_LISTEN:-127.0.0.1:8080}/track/<tracking number>
  metrics      http://127.0.0.1:9100/metrics (ingest), :9101 (workers), :9102 (broadcaster)
  mail         SMTP_URL=${SMTP_URL}$([ "$SMTP_URL" = log ] && echo ": written to the workers' log, not sent")
  first admin  ${BOOTSTRAP_ADMIN_EMAIL} / ${BOOTSTRAP_ADMIN_PASSWORD}  (from $auth_env)
Sign in: curl -s -X POST http://${INGEST_LISTEN:-127.0.0.1:8080}/api/v1/auth/login \\
  -H 'content-type: application/json' \\
  -d '{"email":"${BOOTSTRAP_ADMIN_EMAIL}","password":"${BOOTSTRAP_ADMIN_PASSWORD}"}'
Ctrl-C stops everything.
MSG
# Returns when any service exits (or on Ctrl-C); then stop the rest.
wait -n "${SERVICE_PIDS[@]}" || true
