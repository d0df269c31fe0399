#!/usr/bin/env bash
# Load test (issue 7, item 4): 60 s of mixed traffic on loopback against one `tessera serve`
# - random Deep Zoom tiles of three synthetic slides, all levels, on 64 keep-alive connections;
# - viewport annotation queries over the annotated slide (1920x1080 boxes with geometry, and a
#   quarter 4-16x larger with lod=auto), 4 connections;
# - a stream of edits (create, update with If-Match, delete), 1 connection;
# - one whole-slide export at a time, in a loop, read to the end -
# driven by target/release/load_mixed (benches/src/bin/load_mixed.rs), which prints requests,
# req/s, p50/p99/max ms and errors per route. Meanwhile the server's RSS is sampled every
# 100 ms (/proc/PID/status VmRSS; VmHWM, the kernel's own peak, at the end).
# Bars: 0 errors; peak RSS (the larger of the sampled peak and VmHWM) <= cache + bound, with
#   bound = PROCESS_MB + INDEX_MB + TILE_MB + cache/4 + ANN_MB + MIX_MB, each part measured on
#   its own first (fresh server, 40 s of that traffic alone; figures in benches/load/README.md):
#   PROCESS_MB  64: the server before any annotation is loaded (binary, runtime, SQLite page
#               caches): 45-49 MB measured;
#   INDEX_MB    1.5 x annotations x bytes_per_annotation, the server's own figure for its
#               annotation index (GET /api/slides/ID/annotations/summary -> index), read in
#               this run: 400,000 x 248 B = 95 MB; loading it raised RSS by 120-135 MB
#               (1.3-1.4x: the load's transient buffers stay with the allocator);
#   TILE_MB     48, + cache/4: the tile path beyond the cache's weight. 64 tiles in flight
#               with the cache off: 36 MB; with a cache, 15-25% of it on top (the cache weighs
#               JPEG bytes; allocator size classes and partly free pages of evicted tiles
#               cost the rest): +52 MB at 128, +70-100 at 256, +113 at 512;
#   ANN_MB      256: 4 streamed query connections, the export and the edits: 206 MB measured
#               (viewport queries alone 136 MB, of which the allocator's deferred purging
#               holds about half: 71 MB with MIMALLOC_PURGE_DELAY=0);
#   MIX_MB      128: the whole mix beyond the sum of its parts (tile and annotation buffers
#               sharing the allocator's pages): the parts sum to ~730 MB, 60 s of the mix
#               peaked at 700-776 MB on a busy machine and 821 MB on a quiet one (more
#               requests, more churn). Over longer runs RSS keeps creeping (~10 MB/min):
#               the bound is for the 60 s test, not a soak.
#   With the defaults: 64 + 142 + 48 + 64 + 256 + 128 = 702 MB, limit 958 MB.
# Prints PASS/FAIL for both bars; exits 1 when a bar fails or the run could not be made.
# Usage (from the repo root): bash benches/load/run.sh
# Env: TESSERA_LOAD_DIR          work dir (default /tmp/tessera-loadbench): slides, data dir
#                                (reused when its stamp matches), logs, results.json
#      TESSERA_LOAD_DURATION     seconds of traffic (60)
#      TESSERA_LOAD_CACHE_MB     the server's --cache-mb (256)
#      TESSERA_LOAD_PROCESS_MB, TESSERA_LOAD_TILE_MB, TESSERA_LOAD_ANN_MB, TESSERA_LOAD_MIX_MB:
#                                parts of the bound (64, 48, 256, 128; see above)
#      TESSERA_BENCH_QUIET_WAIT  max seconds to wait for a quiet machine before the run (120)
#      TESSERA_LOAD_CELLS        cells imported into the annotated slide (400000)
#      TESSERA_LOAD_SEED         the generator's seed (1)
#      TESSERA_LOAD_PORT_BASE    first loopback port tried (18680)
#      TESSERA_LOAD_ARGS         extra arguments for load_mixed (e.g. "--tile-conns 32")
#      TESSERA_BENCH_NO_BUILD=1  skip `cargo build --release -p server -p tessera-benches`
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."          # repo root
ROOT=$PWD
WORK=${TESSERA_LOAD_DIR:-/tmp/tessera-loadbench}
DUR=${TESSERA_LOAD_DURATION:-60}
CACHE_MB=${TESSERA_LOAD_CACHE_MB:-256}
PROCESS_MB=${TESSERA_LOAD_PROCESS_MB:-64}
TILE_MB=${TESSERA_LOAD_TILE_MB:-48}
ANN_MB=${TESSERA_LOAD_ANN_MB:-256}
MIX_MB=${TESSERA_LOAD_MIX_MB:-128}
QUIET_WAIT=${TESSERA_BENCH_QUIET_WAIT:-120}
NCELLS=${TESSERA_LOAD_CELLS:-400000}
SEED=${TESSERA_LOAD_SEED:-1}
PORT_BASE=${TESSERA_LOAD_PORT_BASE:-18680}
EXTRA=${TESSERA_LOAD_ARGS:-}
TESSERA=$ROOT/target/release/tessera
GEN=$ROOT/target/release/load_mixed
DATA=$WORK/data
# id:width:height:seed; the first is the annotated slide (its cells come from the same
# width/height/seed, so they lie on its nuclei). 32000x24000 tiles in ~15 s here.
SLIDES="load-a:32000:24000:1 load-b:24000:18000:2 load-c:20000:15000:3"
ANN=load-a
MAXLIFE=1800                # hard cap (s) on the server we start, even if the trap never runs
mkdir -p "$WORK"
exec 9>"$WORK/.lock"
flock -n 9 || { echo "error: another run is using $WORK (holds $WORK/.lock)" >&2; exit 1; }
rm -f "$WORK/results.json" "$WORK/rss.log"

# --- 1. build -------------------------------------------------------------------------------
if [ "${TESSERA_BENCH_NO_BUILD:-0}" != 1 ]; then
  echo "== cargo build --release -p server -p tessera-benches"
  nice -n 10 timeout 3600 cargo build --release -p server -p tessera-benches >"$WORK/build.log" 2>&1 \
    || { echo "build failed (log: $WORK/build.log)"; tail -n 5 "$WORK/build.log"; exit 1; }
fi
for b in "$TESSERA" "$GEN"; do [ -x "$b" ] || { echo "error: $b missing (build it)" >&2; exit 1; }; done

# --- 2. data (built once, reused while the stamp matches) ----------------------------------------
stamp="slides=$SLIDES cells=$NCELLS"
if [ ! -f "$DATA/.stamp" ] || [ "$(cat "$DATA/.stamp")" != "$stamp" ]; then
  echo "== building the data in $DATA"
  rm -rf "$DATA"; mkdir -p "$DATA" "$WORK/src"
  for s in $SLIDES; do
    IFS=: read -r id w h sd <<<"$s"
    t0=$SECONDS
    timeout 900 "$TESSERA" synth -o "$WORK/src/$id.svs" --width "$w" --height "$h" --seed "$sd" >/dev/null 2>&1
    timeout 900 "$TESSERA" tile "$WORK/src/$id.svs" -o "$DATA" --id "$id" | sed 's/^/  /'
    rm -f "$WORK/src/$id.svs"
    echo "  $id: ${w}x$h, seed $sd ($((SECONDS - t0)) s)"
    if [ "$id" = $ANN ]; then
      timeout 900 "$TESSERA" synth-cells -o "$WORK/src/cells.geojson" --width "$w" --height "$h" \
        --seed "$sd" --limit "$NCELLS" 2>/dev/null | sed 's/^/  /'
      timeout 900 "$TESSERA" import --data "$DATA" $ANN "$WORK/src/cells.geojson" 2>/dev/null | sed 's/^/  /'
      rm -f "$WORK/src/cells.geojson"
    fi
  done
  echo "$stamp" >"$DATA/.stamp"
fi
echo "data: $DATA ($(du -sm "$DATA" | cut -f1) MB: $(ls "$DATA" | tr '\n' ' '))"

# --- 3. the server --------------------------------------------------------------------------
SPID="" SAMPLER=""
cleanup() {
  [ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null || true
  if [ -n "$SPID" ]; then
    kill -TERM "$SPID" 2>/dev/null || true       # timeout forwards TERM to the server
    for _ in $(seq 50); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$SPID" 2>/dev/null; then
      local c; for c in $(pgrep -P "$SPID" || true); do kill -KILL "$c" 2>/dev/null || true; done
      kill -KILL "$SPID" 2>/dev/null || true
    fi
    wait "$SPID" 2>/dev/null || true
    SPID=""
  fi
}
trap cleanup EXIT
trap 'echo "interrupted"; exit 130' INT TERM
PORT=$PORT_BASE
while [ -n "$(ss -Htln "sport = :$PORT" 2>/dev/null)" ]; do PORT=$((PORT + 1)); done
URL=http://127.0.0.1:$PORT
timeout -k 5 $MAXLIFE "$TESSERA" serve --data "$DATA" --addr 127.0.0.1:$PORT --cache-mb "$CACHE_MB" \
  >"$WORK/server.log" 2>&1 &
SPID=$!
for _ in $(seq 300); do
  curl -sf "$URL/healthz" >/dev/null 2>&1 && break
  kill -0 "$SPID" 2>/dev/null || { echo "server exited at startup:"; tail -n 5 "$WORK/server.log"; exit 1; }
  sleep 0.1
done
curl -sf "$URL/healthz" >/dev/null || { echo "server not answering on $URL after 30 s"; exit 1; }
PID=$(pgrep -P "$SPID" -x tessera || true)
[ -n "$PID" ] || { echo "cannot find the server's pid under $SPID"; exit 1; }
kb() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
RSS_IDLE=$(kb "$PID" VmRSS)
# The annotation index (loaded on first use; the summary of a 1-pixel box loads it).
summary=$(curl -sf "$URL/api/slides/$ANN/annotations/summary?bbox=0,0,1,1")
NANN=$(jq -r .index.annotations <<<"$summary")
BPA=$(jq -r .index.bytes_per_annotation <<<"$summary")
RSS_LOADED=$(kb "$PID" VmRSS)
INDEX_MB=$(awk -v n="$NANN" -v b="$BPA" 'BEGIN{printf "%.0f", 1.5 * n * b / 1048576}')
BOUND_MB=$((PROCESS_MB + INDEX_MB + TILE_MB + CACHE_MB / 4 + ANN_MB + MIX_MB))
echo "server: pid $PID on $URL, --cache-mb $CACHE_MB; RSS $((RSS_IDLE / 1024)) MB at start," \
  "$((RSS_LOADED / 1024)) MB with the index of $ANN ($NANN annotations x $BPA B)"

# --- 4. the run, with the RSS sampled every 100 ms ------------------------------------------------
(
  t0=${EPOCHREALTIME/./}
  while [ -r "/proc/$PID/status" ]; do
    while read -r k v _; do
      [ "$k" = VmRSS: ] && { echo "$(((${EPOCHREALTIME/./} - t0) / 1000)) $v"; break; }
    done <"/proc/$PID/status" 2>/dev/null || break
    sleep 0.1
  done
) >"$WORK/rss.log" &
SAMPLER=$!
source "$ROOT/benches/quiet.sh"
wait_quiet
ticks() { local f; f=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }; f=${f##*) }; read -r -a a <<<"$f"; echo $((a[11] + a[12])); }
mticks() { head -n 1 /proc/stat | awk '{print $2 + $3 + $4}'; }
HZ=$(getconf CLK_TCK); NCPU=$(nproc)
m0=$(mticks); s0=$(ticks "$PID"); t0=$SECONDS
echo "== load_mixed for $DUR s"
set +e
# shellcheck disable=SC2086
/usr/bin/time -f '%U %S' -o "$WORK/gen.time" timeout -k 5 $((DUR + 900)) "$GEN" --url "$URL" --duration-s "$DUR" --tile-slides load-a,load-b,load-c \
  --ann-slide $ANN --seed "$SEED" --json "$WORK/results.json" $EXTRA
GEN_RC=$?
set -e
m1=$(mticks); s1=$(ticks "$PID"); secs=$((SECONDS - t0))
read -r gu gs < <(tail -n 1 "$WORK/gen.time")
SRV_CPU=$(awk -v t=$((s1 - s0)) -v hz="$HZ" -v s="$secs" 'BEGIN{printf "%d", 100 * t / hz / s}')
GEN_CPU=$(awk -v u="$gu" -v k="$gs" -v s="$secs" 'BEGIN{printf "%d", 100 * (u + k) / s}')
OTHER=$(awk -v m=$((m1 - m0)) -v t=$((s1 - s0)) -v u="$gu" -v k="$gs" -v hz="$HZ" -v s="$secs" -v n="$NCPU" \
  'BEGIN{o = ((m - t) / hz - u - k) / (s * n) * 100; printf "%d", o < 0 ? 0 : o}')
HWM=$(kb "$PID" VmHWM)
RSS_END=$(kb "$PID" VmRSS)
kill "$SAMPLER" 2>/dev/null || true; wait "$SAMPLER" 2>/dev/null || true; SAMPLER=""
cleanup
PEAK=$(awk 'BEGIN{m = 0} $2 > m {m = $2} END{print m}' "$WORK/rss.log")
NSAMP=$(wc -l <"$WORK/rss.log")
SERVER_ERRORS=$(grep -c -E 'ERROR|WARN' "$WORK/server.log" || true)
RELOADS=$(grep -c 'changed outside this server' "$WORK/server.log" || true)

# --- 5. summary -------------------------------------------------------------------------------------
LIMIT_MB=$((CACHE_MB + BOUND_MB))
PEAK_MB=$(( (PEAK > HWM ? PEAK : HWM) / 1024 ))
echo "== memory"
echo "  server RSS: $((RSS_IDLE / 1024)) MB at start, $((RSS_LOADED / 1024)) MB with the index," \
  "peak $((PEAK / 1024)) MB sampled during the run ($NSAMP samples), VmHWM $((HWM / 1024)) MB, $((RSS_END / 1024)) MB at the end"
echo "  configured cache: $CACHE_MB MB; stated bound: $BOUND_MB MB = process $PROCESS_MB + index $INDEX_MB" \
  "(1.5 x $NANN x $BPA B) + tile path $TILE_MB + $((CACHE_MB / 4)) (cache/4) + annotation traffic $ANN_MB" \
  "+ mix $MIX_MB;" \
  "limit $LIMIT_MB MB"
echo "== machine"
echo "  CPU during the run: server $SRV_CPU% of a core, load_mixed $GEN_CPU%, other processes $OTHER% of the" \
  "machine ($NCPU cores)$( ((OTHER < 10)) || echo ' - WARNING: machine busy, latencies unreliable')"
echo "  server log: $SERVER_ERRORS warnings/errors, $RELOADS annotation index reloads ($WORK/server.log)"
if [ -f "$WORK/results.json" ]; then
  tmp=$(mktemp)
  jq --argjson idle "$RSS_IDLE" --argjson loaded "$RSS_LOADED" --argjson peak "$PEAK" --argjson hwm "$HWM" \
    --argjson cache "$CACHE_MB" --argjson process "$PROCESS_MB" --argjson index "$INDEX_MB" \
    --argjson tile "$((TILE_MB + CACHE_MB / 4))" --argjson ann "$ANN_MB" --argjson mix "$MIX_MB" --argjson limit "$LIMIT_MB" \
    --argjson srv "$SRV_CPU" --argjson gen "$GEN_CPU" --argjson other "$OTHER" --argjson reloads "$RELOADS" \
    '. + {rss_kb: {start: $idle, index_loaded: $loaded, peak_sampled: $peak, vm_hwm: $hwm},
          cache_mb: $cache, bound_mb: {process: $process, index: $index, tile_path: $tile, annotation_traffic: $ann, mix: $mix},
          limit_mb: $limit, cpu_percent: {server: $srv, load_mixed: $gen, other_of_machine: $other},
          index_reloads: $reloads}' \
    "$WORK/results.json" >"$tmp" && mv "$tmp" "$WORK/results.json"
  ERRORS=$(jq -r .errors "$WORK/results.json")
else
  ERRORS="no result"
fi
ok=1
if [ "$GEN_RC" = 0 ] && [ "$ERRORS" = 0 ]; then echo "  0 errors: PASS"
else echo "  0 errors: FAIL (load_mixed exit $GEN_RC, errors: $ERRORS)"; ok=0; fi
if ((PEAK_MB <= LIMIT_MB)); then echo "  peak RSS $PEAK_MB MB <= $CACHE_MB + $BOUND_MB = $LIMIT_MB MB: PASS"
else echo "  peak RSS $PEAK_MB MB > $CACHE_MB + $BOUND_MB = $LIMIT_MB MB: FAIL"; ok=0; fi
echo "  results: $WORK/results.json, RSS samples: $WORK/rss.log"
((ok)) || exit 1
