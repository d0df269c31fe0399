#!/usr/bin/env bash
# The demo: generate a deterministic synthetic tissue slide (48000×36000, 0.25 µm/px),
# tile it into a .tess cache, generate a QuPath GeoJSON outline for each of its ~1.2
# million nuclei and import them (layer "cells", provenance "model"), then serve it all
# with the viewer and print the URL.
# Data goes to ./demo-data (or $TESSERA_DEMO_DIR); a second run reuses slide and cache.
# Stop the server with Ctrl-C. Set TESSERA_DEMO_ADDR to listen elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --locked -p server
bin=target/release/tessera
dir="${TESSERA_DEMO_DIR:-demo-data}"
mkdir -p "$dir"
slide="$dir/synthetic.svs"
[ -f "$slide" ] || "$bin" synth -o "$slide" --seed 1
[ -f "$dir/synthetic.tess" ] || "$bin" tile "$slide" -o "$dir"
"$bin" info "$dir/synthetic.tess"
cells="$dir/cells.geojson.gz"
[ -f "$cells" ] || "$bin" synth-cells -o "$cells" --seed 1
# Imported once: the marker is written only after the import committed.
if [ ! -f "$dir/.cells-imported" ]; then
  "$bin" import --data "$dir" synthetic "$cells" --layer cells --provenance model
  touch "$dir/.cells-imported"
fi
addr="${TESSERA_DEMO_ADDR:-127.0.0.1:8080}"
echo "open http://$addr/view/synthetic (slide list at http://$addr/)"
exec "$bin" serve --data "$dir" --addr "$addr"
