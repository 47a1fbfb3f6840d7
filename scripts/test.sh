#!/usr/bin/env bash
# Provisions the backing services and runs the whole test suite.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/services.sh"
trap stop_started_services EXIT
ensure_toolchain
ensure_services
cd "$REPO_ROOT"
# The binaries first: some tests run them as an operator would.
cargo build --workspace --locked --bins
cargo test --workspace --locked "$@"
# The suites that need tools from outside cargo, one at a time: schemathesis
# against the OpenAPI document (and, once there, the fault suite, which stops
# and starts the shared services, so nothing else may run beside it).
SCHEMATHESIS="$(ensure_schemathesis)" \
  cargo test -p testkit --test it --locked -- --ignored --test-threads 1
