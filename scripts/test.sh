#!/usr/bin/env bash
# Runs every test: formatting, lints, unit, doc and end-to-end tests (Rust), the IIIF
# validator, and the viewer's browser tests (Chromium driven by playwright-core). The
# PostgreSQL store's tests get a throwaway PostgreSQL (scripts/postgres.sh), and the
# annotation, access and workflow suites run a second time on it.
# Tests read real slides from ../shared/data and fail under CI=true without them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Disk: no incremental caches for a one-shot build, and every test's temporary files
# (the suites' shared worlds live for the whole test binary) under one directory that goes
# at the end. The free space is printed so a CI log shows it when a disk runs short.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
test_tmp=$(mktemp -d /tmp/tessera-test.XXXXXX)
export TMPDIR="$test_tmp"
trap 'rm -rf "$test_tmp"' EXIT
show_disk() { df -h --output=avail,target "$test_tmp" | tail -1 | sed "s/^/free disk ($1): /"; }
show_disk start
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# A throwaway PostgreSQL with PostGIS on loopback for the tests of the PostgreSQL store.
pg_dir=$(mktemp -d /tmp/tessera-pg.XXXXXX)
trap 'scripts/postgres.sh stop "$pg_dir"; rm -rf "$pg_dir" "$test_tmp"' EXIT
TESSERA_TEST_POSTGRES=$(scripts/postgres.sh start "$pg_dir" "${TESSERA_TEST_PG_PORT:-15432}")
export TESSERA_TEST_POSTGRES
cargo test --workspace --locked
show_disk "after cargo test"
# The annotation, access and workflow suites again, with every command and server on
# PostgreSQL (one database per test data directory; tests/src/lib.rs, `store_for`).
TESSERA_TEST_STORE=postgres cargo test --locked -p tessera-e2e \
  --test annotations --test access --test workflow_qc_audit
cargo build --locked -p server
show_disk "after the PostgreSQL pass"
scripts/iiif-validate.sh target/debug/tessera
(cd viewer && TESSERA_BIN=../target/debug/tessera npm test)
