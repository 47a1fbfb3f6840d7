#!/usr/bin/env bash
# Provisions the backing services and runs the whole test suite.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/services.sh"
trap stop_started_services EXIT
ensure_toolchain
ensure_services
cd "$REPO_ROOT"
cargo test --workspace --locked "$@"
