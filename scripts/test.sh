#!/usr/bin/env bash
# Provisions the backing services and runs the whole test suite.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/services.sh"
trap stop_started_services EXIT
ensure_toolchain
ensure_services
# The cluster tests' RabbitMQ cluster, Redis Cluster and PostgreSQL replica.
ensure_clusters
ensure_smtp
export MAIL_SINK_SMTP="smtp://127.0.0.1:$MAIL_SINK_PORT" MAIL_SINK_DIR
ensure_web
ensure_chromium
cd "$REPO_ROOT"
# The deployment files (Kubernetes, KEDA, Grafana, Prometheus, compose), offline.
bash scripts/validate_deploy.sh
# The code's shape: no module cycles, no overlong function or file beyond the
# known exceptions (docs/ARCHITECTURE.md).
python3 scripts/check-shape.py
# The binaries first: some tests run them as an operator would.
cargo build --workspace --locked --bins
cargo test --workspace --locked "$@"
# Then, one at a time, the suites that must run alone: schemathesis against
# the OpenAPI document, and the fault suite, which stops and starts the
# shared services (each is restored before the next; their reports print).
SCHEMATHESIS="$(ensure_schemathesis)" \
  cargo test -p testkit --test it --locked -- --ignored --test-threads 1 --nocapture
