#!/usr/bin/env bash
# Annotation benchmark: 1,000,000 synthetic cell polygons (QuPath GeoJSON from
# `tessera synth-cells`), `tessera serve` against GDAL ogr2ogr + PostGIS, on the same machine, in
# the same run, with the same file and the same query boxes (see ../shared/PEERS.md,
# "Annotations", and the bars in ../shared/DESIGN.md). Measures:
#   1. import  - ogr2ogr into PostGIS with a GiST index (wall, ogr2ogr peak RSS) vs one HTTP
#                POST of the file to /api/slides/synthetic/annotations/import (wall of the whole
#                request: parse, validate, durable SQLite store and in-memory R-tree index);
#   2. queries - 200 viewports 1920x1080 and 200 regions 8000x4500 around random cells (fixed
#                seed), PostGIS `geom && ST_MakeEnvelope(...)` through psycopg2 (all rows fetched)
#                vs GET /api/slides/synthetic/annotations?bbox=...&fields=qupath over one keep-alive
#                connection (whole body read): p50/p99 ms and mean hits, each timed set right after
#                a few unmeasured queries (a quiet second slows every side's first ones). fields=qupath returns
#                QuPath's properties, the content PostGIS's query returns; our default answer
#                (fields=all, Tessera's own properties too) is measured once for reference; and
#                the client's floor: nginx sending, per box, a file cut to the size of our answer
#                (Range) to the same client, i.e. the time no server can beat with this client, and
#                floor / PostGIS p99, the best ratio a server could score (informational, no bar);
#   3. export  - GET .../annotations/export read to the end (MB/s), and for reference PostGIS
#                serialising every geometry (and every whole feature) through COPY;
#   4. memory  - the server's RSS with the million cells loaded (after the import, after the
#                queries and export, and after a restart that reloads the index from SQLite).
# Prints a table (PostGIS, ours, ratio) and PASS/FAIL per bar, writes DIR/results.json; exits 0
# once the measurements ran. Each timed phase first waits for a quiet machine (benches/quiet.sh)
# and reports the CPU share other processes took meanwhile ("other %"; >= 10: unreliable).
# With --store postgres, Tessera runs a second time with its store on PostgreSQL (a database
# of its own, `tessera_store`, in the same PostgreSQL as PostGIS's table): import, queries and
# export again, reported in a column of their own next to SQLite's and PostGIS's, with the
# bars of issue 26 (import <= 1/2 of ogr2ogr's time, viewport p99 <= 1/2 of PostGIS's).
# Usage (from the repo root, as root on Debian bookworm for the apt installs):
#   bash benches/annotations/run.sh [--store sqlite|postgres]
# Env: TESSERA_ANN_DIR           work dir (default /tmp/tessera-annbench): PostgreSQL cluster,
#                                cells file, slide cache and results (the last three are reused)
#      TESSERA_ANN_SPACING       nucleus spacing of the synthetic slide in pixels (56): one cell at
#                                most per 56x56 px of tissue, so a 1920x1080 viewport around a
#                                cell holds ~600 cells and an 8000x4500 region ~10 k, the
#                                densities DESIGN.md's bars name; the slide is 1500x1125 spacings
#                                (84000x63000 at 56), ~1.2 M nuclei of which the first N are kept.
#                                32 gives the demo's density (~1,800 per viewport, 48000x36000)
#      TESSERA_ANN_TESS          an existing `synthetic` cache of that slide (`tessera synth --seed 1
#                                --width W --height H --nucleus-spacing S` then `tessera tile`) to
#                                hard-link instead of building one (~3 min at 56)
#      TESSERA_ANN_CELLS         number of cells (1000000)
#      TESSERA_ANN_BOXES         boxes per query kind (200); TESSERA_ANN_SEED their seed (1)
#      TESSERA_ANN_IMPORT_RUNS   import runs per side (1), plus up to TESSERA_ANN_IMPORT_RETRIES (2)
#                                extra runs while none was clean; the fastest clean run is kept
#      TESSERA_ANN_QUERY_ROUNDS  rounds of the query sets (2; each round runs every set once),
#                                plus up to TESSERA_ANN_QUERY_RETRIES (3) extra runs of a set with
#                                no clean run; per set the clean run with the lowest p99 is kept
#      TESSERA_ANN_EXPORT_REPS   export runs (2), plus up to TESSERA_ANN_EXPORT_RETRIES (2) while
#                                none was clean; the fastest clean one is kept
#      TESSERA_ANN_PORT_BASE     first loopback port tried (18580)
#      TESSERA_BENCH_QUIET_WAIT  max seconds to wait for a quiet machine before each phase (120)
#      TESSERA_BENCH_NO_BUILD=1  skip `cargo build --release -p server` (use the binary as is)
set -euo pipefail
STORE=sqlite
while (($#)); do
  case $1 in
    --store) STORE=${2:-}; shift 2 || shift ;;
    --store=*) STORE=${1#*=}; shift ;;
    *) echo "usage: $0 [--store sqlite|postgres]" >&2; exit 2 ;;
  esac
done
[[ $STORE == sqlite || $STORE == postgres ]] || { echo "error: --store is sqlite or postgres, not '$STORE'" >&2; exit 2; }
cd "$(dirname "${BASH_SOURCE[0]}")/../.."          # repo root
ROOT=$PWD
HERE=$ROOT/benches/annotations
WORK=${TESSERA_ANN_DIR:-/tmp/tessera-annbench}
TESS_SRC=${TESSERA_ANN_TESS:-}
NCELLS=${TESSERA_ANN_CELLS:-1000000}
NBOX=${TESSERA_ANN_BOXES:-200}
SEED=${TESSERA_ANN_SEED:-1}
IMPORT_RUNS=${TESSERA_ANN_IMPORT_RUNS:-1}            # import runs per side ...
IMPORT_RETRIES=${TESSERA_ANN_IMPORT_RETRIES:-2}      # ... plus up to this many while none was clean
EXPORT_REPS=${TESSERA_ANN_EXPORT_REPS:-2}
EXPORT_RETRIES=${TESSERA_ANN_EXPORT_RETRIES:-2}
export QUERY_ROUNDS=${TESSERA_ANN_QUERY_ROUNDS:-2} QUERY_RETRIES=${TESSERA_ANN_QUERY_RETRIES:-3}  # annbench.py
PORT_BASE=${TESSERA_ANN_PORT_BASE:-18580}
QUIET_WAIT=${TESSERA_BENCH_QUIET_WAIT:-120}
export QUIET_WAIT                                   # for annbench.py too
TESSERA=$WORK/tessera                               # copy of target/release/tessera (step 3)
PY=/usr/bin/python3                                 # Debian python: has python3-psycopg2
PGV=15                                              # PostgreSQL 15 + PostGIS 3.3 (bookworm)
PGBIN=/usr/lib/postgresql/$PGV/bin
SPACING=${TESSERA_ANN_SPACING:-56}
SLIDE_W=$((1500 * SPACING)) SLIDE_H=$((1125 * SPACING))
SLIDE_ID=synthetic
CELLS=$WORK/cells-$NCELLS-s$SPACING.geojson
SLIDE_DIR=$WORK/slide-${SLIDE_W}x$SLIDE_H-s$SPACING  # holds $SLIDE_ID.tess (reused)
DATA=$WORK/ours-data                                # our --data dir, fresh every run
PGDIR=$WORK/pg PGDATA=$WORK/pg/data PGDB=tessera_ann
NGX=$WORK/nginx                                     # the floor's nginx: config, logs, served file
MAXLIFE=7200                # hard cap (s) on the server we start, even if the trap never runs
KV=$WORK/results.kv         # scalar results, key=value, read by `annbench.py report`
mkdir -p "$WORK"
# One run per work dir: a second one would stop this run's PostgreSQL and overwrite its results.
exec 9>"$WORK/.lock"
flock -n 9 || { echo "error: another run is using $WORK (holds $WORK/.lock); set TESSERA_ANN_DIR to run elsewhere" >&2; exit 1; }
: >"$KV"
rm -f "$WORK/queries.json" "$WORK/queries-pgstore.json" "$WORK/pgser.json" "$WORK/first-query.json" \
  "$WORK/results.json"   # no stale rows
kv() { echo "$1=$2" >>"$KV"; }

# --- 1. tools (fast no-op when present) ----------------------------------------------------------
need=()
[ -x $PGBIN/initdb ] || need+=(postgresql-$PGV)
[ -f /usr/share/postgresql/$PGV/extension/postgis.control ] || need+=(postgresql-$PGV-postgis-3)
command -v ogr2ogr >/dev/null || need+=(gdal-bin)
command -v psql >/dev/null || need+=(postgresql-client-$PGV)
$PY -c 'import psycopg2' 2>/dev/null || need+=(python3-psycopg2)
command -v curl >/dev/null || need+=(curl)
command -v nginx >/dev/null || need+=(nginx)
[ -x /usr/bin/time ] || need+=(time)
if ((${#need[@]})); then
  echo "installing: ${need[*]}"
  [ "$(id -u)" = 0 ] || { echo "error: need root to apt-get install ${need[*]}" >&2; exit 1; }
  # postgresql-common may try to create and start a system cluster, and nginx's postinst its
  # service; without systemd that does nothing harmful, and we never use them (our cluster
  # lives in $PGDIR, our nginx config in $NGX).
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq "${need[@]}"
fi
echo "tools: $(ogr2ogr --version), $($PGBIN/postgres --version), psycopg2 $($PY -c 'import psycopg2; print(psycopg2.__version__.split()[0])')," \
     "$(nginx -v 2>&1 | sed 's/^nginx version: //')"

# --- 2. helpers: ports, servers, CPU accounting ----------------------------------------------------
source "$ROOT/benches/quiet.sh"
HZ=$(getconf CLK_TCK); NCPU=$(nproc)
port_free() { [ -z "$(ss -Htln "sport = :$1" 2>/dev/null)" ]; }
next_port=$PORT_BASE
pick_port() {              # sets PORT to the next free loopback port
  while ! port_free $next_port; do next_port=$((next_port + 1)); done
  PORT=$next_port; next_port=$((next_port + 1))
}
tree() { local p; echo "$1"; for p in $(pgrep -P "$1" || true); do tree "$p"; done; }
# CPU ticks of process trees: utime+stime+cutime+cstime of each live process (children that
# exited, e.g. PostgreSQL backends, are in their parent's cutime/cstime once reaped).
ticks() {
  local p t=0 f r
  for r in "$@"; do for p in $(tree "$r"); do
    f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    f=${f##*) }; read -r -a a <<<"$f"; t=$((t + a[11] + a[12] + a[13] + a[14]))
  done; done
  echo $t
}
mticks() { head -n 1 /proc/stat | awk '{print $2 + $3 + $4}'; }   # user+nice+system, machine
# other_pct WALL_S CLIENT_CPU_S MACHINE_TICKS SERVER_TICKS: CPU share of the machine used by
# processes other than the client and the server during a phase.
other_pct() {
  awk -v w="$1" -v c="$2" -v m="$3" -v s="$4" -v hz="$HZ" -v n="$NCPU" \
    'BEGIN{o = ((m - s) / hz - c) / (w * n) * 100; if (o < 0) o = 0; if (o > 100) o = 100; printf "%d", o}'
}
kb() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }  # kb PID VmRSS
mb() { echo $((${1:-0} / 1024)); }

# PostgreSQL runs as `postgres` when we are root (initdb refuses root).
as_pg() { if [ "$(id -u)" = 0 ]; then (cd "$PGDIR" && runuser -u postgres -- "$@"); else (cd "$PGDIR" && "$@"); fi; }
pgsql() { PGOPTIONS='-c client_min_messages=warning' psql -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres -v ON_ERROR_STOP=1 "$@"; }
PGPORT="" SRV_TO="" SRV_PID="" NGX_TO=""
# The Tessera side being measured: `ours` (SQLite in $DATA) or `ourspg` (--store PostgreSQL);
# its figures are kept under its name, and STORE_ARGS go to `tessera serve`.
OURS=ours STORE_ARGS=()
stop_wrapped() {           # stop_wrapped PID: TERM to a `timeout` wrapper (forwarded), KILL after 10 s
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
stop_server() { [ -z "$SRV_TO" ] || stop_wrapped "$SRV_TO"; SRV_TO="" SRV_PID=""; }
stop_nginx() { [ -z "$NGX_TO" ] || stop_wrapped "$NGX_TO"; NGX_TO=""; }
cleanup() {
  stop_server
  stop_nginx
  if [ -n "$PGPORT" ]; then as_pg $PGBIN/pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 || true; PGPORT=""; fi
}
trap cleanup EXIT
trap 'echo "interrupted"; exit 130' INT TERM
# start_server LOG: `tessera serve` on $DATA, sets SRV_TO (timeout wrapper), SRV_PID, URL
start_server() {
  pick_port; URL=http://127.0.0.1:$PORT
  timeout -k 5 $MAXLIFE "$TESSERA" serve --data "$DATA" "${STORE_ARGS[@]}" --addr "127.0.0.1:$PORT" >"$1" 2>&1 9>&- &
  SRV_TO=$!
  for _ in $(seq 300); do
    if curl -sf "$URL/healthz" >/dev/null 2>&1; then SRV_PID=$(pgrep -P "$SRV_TO" | head -n 1); return 0; fi
    kill -0 "$SRV_TO" 2>/dev/null || { echo "  tessera serve exited at startup:"; tail -n 5 "$1" | sed 's/^/    /'; return 1; }
    sleep 0.1
  done
  echo "  tessera serve not answering /healthz on $URL after 30 s"; return 1
}
# start_nginx: the floor's static server, sets NGX_TO (timeout wrapper), FLOOR_URL, FLOOR_FILE.
# One worker, sendfile, no access log: the least work a server can do to send a file.
# FLOOR_FILE is written later, by `annbench.py queries` (our answer); until then nginx says 404.
start_nginx() {
  local user=""
  rm -rf "$NGX"; mkdir -p "$NGX/www" "$NGX/tmp"
  pick_port; FLOOR_URL=http://127.0.0.1:$PORT/answer.json FLOOR_FILE=$NGX/www/answer.json
  [ "$(id -u)" = 0 ] && user="user root;"             # workers must read the work dir
  cat >"$NGX/nginx.conf" <<EOF
# Generated by benches/annotations/run.sh - not a system config.
$user
worker_processes 1;
pid $NGX/nginx.pid;
error_log $NGX/error.log warn;
events { worker_connections 64; }
http {
  default_type application/octet-stream;
  access_log off;
  sendfile on;
  # one keep-alive connection for every floor set, idle through wait_quiet between sets
  keepalive_requests 1000000;
  keepalive_timeout 3600s;
  client_body_temp_path $NGX/tmp/body;
  proxy_temp_path $NGX/tmp/proxy;
  fastcgi_temp_path $NGX/tmp/fastcgi;
  uwsgi_temp_path $NGX/tmp/uwsgi;
  scgi_temp_path $NGX/tmp/scgi;
  server {
    listen 127.0.0.1:$PORT;
    root $NGX/www;
  }
}
EOF
  if ! timeout 10 nginx -t -p "$NGX" -e "$NGX/error.log" -c "$NGX/nginx.conf" >"$NGX/test.log" 2>&1; then
    echo "  nginx config test failed (no floor):"; sed 's/^/    /' "$NGX/test.log"; return 1
  fi
  timeout -k 5 $MAXLIFE nginx -p "$NGX" -e "$NGX/error.log" -c "$NGX/nginx.conf" -g 'daemon off;' \
    >"$NGX/stdout.log" 2>&1 9>&- &
  NGX_TO=$!
  for _ in $(seq 100); do
    curl -s -o /dev/null "$FLOOR_URL" 2>/dev/null && return 0     # any answer (404 for now)
    if ! kill -0 "$NGX_TO" 2>/dev/null; then
      echo "  nginx exited at startup (no floor):"; tail -n 5 "$NGX/error.log" | sed 's/^/    /'; NGX_TO=""; return 1
    fi
    sleep 0.1
  done
  echo "  nginx not answering on $FLOOR_URL after 10 s (no floor)"; stop_nginx; return 1
}

# --- 3. build ours -------------------------------------------------------------------------------
if [ "${TESSERA_BENCH_NO_BUILD:-0}" != 1 ]; then
  echo "== cargo build --release -p server"
  timeout 1800 cargo build --release -p server >"$WORK/build.log" 2>&1 \
    || { echo "  build FAILED (log: $WORK/build.log); using the existing binary if any"; tail -n 3 "$WORK/build.log" | sed 's/^/    /'; }
fi
[ -x "$ROOT/target/release/tessera" ] || { echo "error: $ROOT/target/release/tessera missing" >&2; exit 1; }
# A private copy: every phase runs the same binary even if target/ is rebuilt meanwhile.
cp "$ROOT/target/release/tessera" "$TESSERA.tmp" && mv -f "$TESSERA.tmp" "$TESSERA"
kv tessera_rev "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo ?)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo +dirty)"

# --- 4. inputs: the slide cache (only its size matters here) and the cells file (both reused) ----
SYNTH_ARGS=(--seed 1 --width "$SLIDE_W" --height "$SLIDE_H" --nucleus-spacing "$SPACING")
mkdir -p "$SLIDE_DIR"
if [ ! -f "$SLIDE_DIR/$SLIDE_ID.tess" ]; then
  if [ -n "$TESS_SRC" ] && [ -f "$TESS_SRC" ]; then
    ln "$TESS_SRC" "$SLIDE_DIR/$SLIDE_ID.tess" 2>/dev/null || ln -s "$(realpath "$TESS_SRC")" "$SLIDE_DIR/$SLIDE_ID.tess"
  else
    echo "== building the ${SLIDE_W}x$SLIDE_H synthetic slide and its cache (JPEG tiles: only its size matters here)"
    timeout 1800 "$TESSERA" synth -o "$SLIDE_DIR/slide.svs" "${SYNTH_ARGS[@]}" >"$WORK/synth.log" 2>&1
    timeout 1800 "$TESSERA" tile "$SLIDE_DIR/slide.svs" -o "$SLIDE_DIR" --id "$SLIDE_ID" --codec jpeg >"$WORK/tile.log" 2>&1
    rm -f "$SLIDE_DIR/slide.svs"
  fi
fi
dims=$("$TESSERA" info "$SLIDE_DIR/$SLIDE_ID.tess" --json | $PY -c 'import json,sys; j=json.load(sys.stdin); print("%dx%d" % (j["width"], j["height"]))')
echo "slide: $SLIDE_DIR/$SLIDE_ID.tess ($dims)"
[ "$dims" = "${SLIDE_W}x$SLIDE_H" ] || { echo "error: expected a ${SLIDE_W}x$SLIDE_H slide" >&2; exit 1; }
if [ ! -f "$CELLS" ]; then
  echo "== tessera synth-cells ${SYNTH_ARGS[*]} --limit $NCELLS"
  made=$(timeout 900 "$TESSERA" synth-cells -o "$CELLS.tmp.geojson" "${SYNTH_ARGS[@]}" --limit "$NCELLS")
  echo "  $made"
  [ "$(echo "$made" | grep -o '[0-9]* synthetic cells' | cut -d' ' -f1)" = "$NCELLS" ] ||
    { echo "error: the slide holds fewer than $NCELLS nuclei; use a smaller TESSERA_ANN_CELLS" >&2; exit 1; }
  mv "$CELLS.tmp.geojson" "$CELLS"
fi
chmod a+r "$CELLS"
CELLS_BYTES=$(stat -c %s "$CELLS")
echo "cells: $CELLS ($((CELLS_BYTES / 1000000)) MB)"
kv cells "$NCELLS"; kv cells_bytes "$CELLS_BYTES"; kv nucleus_spacing "$SPACING"; kv slide "${SLIDE_W}x$SLIDE_H"
$PY "$HERE/annbench.py" boxes "$CELLS" "$WORK/boxes.json" --n "$NBOX" --seed "$SEED" --slide "${SLIDE_W}x$SLIDE_H"

# --- 5. PostgreSQL: own cluster in the work dir, loopback port, fresh database ----------------------
echo "== PostgreSQL $PGV + PostGIS"
mkdir -p "$PGDIR"; [ "$(id -u)" = 0 ] && chown postgres:postgres "$PGDIR"
if [ ! -f "$PGDATA/PG_VERSION" ]; then
  as_pg $PGBIN/initdb -A trust -U postgres -D "$PGDATA" >"$PGDIR/initdb.log" 2>&1 \
    || { echo "error: initdb failed:"; tail -n 5 "$PGDIR/initdb.log"; exit 1; }
fi
# a cluster left running by an interrupted run (not a live one: we hold the work dir's lock)
as_pg $PGBIN/pg_ctl -D "$PGDATA" status >/dev/null 2>&1 && as_pg $PGBIN/pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
pick_port; PGPORT=$PORT
if ! as_pg $PGBIN/pg_ctl -D "$PGDATA" -l "$PGDIR/server.log" -w -t 120 -o "-p $PGPORT \
    -c listen_addresses=127.0.0.1 -c unix_socket_directories=$PGDIR -c shared_buffers=2GB -c max_wal_size=8GB" \
    start >/dev/null 9>&-; then
  echo "error: PostgreSQL did not start:"; tail -n 5 "$PGDIR/server.log"; PGPORT=""; exit 1
fi
PGPID=$(head -n 1 "$PGDATA/postmaster.pid")
pgsql -d postgres -c "drop database if exists $PGDB" -c "create database $PGDB"
pgsql -d $PGDB -c 'create extension postgis'
DSN="host=127.0.0.1 port=$PGPORT user=postgres dbname=$PGDB"
echo "  $(pgsql -d $PGDB -Atc 'select postgis_lib_version()' | sed 's/^/PostGIS /') on 127.0.0.1:$PGPORT," \
     "shared_buffers $(pgsql -d $PGDB -Atc 'show shared_buffers'), max_wal_size $(pgsql -d $PGDB -Atc 'show max_wal_size')"

# --- 6. import: ogr2ogr -> PostGIS, then ours (one HTTP POST of the same file) ---------------------
# A run counts as clean when other processes took < 10% of the machine; per side the fastest clean
# run is kept (else the fastest), and up to IMPORT_RETRIES extra runs are made while none is clean.
declare -A KW KC            # kept wall time and cleanliness per side
better() {                  # better SIDE WALL OTHER_PCT: does this run beat the kept one?
  local c=0; (($3 < 10)) && c=1
  if [ -z "${KW[$1]:-}" ] || ((c > KC[$1])) || { ((c == KC[$1])) && awk -v a="$2" -v b="${KW[$1]}" 'BEGIN{exit !(a < b)}'; }; then
    KW[$1]=$2 KC[$1]=$c; return 0
  fi
  return 1
}
secs() { awk -v u="$1" -v s="$2" 'BEGIN{print u + s}'; }      # secs USER SYS
tsecs() { awk -v t="$1" -v hz="$HZ" 'BEGIN{printf "%.1f", t / hz}'; }  # tsecs TICKS
pg_import_once() {
  local m0 m1 s0 s1 w k u s o n
  pgsql -d $PGDB -c 'drop table if exists cells'
  cat "$CELLS" >/dev/null                           # both importers read it from the page cache
  sync; wait_quiet
  m0=$(mticks); s0=$(ticks "$PGPID")
  if ! /usr/bin/time -o "$WORK/ogr2ogr.time" -f '%e %M %U %S' timeout 3600 \
      ogr2ogr -f PostgreSQL PG:"$DSN" "$CELLS" -nln cells -lco SPATIAL_INDEX=GIST -lco GEOMETRY_NAME=geom \
      -gt 100000 --config PG_USE_COPY YES >"$WORK/ogr2ogr.log" 2>&1; then
    echo "  ogr2ogr FAILED (log: $WORK/ogr2ogr.log):"; tail -n 5 "$WORK/ogr2ogr.log" | sed 's/^/    /'; return 1
  fi
  m1=$(mticks); s1=$(ticks "$PGPID")
  read -r w k u s < <(tail -n 1 "$WORK/ogr2ogr.time")
  o=$(other_pct "$w" "$(secs "$u" "$s")" $((m1 - m0)) $((s1 - s0)))
  n=$(pgsql -d $PGDB -Atc 'select count(*) from cells')
  echo "  ogr2ogr -> PostGIS  $(printf '%7.2f' "$w") s  ogr2ogr peak RSS $((k / 1024)) MB  (ogr2ogr cpu $(secs "$u" "$s") s," \
       "PostgreSQL cpu $(tsecs $((s1 - s0))) s; other processes $o% of machine)  rows: $n"
  [ "$n" = "$NCELLS" ] || echo "  WARNING: PostGIS has $n rows, expected $NCELLS"
  if better pg "$w" "$o"; then
    kv pg_import_s "$w"; kv pg_ogr2ogr_rss_mb $((k / 1024)); kv pg_import_other_pct "$o"; kv pg_rows "$n"
    kv pg_import_pg_cpu_s "$(tsecs $((s1 - s0)))"
  fi
}
ours_import_once() {
  local m0 m1 s0 s1 w u s o n res code rss hwm rss0 srv_s
  stop_server
  rm -rf "$DATA"; mkdir -p "$DATA"
  [ "$OURS" = ourspg ] && pgsql -d postgres -c "drop database if exists $STORE_DB" -c "create database $STORE_DB"
  ln "$SLIDE_DIR/$SLIDE_ID.tess" "$DATA/" 2>/dev/null || ln -s "$(realpath "$SLIDE_DIR/$SLIDE_ID.tess")" "$DATA/"
  start_server "$WORK/serve.log" || return 1
  rss0=$(kb "$SRV_PID" VmRSS); kv ${OURS}_rss_start_mb "$(mb "$rss0")"
  echo "  tessera serve on $URL (pid $SRV_PID, $(mb "$rss0") MB RSS at start)"
  cat "$CELLS" >/dev/null
  sync; wait_quiet
  m0=$(mticks); s0=$(ticks "$SRV_PID")
  # -T streams the file (--data-binary @file would read all of it into memory first);
  # `Expect:` off so curl does not wait for a 100 Continue.
  res=$(/usr/bin/time -o "$WORK/curl-import.time" -f '%U %S' timeout 3600 curl -sS -X POST -T "$CELLS" \
    -H 'Expect:' -H 'Content-Type: application/geo+json' -o "$WORK/import.json" -w '%{http_code} %{time_total}' \
    "$URL/api/slides/$SLIDE_ID/annotations/import?layer=cells&provenance=model" 2>"$WORK/curl-import.err") || true
  m1=$(mticks); s1=$(ticks "$SRV_PID")
  read -r code w <<<"${res:-000 0}"
  if [ "$code" != 201 ]; then
    echo "  import FAILED: HTTP $code after ${w}s; response:"; head -c 2000 "$WORK/import.json" 2>/dev/null | sed 's/^/    /'; echo
    sed 's/^/    curl: /' "$WORK/curl-import.err"; tail -n 5 "$WORK/serve.log" | sed 's/^/    server: /'
    return 1
  fi
  read -r u s < <(tail -n 1 "$WORK/curl-import.time")
  o=$(other_pct "$w" "$(secs "$u" "$s")" $((m1 - m0)) $((s1 - s0)))
  rss=$(kb "$SRV_PID" VmRSS); hwm=$(kb "$SRV_PID" VmHWM)
  srv_s=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1])).get("seconds", ""))' "$WORK/import.json")
  n=$(curl -sf "$URL/api/slides/$SLIDE_ID/annotations/summary" | $PY -c 'import json,sys; print(json.load(sys.stdin).get("count"))' || echo ?)
  echo "  POST .../import      $(printf '%7.2f' "$w") s  (server reports $(printf '%.2f' "$srv_s") s; server cpu" \
       "$(tsecs $((s1 - s0))) s; other processes $o% of machine)  count: $n"
  if [ "$OURS" = ourspg ]; then
    stored="PostgreSQL $STORE_DB: $(pgsql -d $STORE_DB -Atc "select pg_size_pretty(pg_database_size('$STORE_DB'))")"
  else
    stored="annotations.db: $(du -cm "$DATA"/annotations.db* | tail -n 1 | cut -f1) MB"
  fi
  echo "  server RSS after import: $(mb "$rss") MB (peak $(mb "$hwm") MB); $stored"
  [ "$n" = "$NCELLS" ] || echo "  WARNING: summary count is $n, expected $NCELLS"
  if better "$OURS" "$w" "$o"; then
    kv "${OURS}_import_s" "$w"; kv "${OURS}_import_server_s" "$srv_s"; kv "${OURS}_import_other_pct" "$o"
    kv "${OURS}_import_cpu_s" "$(tsecs $((s1 - s0)))"
  fi
  # memory: of the server that stays up for the queries (the last run)
  kv "${OURS}_rss_import_mb" "$(mb "$rss")"; kv "${OURS}_import_hwm_mb" "$(mb "$hwm")"; kv "${OURS}_count" "$n"
}
# import_runs SIDE FUNCTION: IMPORT_RUNS runs, then extra ones while none was clean; sets OK_RUN
# to whether the last run (the data the queries use) succeeded.
import_runs() {
  local r n=0
  OK_RUN=0
  for ((r = 0; r < IMPORT_RUNS + IMPORT_RETRIES; r++)); do
    ((r >= IMPORT_RUNS && ${KC[$1]:-0} == 1)) && break
    ((r >= IMPORT_RUNS)) && echo "  extra run for $1 (no clean run so far)"
    if $2; then OK_RUN=1; n=$((n + 1)); else OK_RUN=0; fi
  done
  kv "${1}_import_runs" "$n"; kv "${1}_import_clean" "${KC[$1]:-0}"
  [ -n "${KW[$1]:-}" ] && echo "  kept $1 import: ${KW[$1]} s ($( ((KC[$1])) && echo clean || echo 'UNRELIABLE: machine busy in every run'))"
  true
}
echo "== import $NCELLS cells (ogr2ogr -> PostGIS)"
import_runs pg pg_import_once; have_pg=$OK_RUN
if ((have_pg)); then
  # ANALYZE (and VACUUM, which an insert-only table would otherwise get from autovacuum in the
  # middle of our measurements), then a checkpoint so no background flush overlaps them.
  t0=$(date +%s.%N)
  pgsql -d $PGDB -c 'vacuum (analyze) cells' -c 'checkpoint'
  t1=$(date +%s.%N); kv pg_vacuum_s "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b - a}')"
  echo "  vacuum (analyze) + checkpoint: $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b - a}') s;" \
       "table + GiST index: $(pgsql -d $PGDB -Atc "select pg_size_pretty(pg_total_relation_size('cells'))")"
fi
echo "== import $NCELLS cells (ours: POST /api/slides/$SLIDE_ID/annotations/import)"
import_runs ours ours_import_once; have_ours=$OK_RUN

# --- 7. queries: same boxes, both sides -----------------------------------------------------------
if ((have_pg && have_ours)); then
  echo "== queries ($NBOX viewports 1920x1080, $NBOX regions 8000x4500; latency = request to last byte)"
  # nginx for the floor: started now, idle (no CPU) until the floor sets, which come after ours
  floor=()
  start_nginx && floor=(--floor-url "$FLOOR_URL" --floor-file "$FLOOR_FILE" --floor-pid "$NGX_TO")
  sync
  $PY "$HERE/annbench.py" queries "$WORK/boxes.json" "$WORK/queries.json" --dsn "$DSN" --table cells \
    --url "$URL" --slide "$SLIDE_ID" --pg-pid "$PGPID" --srv-pid "$SRV_PID" "${floor[@]}" || echo "  queries FAILED"
  stop_nginx
else
  echo "== queries skipped (need both PostGIS and ours loaded)"
fi

# --- 8. export: ours over HTTP; PostGIS serialisation for reference ---------------------------------
# export_phase: the fastest clean of EXPORT_REPS+ full exports of the running server ($OURS),
# the feature count checked, and its memory afterwards.
export_phase() {
  echo "== full export (GET .../annotations/export, whole body read; fastest clean of $EXPORT_REPS+ runs)"
  export_once() {
    local m0 m1 s0 s1 res code bytes w u s o mbps
    sync; wait_quiet
    m0=$(mticks); s0=$(ticks "$SRV_PID")
    res=$(/usr/bin/time -o "$WORK/curl-export.time" -f '%U %S' timeout 1800 curl -sS -o /dev/null \
      -w '%{http_code} %{size_download} %{time_total}' "$URL/api/slides/$SLIDE_ID/annotations/export") || true
    m1=$(mticks); s1=$(ticks "$SRV_PID")
    read -r code bytes w <<<"${res:-000 0 0}"
    if [ "$code" != 200 ]; then echo "  export FAILED: HTTP $code"; return 1; fi
    read -r u s < <(tail -n 1 "$WORK/curl-export.time")
    o=$(other_pct "$w" "$(secs "$u" "$s")" $((m1 - m0)) $((s1 - s0)))
    mbps=$(awk -v b="$bytes" -v w="$w" 'BEGIN{printf "%.1f", b / 1e6 / w}')
    echo "  export: $((bytes / 1000000)) MB in $(printf '%.2f' "$w") s = $mbps MB/s  (server cpu $(tsecs $((s1 - s0))) s," \
         "curl cpu $(secs "$u" "$s") s; other processes $o% of machine)"
    if better "${OURS}_export" "$w" "$o"; then
      kv "${OURS}_export_s" "$w"; kv "${OURS}_export_bytes" "$bytes"; kv "${OURS}_export_mbps" "$mbps"
      kv "${OURS}_export_other_pct" "$o"
    fi
  }
  for ((r = 0; r < EXPORT_REPS + EXPORT_RETRIES; r++)); do
    ((r >= EXPORT_REPS && ${KC[${OURS}_export]:-0} == 1)) && break
    export_once || true
  done
  # untimed: the export holds every cell
  read -r nf nb st < <($PY "$HERE/annbench.py" count-features --url "$URL" --slide "$SLIDE_ID" || echo "? ? failed")
  echo "  export check: $nf features, $nb bytes, HTTP $st (expected $NCELLS features)"; kv "${OURS}_export_features" "$nf"
  rss=$(kb "$SRV_PID" VmRSS); hwm=$(kb "$SRV_PID" VmHWM)
  echo "  server RSS after queries and exports: $(mb "$rss") MB (peak so far $(mb "$hwm") MB)"
  kv "${OURS}_rss_end_mb" "$(mb "$rss")"; kv "${OURS}_hwm_end_mb" "$(mb "$hwm")"
}
((have_ours)) && export_phase
if ((have_pg)); then
  echo "== PostGIS serialisation of every row (COPY to this client; reference for export)"
  $PY "$HERE/annbench.py" pg-serialise "$WORK/pgser.json" --dsn "$DSN" --table cells --pg-pid "$PGPID" \
    || echo "  PostGIS serialisation FAILED"
fi

# --- 9. restart: the index rebuilt from SQLite, RSS with the cells loaded --------------------------
if ((have_ours)); then
  echo "== restart tessera serve (index loaded from annotations.db on first query)"
  stop_server
  if start_server "$WORK/serve2.log"; then
    box=$($PY -c 'import json,sys; b=json.load(open(sys.argv[1]))["viewport"][0]; print(f"{b[0]},{b[1]},{b[2]-b[0]},{b[3]-b[1]}")' "$WORK/boxes.json")
    $PY "$HERE/annbench.py" first-query "$WORK/first-query.json" --url "$URL" --slide "$SLIDE_ID" --box "$box" || true
    ms=$($PY -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["ms"]))' "$WORK/first-query.json" 2>/dev/null || echo "")
    [ -n "$ms" ] && kv ours_restart_first_query_ms "$ms"
    rss=$(kb "$SRV_PID" VmRSS); hwm=$(kb "$SRV_PID" VmHWM)
    echo "  server RSS after restart + 1 query: $(mb "$rss") MB (peak $(mb "$hwm") MB)"
    kv ours_rss_restart_mb "$(mb "$rss")"; kv ours_hwm_restart_mb "$(mb "$hwm")"
  fi
fi

# --- 9b. Tessera on PostgreSQL (--store postgres): import, queries, export again -----------------
have_ourspg=0
if [ "$STORE" = postgres ]; then
  OURS=ourspg STORE_DB=tessera_store
  STORE_ARGS=(--store "postgres://postgres@127.0.0.1:$PGPORT/$STORE_DB")
  echo "== Tessera on PostgreSQL ($STORE_DB on 127.0.0.1:$PGPORT): import $NCELLS cells"
  import_runs ourspg ours_import_once; have_ourspg=$OK_RUN
  if ((have_pg && have_ourspg)); then
    echo "== queries, Tessera on PostgreSQL (same boxes; PostGIS's sets are the ones above)"
    $PY "$HERE/annbench.py" queries "$WORK/boxes.json" "$WORK/queries-pgstore.json" --dsn "$DSN" --table cells \
      --url "$URL" --slide "$SLIDE_ID" --pg-pid "$PGPID" --srv-pid "$SRV_PID" --only-ours || echo "  queries FAILED"
  fi
  ((have_ourspg)) && export_phase
  stop_server
  OURS=ours STORE_ARGS=()
fi
cleanup

# --- 10. summary ----------------------------------------------------------------------------------
echo "== summary ($NCELLS cells, $((CELLS_BYTES / 1000000)) MB GeoJSON; $(nproc) cores; ratios are ours / PostGIS)"
pgstore=()
[ "$STORE" = postgres ] && pgstore=(--pgstore-queries "$WORK/queries-pgstore.json")
$PY "$HERE/annbench.py" report "$KV" "$WORK/queries.json" "$WORK/pgser.json" "$WORK/results.json" "${pgstore[@]}"
echo "  PEERS.md sanity figures: ogr2ogr 59.4 s (50 MB RSS); PostGIS viewport p50 7.0 / p99 11.3 ms (~619 hits)," \
     "region p50 106 / p99 162 ms (~10,500 hits); geometry serialisation 2.4 s"
echo "  (percentiles are nearest-rank over $NBOX boxes; PostGIS && is a bounding-box test, ours tests the polygon, so"
echo "   PostGIS returns a few more cells per box; an unreliable bar had other processes >= 10% or steal >= 5%;"
echo "   floor rows, in the ours column: nginx sending a file of our answer's size per box to the same client)"
echo "  results: $WORK/results.json (raw latencies: $WORK/queries.json)"
exit 0
