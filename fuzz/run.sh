#!/usr/bin/env bash
# Runs one fuzz target for SECONDS (default 600) with one job, the committed seeds read-only
# and new inputs kept in fuzz/corpus-run/TARGET (not committed). Usage: fuzz/run.sh TARGET [SECONDS]
set -euo pipefail
cd "$(dirname "$0")"
target=$1
seconds=${2:-600}
mkdir -p "corpus-run/$target" "artifacts/$target"
# Real files from ../shared/data join the seeds here, never the repository.
shared=../../shared/data
case $target in
tiff_source) cp -f "$shared/slides/boxes.tiff" "$shared/slides/small.svs" "corpus-run/$target/" ;;
geojson_import)
    head -c 60000 "$shared"/annotations/*.geojson >"corpus-run/$target/puma-head.geojson"
    gzip -c "corpus-run/$target/puma-head.geojson" >"corpus-run/$target/puma-head.geojson.gz"
    ;;
esac
exec cargo +nightly fuzz run --sanitizer none "$target" "corpus-run/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -jobs=1 -workers=1 -print_final_stats=1 -artifact_prefix="artifacts/$target/"
