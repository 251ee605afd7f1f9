#!/usr/bin/env bash
# Runs the whole test suite: unit tests and the end-to-end tests, which start real pouchd
# daemons in temporary roots (as root) and drive them with pouch, the docker CLI and raw HTTP.
# Test images are built offline from Debian's busybox-static; nothing is pulled.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
cargo build --workspace --bins
cargo test --workspace --no-fail-fast "$@"
