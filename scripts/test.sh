#!/usr/bin/env bash
# Runs every test: formatting, lints, unit, doc and end-to-end tests.
# End-to-end tests read real slides from ../shared/data and fail under CI=true without them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
