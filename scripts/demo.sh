#!/usr/bin/env bash
# The demo: generate a deterministic synthetic tissue slide (48000×36000, 0.25 µm/px),
# tile it into a .tess cache and describe the result.
# Data goes to ./demo-data (or $TESSERA_DEMO_DIR); a second run reuses the slide.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --locked -p server
bin=target/release/tessera
dir="${TESSERA_DEMO_DIR:-demo-data}"
mkdir -p "$dir"
slide="$dir/synthetic.svs"
[ -f "$slide" ] || "$bin" synth -o "$slide" --seed 1
"$bin" tile "$slide" -o "$dir"
"$bin" verify "$dir/synthetic.tess"
"$bin" info "$dir/synthetic.tess"
