#!/usr/bin/env bash
# Runs every test: formatting, lints, unit, doc and end-to-end tests (Rust), the IIIF
# validator, and the viewer's browser tests (Chromium driven by playwright-core).
# Tests read real slides from ../shared/data and fail under CI=true without them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
cargo build --locked -p server
scripts/iiif-validate.sh target/debug/tessera
(cd viewer && TESSERA_BIN=../target/debug/tessera npm test)
