#!/usr/bin/env bash
# Cohort benchmark: N slides x M cells in one data directory, one `tessera serve --index-mb`,
# the way a lab uses it (issue 25). Builds the cohort with the project's generators: one
# synthetic slide tiled once and hard-linked under N ids (slide-1 .. slide-N), and per slide
# its own `tessera synth-cells` file (seed = slide number, so ids are unique), imported with
# `tessera import` (which writes the slide's snapshot). Then measures:
#   1. imports   - seconds of the import into the first and the last slide (unique ids), and
#                  of slide 1's file imported again into another slide with --new-ids (every
#                  id renamed) against that file's own first import;
#   2. cold      - one 1920x1080 viewport on each slide in turn, every slide cold: p50/p99 of
#                  the first answer, and each answer's SHA-256 against a server that loads
#                  each slide whole (its summary) just before asking for the same viewport;
#   3. random    - SECS seconds of viewports at random places on random slides from 8
#                  connections: p50/p99, errors; then a restart, the first answer's time, and
#                  the same random load again;
#   4. isolation - viewports on slide-2 alone (p99), then the same while M cells are imported
#                  into another slide over HTTP: the p99 ratio;
#   5. memory    - the server's RSS sampled every 100 ms through phases 2-4: the peak.
# Prints a table and writes WORK/results.csv (phase,metric,value). Exits 0 once measured.
# Usage (from the repo root): bash benches/cohort/run.sh
# Env: TESSERA_COHORT_SLIDES (40), TESSERA_COHORT_CELLS (1000000), TESSERA_COHORT_INDEX_MB
#      (1024), TESSERA_COHORT_SECS (60), TESSERA_COHORT_DIR (/tmp/tessera-cohort; the slide
#      cache and the data directory are reused when their sizes match),
#      TESSERA_COHORT_PORT (18690), TESSERA_BENCH_NO_BUILD=1 (use target/release as is),
#      TESSERA_BIN (another tessera binary, for an A/B; no build).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD
N=${TESSERA_COHORT_SLIDES:-40}
M=${TESSERA_COHORT_CELLS:-1000000}
INDEX_MB=${TESSERA_COHORT_INDEX_MB:-1024}
SECS=${TESSERA_COHORT_SECS:-60}
WORK=${TESSERA_COHORT_DIR:-/tmp/tessera-cohort}
PORT=${TESSERA_COHORT_PORT:-18690}
# The demo's slide and density: 48000 x 36000 at 32 px spacing holds ~1.2 M nuclei.
export COHORT_W=48000 COHORT_H=36000
PY=python3
CLIENT="$PY $ROOT/benches/cohort/cohort.py"
mkdir -p "$WORK"
CSV=$WORK/results.csv
echo "phase,metric,value" >"$CSV"
record() { echo "$1,$2,$3" >>"$CSV"; }

if [ -z "${TESSERA_BIN:-}" ] && [ "${TESSERA_BENCH_NO_BUILD:-0}" != 1 ]; then
  cargo build --release --locked -p server >&2
fi
TESSERA=$WORK/tessera
cp "${TESSERA_BIN:-target/release/tessera}" "$TESSERA"

# --- 1. the cohort -------------------------------------------------------------------------
BASE=$WORK/base
if [ ! -f "$BASE/synthetic.tess" ]; then
  mkdir -p "$BASE"
  "$TESSERA" synth --width $COHORT_W --height $COHORT_H --seed 1 -o "$BASE/synthetic.svs" >&2
  "$TESSERA" tile "$BASE/synthetic.svs" -o "$BASE" --id synthetic >&2
  rm -f "$BASE/synthetic.svs"
fi
DATA=$WORK/data-$N-$M
STAMP=$DATA/.cohort-complete
import_seconds() { # SLIDE FILE [FLAGS…]: imports, prints the import's own seconds
  local slide=$1 file=$2; shift 2
  "$TESSERA" import --data "$DATA" "$slide" "$file" --layer cells --author bench --json "$@" \
    2>>"$WORK/import.log" | $PY -c 'import json,sys; print(round(json.load(sys.stdin)["seconds"], 2))'
}
cells_file() { # SEED: a cells file of M cells with that seed
  local f=$WORK/cells-$1.geojson
  [ -f "$f" ] || "$TESSERA" synth-cells --width $COHORT_W --height $COHORT_H --seed "$1" \
    --limit "$M" -o "$f" >&2
  echo "$f"
}
if [ ! -f "$STAMP" ]; then
  rm -rf "$DATA"; mkdir -p "$DATA"
  for i in $(seq 1 "$N"); do ln "$BASE/synthetic.tess" "$DATA/slide-$i.tess"; done
  for i in $(seq 1 "$N"); do
    f=$(cells_file "$i")
    s=$(import_seconds "slide-$i" "$f")
    echo "  imported slide-$i: $s s" >&2
    echo "$i,$s" >>"$DATA/.imports"
    [ "$i" = 1 ] || rm -f "$f"       # keep slide 1's file for the --new-ids import
  done
  touch "$STAMP"
fi
FIRST_IMPORT=$(head -1 "$DATA/.imports" | cut -d, -f2)
LAST_IMPORT=$(tail -1 "$DATA/.imports" | cut -d, -f2)
record imports first_slide_s "$FIRST_IMPORT"
record imports last_slide_s "$LAST_IMPORT"
du -sh "$DATA" >&2

# --- servers and their memory -------------------------------------------------------------
SRV=""
SAMPLER=""
start_server() { # INDEX_MB LOG
  "$TESSERA" serve --data "$DATA" --addr "127.0.0.1:$PORT" --index-mb "$1" >"$2" 2>&1 &
  SRV=$!
  for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && return 0
    sleep 0.1
  done
  echo "server did not start: $(tail -3 "$2")" >&2; exit 1
}
stop_server() { [ -z "$SRV" ] || { kill "$SRV" 2>/dev/null; wait "$SRV" 2>/dev/null || true; SRV=""; }; }
sample_rss() { # PID FILE: VmRSS in kB every 100 ms while PID lives
  while kill -0 "$1" 2>/dev/null; do
    awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null >>"$2" || true
    sleep 0.1
  done
}
trap 'stop_server; [ -z "$SAMPLER" ] || kill "$SAMPLER" 2>/dev/null || true' EXIT
URL=http://127.0.0.1:$PORT
RSS=$WORK/rss.log; : >"$RSS"

# --- 2. reference answers: each slide loaded whole before its viewport --------------------
start_server "$INDEX_MB" "$WORK/serve-loaded.log"
REF=$($CLIENT cold "$URL" "$N" load)
stop_server

# --- 2. cold viewports, slide after slide -------------------------------------------------
sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || echo "  (page cache not dropped: not root)" >&2
start_server "$INDEX_MB" "$WORK/serve.log"
sample_rss "$SRV" "$RSS" & SAMPLER=$!
COLD=$($CLIENT cold "$URL" "$N")
SAME=$($PY -c 'import json,sys; a,b=json.loads(sys.argv[1]),json.loads(sys.argv[2]); print(sum(x==y for x,y in zip(a["sha256"],b["sha256"])))' "$COLD" "$REF")
field() { $PY -c 'import json,sys; v=json.loads(sys.argv[1])[sys.argv[2]]; print(round(v,2) if isinstance(v,float) else v)' "$1" "$2"; }
record cold p50_ms "$(field "$COLD" p50_ms)"
record cold p99_ms "$(field "$COLD" p99_ms)"
record cold answers_equal_to_loaded "$SAME/$N"

# --- 3. random viewports, a restart, again ------------------------------------------------
RAND=$($CLIENT random "$URL" "$N" "$SECS" 8)
record random p50_ms "$(field "$RAND" p50_ms)"
record random p99_ms "$(field "$RAND" p99_ms)"
record random errors "$(field "$RAND" errors)"
record random queries "$(field "$RAND" count)"
kill "$SAMPLER" 2>/dev/null || true
stop_server
start_server "$INDEX_MB" "$WORK/serve-restart.log"
sample_rss "$SRV" "$RSS" & SAMPLER=$!
FIRST=$($CLIENT first "$URL" "$N")
record restart first_answer_ms "$(field "$FIRST" ms)"
RAND2=$($CLIENT random "$URL" "$N" "$SECS" 8)
record restart p99_ms "$(field "$RAND2" p99_ms)"
record restart errors "$(field "$RAND2" errors)"

# --- 4. an import into one slide while another is queried ---------------------------------
ALONE=$($CLIENT steady "$URL" slide-2 20)
# Each run imports into slides of its own (a fresh file, and slide 1's file renamed), so
# the data directory can be reused by the next run.
RUN=$((100000 + RANDOM))
ln "$BASE/synthetic.tess" "$DATA/import-$RUN.tess"
ln "$BASE/synthetic.tess" "$DATA/renamed-$RUN.tess"
FRESH=$(cells_file "$RUN")
curl -sf -o "$WORK/import-http.json" -X POST --data-binary "@$FRESH" \
  "$URL/api/slides/import-$RUN/annotations/import?layer=cells" &
IMP=$!
DURING=$($CLIENT steady "$URL" slide-2 20)
wait $IMP || echo "  the HTTP import failed" >&2
record isolation alone_p99_ms "$(field "$ALONE" p99_ms)"
record isolation during_import_p99_ms "$(field "$DURING" p99_ms)"
kill "$SAMPLER" 2>/dev/null || true
stop_server
PEAK_MB=$(sort -n "$RSS" | tail -1 | awk '{printf "%d", $1/1024}')
record memory peak_rss_mb "$PEAK_MB"

# --- 1. again: every id of a file renamed ------------------------------------------------
rm -f "$FRESH"
NEWIDS=$(import_seconds "renamed-$RUN" "$(cells_file 1)" --new-ids)
record imports new_ids_s "$NEWIDS"

# --- the table ----------------------------------------------------------------------------
ratio() { $PY -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'{a/b:.2f}' if b else '-')" "$1" "$2"; }
cat <<EOF

Cohort: $N slides x $M cells, tessera serve --index-mb $INDEX_MB
  peak server RSS (every 100 ms)            ${PEAK_MB} MB          bar <= 1536 MB
  cold first viewport p50 / p99             $(field "$COLD" p50_ms) / $(field "$COLD" p99_ms) ms   bar <= 30 / 100 ms
  cold answers equal to a loaded server's   $SAME of $N
  random viewports, 8 connections, ${SECS} s   p99 $(field "$RAND" p99_ms) ms, $(field "$RAND" errors) errors of $(field "$RAND" count)   bar p99 <= 50 ms, 0 errors
  first answer after a restart              $(field "$FIRST" ms) ms          bar <= 100 ms
  random viewports after the restart        p99 $(field "$RAND2" p99_ms) ms, $(field "$RAND2" errors) errors
  viewports during an import elsewhere      p99 $(field "$DURING" p99_ms) ms vs $(field "$ALONE" p99_ms) ms alone: $(ratio "$(field "$DURING" p99_ms)" "$(field "$ALONE" p99_ms)")x   bar <= 2x
  import into slide $N vs slide 1           $LAST_IMPORT s vs $FIRST_IMPORT s: $(ratio "$LAST_IMPORT" "$FIRST_IMPORT")x   bar <= 1.2x
  import renaming every id (--new-ids)      $NEWIDS s vs $FIRST_IMPORT s: $(ratio "$NEWIDS" "$FIRST_IMPORT")x   bar <= 1.5x
CSV: $CSV
EOF
