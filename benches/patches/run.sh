#!/usr/bin/env bash
# Training-patch benchmark: the same 10,000 patches of 256x256 at level 0 of the 0.32 Gpix
# bench slide (benches/tiling/run.sh builds it; so does this script), cut
#   - by OpenSlide's read_region on the source slide (Debian's python3-openslide,
#     2 processes, each patch into an RGB numpy array),
#   - by `tessera patches` from the cache: images (the masks come out empty: a class no
#     annotation has), then images with both masks of ~300k synthetic cells,
#   - by a data loader over HTTP (4 connections, GET /api/slides/{id}/patch with both masks
#     as NumPy).
# Prints patches/s and the ratios against OpenSlide; reports, never fails. On a shared
# machine wall-clock rates move with the other load, so each line also gives the CPU time
# (user + system, all processes: OpenSlide's workers; the server and the client for HTTP)
# per patch, and the ratios are given on CPU time too.
# Usage (from the repo root): bash benches/patches/run.sh
# Env: TESSERA_BENCH_DIR (work dir, default /tmp/tessera-bench).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD
HERE=$ROOT/benches/patches
WORK=${TESSERA_BENCH_DIR:-/tmp/tessera-bench}
SRC=$ROOT/../shared/data/slides/CMU-1-Small-Region.svs
SLIDE=$WORK/bench.svs
PY=/usr/bin/python3
TESSERA=$ROOT/target/release/tessera
DATA=$WORK/patches-data
mkdir -p "$WORK"

need=()
command -v vips >/dev/null || need+=(libvips-tools)
command -v tiffset >/dev/null || need+=(libtiff-tools)
{ [ -x $PY ] && $PY -c 'import openslide, PIL, numpy' 2>/dev/null; } || need+=(python3-openslide python3-numpy)
if ((${#need[@]})); then
  echo "installing: ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
cargo build --release --locked --workspace --bin tessera >/dev/null

# The bench slide, as benches/tiling/run.sh builds it.
if [ ! -f "$SLIDE" ]; then
  [ -f "$SRC" ] || { echo "error: source slide missing: $SRC" >&2; exit 1; }
  echo "building $SLIDE ..."
  vips extract_band "$SRC[level=0]" "$WORK/rgb.v" 0 --n 3
  vips replicate "$WORK/rgb.v" "$WORK/tmp.tif[tile,tile-width=240,tile-height=240,pyramid,compression=jpeg,Q=70,bigtiff]" 8 6
  rm -f "$WORK/rgb.v"
  tiffset -s 270 'Aperio Image Library v12.0.15 17760x17802 (240x240) JPEG/RGB Q=70|AppMag = 20|MPP = 0.4990' \
    "$WORK/tmp.tif"
  mv "$WORK/tmp.tif" "$SLIDE"
fi
if [ ! -f "$DATA/bench.tess" ] || [ ! -f "$DATA/annotations.db" ]; then
  rm -rf "$DATA"; mkdir -p "$DATA"
  echo "tiling and making cells ..."
  "$TESSERA" tile "$SLIDE" -o "$DATA" --id bench >/dev/null
  "$TESSERA" synth-cells -o "$WORK/bench-cells.geojson" --width 17760 --height 17802 --nucleus-spacing 32 >/dev/null
  "$TESSERA" import --data "$DATA" bench "$WORK/bench-cells.geojson" >/dev/null
fi
# 100 x 100 patches, 176 px apart: 10,000 level-0 corners, row by row.
LIST=$WORK/patches.txt
$PY -c 'print("\n".join(f"{x} {y}" for y in range(0, 17504, 176) for x in range(0, 17504, 176)))' >"$LIST"
n=$(wc -l <"$LIST")
echo "patches: $n of 256x256 at level 0 ($(nproc) cores)"
source "$ROOT/benches/quiet.sh"

declare -A RATE CPU
rate() { awk -v n="$1" -v s="$2" 'BEGIN{printf "%.0f", n / s}'; }
TIMES=$WORK/patches-times
# timed CMD...: runs CMD under /usr/bin/time; cpu_ms N: its CPU ms per patch for N patches.
timed() { /usr/bin/time -f '%U %S' -o "$TIMES" "$@"; }
cpu_ms() { awk -v n="$1" '{printf "%.3f", 1000 * ($1 + $2) / n}' "$TIMES"; }
# ticks PID: CPU time a process has used so far, in clock ticks.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

wait_quiet
timed $PY "$HERE/openslide_patches.py" "$SLIDE" "$LIST" 2 256 >"$TIMES.out"
read -r done s <"$TIMES.out"
RATE[openslide]=$(rate "$done" "$s"); CPU[openslide]=$(cpu_ms "$done")
echo "  openslide read_region, 2 processes: ${RATE[openslide]} patches/s ($s s; CPU ${CPU[openslide]} ms/patch)"

for kind in images masks; do
  out=$WORK/patches-$kind; rm -rf "$out"; wait_quiet
  filter=(); [ $kind = images ] && filter=(--classes no-such-class)
  start=$(date +%s.%N)
  timed "$TESSERA" patches --data "$DATA" bench -o "$out" --stride 176 --bbox 0,0,17760,17760 --format tar "${filter[@]}" 2>/dev/null
  s=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.3f", b - a}')
  got=$(wc -l <"$out/manifest.jsonl")
  RATE[$kind]=$(rate "$got" "$s"); CPU[$kind]=$(cpu_ms "$got")
  echo "  tessera patches ($kind, tar): ${RATE[$kind]} patches/s ($got in $s s; CPU ${CPU[$kind]} ms/patch)"
done

port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$TESSERA" serve --data "$DATA" --addr "127.0.0.1:$port" >/dev/null 2>"$WORK/patches-server.log" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
wait_quiet
before=$(ticks $server)
timed $PY "$HERE/http_loader.py" "127.0.0.1:$port" bench "$LIST" 4 256 >"$TIMES.out"
read -r done s <"$TIMES.out"
server_ms=$(awk -v a="$before" -v b="$(ticks $server)" -v hz="$(getconf CLK_TCK)" -v n="$done" \
  'BEGIN{printf "%.3f", 1000 * (b - a) / hz / n}')
client_ms=$(cpu_ms "$done")
RATE[http]=$(rate "$done" "$s"); CPU[http]=$(awk -v a="$server_ms" -v b="$client_ms" 'BEGIN{printf "%.3f", a + b}')
echo "  HTTP loader, 4 connections, both masks: ${RATE[http]} patches/s ($s s; CPU ${CPU[http]} ms/patch: server $server_ms, client $client_ms)"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", a / b}'; }
echo
echo "ratios against OpenSlide read_region (2 processes):"
echo "  patches (tessera patches, images):   $(ratio "${RATE[images]}" "${RATE[openslide]}")x  (bar >= 10x)"
echo "  patches with both masks:             $(ratio "${RATE[masks]}" "${RATE[openslide]}")x  (bar >= 5x)"
echo "  HTTP data loader, 4 connections:     $(ratio "${RATE[http]}" "${RATE[openslide]}")x  (bar >= 3x)"
echo "the same on CPU time per patch (OpenSlide's over ours; steadier on a shared machine):"
echo "  images $(ratio "${CPU[openslide]}" "${CPU[images]}")x, both masks $(ratio "${CPU[openslide]}" "${CPU[masks]}")x," \
  "HTTP $(ratio "${CPU[openslide]}" "${CPU[http]}")x"
