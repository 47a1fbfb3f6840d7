#!/usr/bin/env bash
# Checks the deployment files without a cluster or a container engine:
#   1. scripts/validate_deploy.py: deploy/k8s (Kubernetes schemas in strict mode,
#      KEDA structure, cross-checks), the Grafana dashboard and provisioning,
#      prometheus.yml and alerts.yml; then it breaks copies of deploy/ and
#      checks that each is rejected.
#   2. promtool check (only when promtool is installed; Debian: `prometheus`).
#   3. `docker-compose config -q`, without a profile, with the monitoring
#      profile and with the cluster profile.
# Installs what it needs: a venv in .local/deploy-venv with pinned packages,
# and Debian's docker-compose when the command is missing.
set -euo pipefail
# shellcheck source=scripts/services.sh
source "$(dirname "${BASH_SOURCE[0]}")/services.sh" # REPO_ROOT, log, apt_install
cd "$REPO_ROOT"

# Exact versions, checked to install here; kubernetes-validate ships the
# Kubernetes JSON schemas (1.25 .. 1.37) that validate_deploy.py uses.
KUBERNETES_VALIDATE_VERSION=1.37.0
PYYAML_VERSION=6.0.3
venv="$REPO_ROOT/.local/deploy-venv"

venv_ready() {
  [[ -x "$venv/bin/python" ]] && "$venv/bin/python" - "$KUBERNETES_VALIDATE_VERSION" "$PYYAML_VERSION" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(0 if (version("kubernetes-validate"), version("PyYAML")) == tuple(sys.argv[1:3]) else 1)
PY
}

if ! venv_ready; then
  log "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION and PyYAML $PYYAML_VERSION into $venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "pyyaml==$PYYAML_VERSION" >&2
fi

echo "== deploy/ (k8s, grafana, prometheus)"
"$venv/bin/python" scripts/validate_deploy.py

if command -v promtool >/dev/null; then
  echo "== promtool"
  # prometheus.yml names the rules by their path in the container; check the
  # config against the file in this tree instead.
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  sed "s#/etc/prometheus/alerts.yml#$REPO_ROOT/deploy/prometheus/alerts.yml#" \
    deploy/prometheus/prometheus.yml >"$tmp/prometheus.yml"
  promtool check config --syntax-only "$tmp/prometheus.yml" >/dev/null
  promtool check rules deploy/prometheus/alerts.yml >/dev/null
  echo "promtool: prometheus.yml and alerts.yml pass"
fi

echo "== docker-compose config"
command -v docker-compose >/dev/null || apt_install docker-compose
# Dummy values for the variables the file requires (${VAR:?...}); they win
# over a .env file, so a developer's real secrets are never read here. (That
# the file has no default for any of them is validate_deploy.py's check.)
compose() {
  JWT_SECRET=validate-deploy-dummy-secret-of-32-bytes \
    MESSAGE_SIGNING_KEY=validate-deploy-dummy-key-of-32-bytes \
    WEBHOOK_SECRET_KEY=validate-deploy-dummy-webhook-key-32 \
    BOOTSTRAP_ADMIN_EMAIL=admin@example.com \
    BOOTSTRAP_ADMIN_PASSWORD=validate-deploy-dummy \
    POSTGRES_PASSWORD=dummy RABBITMQ_SERVICE_PASSWORD=dummy GRAFANA_ADMIN_PASSWORD=dummy \
    RABBITMQ_ERLANG_COOKIE=dummy POSTGRES_REPLICATION_PASSWORD=dummy \
    RABBITMQ_DEFINITIONS=./rabbitmq/definitions.json SMTP_URL=log \
    docker-compose "$@"
}
# Without .env, compose refuses to start (every credential is required).
if env -u JWT_SECRET -u POSTGRES_PASSWORD docker-compose --env-file /dev/null config -q 2>/dev/null; then
  echo "docker-compose: the file starts without its secrets" >&2
  exit 1
fi
compose config -q
compose --profile monitoring config -q
compose --profile cluster config -q
echo "docker-compose: config passes ($(compose --profile monitoring --profile cluster config --services | tr '\n' ' '))"
echo "validate_deploy: all passed"
