#!/usr/bin/env bash
# Tile-serving benchmark: `tessera serve` (tile cache hot and off) vs nginx serving pre-cut
# JPEG tiles and iipsrv behind nginx, all measured in the same run with the same wrk client
# (1 thread, 16 connections, random tiles of the full-resolution Deep Zoom level; see
# ../shared/PEERS.md, "Tile serving"). Prints req/s, p50, p99 and errors per target, then the
# ratio bars with PASS/FAIL; always exits 0 once the measurements ran.
# Usage (from the repo root): bash benches/serving/run.sh [--s3 | --data s3://BUCKET/PREFIX]
#   --s3                   also serve the same cache from S3-compatible object storage: a
#                          throwaway SeaweedFS (scripts/seaweedfs.sh) on loopback; targets
#                          s3_hot and s3_cold next to ours_hot and ours_cold (local disk), and
#                          the bars s3_cold >= 1/2 of ours_cold, s3_hot unchanged (>= 0.9 of
#                          ours_hot). Without TESSERA_SERVE_ONLY, only these four targets run.
#   --data s3://B/PREFIX   the same against an S3 server of your own (AWS_* environment
#                          variables); the cache is uploaded as PREFIX/bench.tess
# Env: TESSERA_BENCH_DIR        work dir (default /tmp/tessera-bench; the slide is shared with
#                               benches/tiling/run.sh, serving files go to DIR/serving)
#      TESSERA_SERVE_DURATION   seconds per wrk run (15)
#      TESSERA_SERVE_PORT_BASE  first loopback port tried (18480)
#      TESSERA_BENCH_QUIET_WAIT max seconds to wait for a quiet machine before each run (120)
#      TESSERA_BENCH_NO_BUILD=1 skip `cargo build --release -p server` (use the binary as is)
#      TESSERA_SERVE_REPS       rounds of wrk runs (3); each round runs every target once (round
#                               robin, so drifts of this noisy 2-core VM hit all alike) and the
#                               fastest clean run per target is kept
#      TESSERA_SERVE_RETRIES    extra runs per target allowed when runs were disturbed (other
#                               processes >= 10% or hypervisor steal >= 5% of the machine) (3)
#      TESSERA_SERVE_ONLY       space-separated subset of: nginx iipsrv ours_hot ours_cold
#                               s3_hot s3_cold
set -euo pipefail
S3=""                      # "", "seaweedfs", or the s3:// prefix given with --data
while (($#)); do
  case $1 in
    --s3) S3=seaweedfs ;;
    --data) S3=${2:-}; shift ;;
    --data=*) S3=${1#--data=} ;;
    *) echo "usage: $0 [--s3 | --data s3://BUCKET/PREFIX]" >&2; exit 2 ;;
  esac
  shift
done
[ -z "$S3" ] || [ "$S3" = seaweedfs ] || [[ $S3 == s3://* ]] \
  || { echo "--data takes s3://BUCKET/PREFIX (a local cache directory is what the bench builds)" >&2; exit 2; }
cd "$(dirname "${BASH_SOURCE[0]}")/../.."          # repo root
ROOT=$PWD
HERE=$ROOT/benches/serving
WORK=${TESSERA_BENCH_DIR:-/tmp/tessera-bench}
SW=$WORK/serving
DUR=${TESSERA_SERVE_DURATION:-15}
PORT_BASE=${TESSERA_SERVE_PORT_BASE:-18480}
QUIET_WAIT=${TESSERA_BENCH_QUIET_WAIT:-120}
REPS=${TESSERA_SERVE_REPS:-3}
RETRIES=${TESSERA_SERVE_RETRIES:-3}
if [ -n "$S3" ]; then
  ONLY=" ${TESSERA_SERVE_ONLY:-ours_hot ours_cold s3_hot s3_cold} "
else
  ONLY=" ${TESSERA_SERVE_ONLY:-nginx iipsrv ours_hot ours_cold} "
fi
SRC=$ROOT/../shared/data/slides/CMU-1-Small-Region.svs
SLIDE=$WORK/bench.svs
TESSERA=$ROOT/target/release/tessera
IIPSRV=/usr/lib/iipimage-server/iipsrv.fcgi
LEVEL=15 GRID=70            # 17760x17802 -> Deep Zoom levels 0..15; 70x70 tiles of 256 px at 15
EDGE=69_69 EDGE_DIMS=96x138 # bottom-right tile: 17760 - 69*256 = 96, 17802 - 69*256 = 138
REF=30_30                   # a tissue tile (not background), compared across targets
CONNS=16 WRK_TIMEOUT=2s
MAXLIFE=3600                # hard cap (s) on any server we start, even if the trap never runs
mkdir -p "$SW"
wants() { [[ $ONLY == *" $1 "* ]]; }

# --- 1. tools (fast no-op when present) ------------------------------------------------------
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx)
[ -x $IIPSRV ] || need+=(iipimage-server)
command -v vips >/dev/null || need+=(libvips-tools)
command -v curl >/dev/null || need+=(curl)
command -v tiffset >/dev/null || need+=(libtiff-tools)
command -v openslide-show-properties >/dev/null || need+=(openslide-tools)
[ -x /usr/bin/time ] || need+=(time)
if ((${#need[@]})); then
  echo "installing: ${need[*]}"
  # Debian's nginx/iipimage-server postinst try to start their services; without systemd or
  # an init script that just fails harmlessly. We never use the system services or configs.
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq "${need[@]}"
fi

# --- 2. benchmark slide (shared with benches/tiling/run.sh, built once, reused) --------------
vendor() { openslide-show-properties "$1" 2>/dev/null | sed -n "s/^openslide.vendor: '\(.*\)'$/\1/p"; }
if [ ! -f "$SLIDE" ] || [ "$(vendor "$SLIDE")" != aperio ]; then
  # Same steps as benches/tiling/run.sh (PEERS.md, "Benchmark slide").
  [ -f "$SRC" ] || { echo "error: source slide missing: $SRC" >&2; exit 1; }
  echo "building $SLIDE ..."
  timeout 600 vips extract_band "$SRC[level=0]" "$WORK/rgb.v" 0 --n 3
  timeout 600 vips replicate "$WORK/rgb.v" "$WORK/tmp.tif[tile,tile-width=240,tile-height=240,pyramid,compression=jpeg,Q=70,bigtiff]" 8 6
  rm -f "$WORK/rgb.v"
  tiffset -s 270 'Aperio Image Library v12.0.15 17760x17802 (240x240) JPEG/RGB Q=70|AppMag = 20|MPP = 0.4990' \
    "$WORK/tmp.tif"
  mv "$WORK/tmp.tif" "$SLIDE"
fi
v=$(vendor "$SLIDE"); [ "$v" = aperio ] || { echo "error: $SLIDE vendor is '$v', want aperio" >&2; exit 1; }
dims=$(vipsheader -f width "$SLIDE")x$(vipsheader -f height "$SLIDE")
echo "slide: $SLIDE  $dims ($(du -m "$SLIDE" | cut -f1) MB)"
[ "$dims" = 17760x17802 ] || echo "  WARNING: expected 17760x17802; level $LEVEL / ${GRID}x$GRID tiles below assume it"

# --- 3. servers: bookkeeping and cleanup ------------------------------------------------------
declare -A SPID            # name -> pid of the `timeout` wrapping the server
stop_server() {            # TERM (forwarded by timeout to the server), then KILL after 5 s
  local p=${SPID[$1]:-} i
  [ -n "$p" ] || return 0
  kill -TERM "$p" 2>/dev/null || true
  for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$p" 2>/dev/null; then
    local c; for c in $(pgrep -P "$p" || true); do kill -KILL "$c" 2>/dev/null || true; done
    kill -KILL "$p" 2>/dev/null || true
  fi
  wait "$p" 2>/dev/null || true
  unset "SPID[$1]"
}
cleanup() { local n; for n in "${!SPID[@]}"; do stop_server "$n"; done; }
trap cleanup EXIT
trap 'echo "interrupted"; exit 130' INT TERM
start_server() {           # start_server NAME LOG CMD... (in the background, capped at MAXLIFE)
  local name=$1 log=$2; shift 2
  timeout -k 5 $MAXLIFE "$@" >"$log" 2>&1 &
  SPID[$name]=$!
}
port_free() { [ -z "$(ss -Htln "sport = :$1" 2>/dev/null)" ]; }
next_port=$PORT_BASE
pick_port() {              # sets PORT to the next free loopback port
  while ! port_free $next_port; do next_port=$((next_port + 1)); done
  PORT=$next_port; next_port=$((next_port + 1))
}
wait_port() {              # wait_port NAME PORT: up to 20 s for the server to accept
  local i
  for i in $(seq 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then return 0; fi
    kill -0 "${SPID[$1]}" 2>/dev/null || { echo "  $1 exited at startup"; return 1; }
    sleep 0.1
  done
  echo "  $1 not listening on :$2 after 20 s"; return 1
}
# All processes of a server (the timeout wrapper and its descendants).
tree() { local p; echo "$1"; for p in $(pgrep -P "$1" || true); do tree "$p"; done; }
# CPU ticks used so far by the given pids (utime + stime, children not included).
ticks() {
  local p t=0 f
  for p in "$@"; do
    f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    f=${f##*) }; read -r -a a <<<"$f"; t=$((t + a[11] + a[12]))
  done
  echo $t
}
# user+nice+system ticks of the whole machine (irq/softirq left out: loopback traffic of the
# benchmark itself lands there and is not charged to any process).
mticks() { head -n 1 /proc/stat | awk '{print $2 + $3 + $4}'; }
rss_mb() { local p t=0 k; for p in "$@"; do k=$(awk '/^VmRSS/{print $2}' "/proc/$p/status" 2>/dev/null) && t=$((t + ${k:-0})); done; echo $((t / 1024)); }
stealt() { head -n 1 /proc/stat | awk '{print $9}'; }   # time the hypervisor took from us
HZ=$(getconf CLK_TCK); NCPU=$(nproc)
source "$ROOT/benches/quiet.sh"

# --- 4. results ------------------------------------------------------------------------------
declare -A RPS P50 P99 NON2XX SOCKERR OTHER STEAL SRVCPU WRKCPU OK RUNS
# check NAME BASE_URL TILE_PATH_PREFIX [REF_DIR]: correct tiles (200, image/jpeg, JPEG data,
# 256x256 for tissue tile $REF, 96x138 at the bottom-right edge, which pins the level numbering),
# and when REF_DIR is given the mean |difference| of $REF against nginx's pre-cut tile (same place?).
check() {
  local name=$1 base=$2 pre=$3 ref=${4:-} t out code ctype size w h msg=""
  OK[$name]=0
  for t in $REF $EDGE; do
    out=$SW/check-$name-$t.jpg
    read -r code ctype size < <(timeout 30 curl -s -o "$out" -w '%{http_code} %{content_type} %{size_download}\n' \
      "$base$pre$t.jpg" || echo "000 none 0")
    w=$(vipsheader -f width "$out" 2>/dev/null || echo ?); h=$(vipsheader -f height "$out" 2>/dev/null || echo ?)
    msg+=" $t: $code $ctype ${size} B ${w}x$h;"
    if [ "$code" != 200 ] || [[ $ctype != image/jpeg* ]] || ((size < 1000)) \
       || [ "$(head -c 2 "$out" | od -An -tx1 | tr -d ' ')" != ffd8 ]; then
      echo "  check $name FAILED:$msg"; return 1
    fi
    local want=256x256; [ $t = $EDGE ] && want=$EDGE_DIMS
    [ "${w}x$h" = "$want" ] || { echo "  check $name FAILED (want $want):$msg"; return 1; }
  done
  if [ -n "$ref" ] && [ -f "$ref/$LEVEL/$REF.jpg" ]; then
    local d; d=$(vips subtract "$SW/check-$name-$REF.jpg" "$ref/$LEVEL/$REF.jpg" "$SW/diff.v" 2>/dev/null \
      && vips abs "$SW/diff.v" "$SW/absdiff.v" && vips avg "$SW/absdiff.v" 2>/dev/null || echo ?)
    rm -f "$SW/diff.v" "$SW/absdiff.v"
    msg+=" mean |diff| vs nginx tile: $(printf '%.2f' "$d" 2>/dev/null || echo "$d")"
    if awk -v d="$d" 'BEGIN{exit !(d + 0 > 8 || d == "?")}'; then
      echo "  check $name FAILED: tile $REF differs from nginx's (wrong place or level?):$msg"; return 1
    fi
  fi
  echo "  check $name ok:$msg"; OK[$name]=1
}
# keep NAME: after a bench_once, keep this run if it beats the kept one: a clean run (other
# processes < 10% and steal < 5% of the machine) beats a disturbed one, then higher req/s.
declare -A KEEP KCLEAN KRPS NCLEAN NRUNS
keep() {
  local name=$1 c=0
  NRUNS[$name]=$((${NRUNS[$name]:-0} + 1))
  ((OTHER[$name] < 10 && STEAL[$name] < 5)) && c=1 && NCLEAN[$name]=$((${NCLEAN[$name]:-0} + 1))
  if ((c > ${KCLEAN[$name]:--1} || (c == ${KCLEAN[$name]:--1} && RPS[$name] > ${KRPS[$name]:-0}))); then
    KCLEAN[$name]=$c; KRPS[$name]=${RPS[$name]}; cp "$SW/wrk-$name.txt" "$SW/wrk-$name.best"
    KEEP[$name]="${RPS[$name]} ${P50[$name]} ${P99[$name]} ${NON2XX[$name]} ${SOCKERR[$name]} ${SRVCPU[$name]} ${WRKCPU[$name]} ${OTHER[$name]} ${STEAL[$name]}"
  fi
}
restore() {  # restore NAME: the kept run back into the result arrays
  local name=$1
  [ -n "${KEEP[$name]:-}" ] || return 0
  read -r RPS[$name] P50[$name] P99[$name] NON2XX[$name] SOCKERR[$name] SRVCPU[$name] WRKCPU[$name] OTHER[$name] STEAL[$name] <<<"${KEEP[$name]}"
  mv "$SW/wrk-$name.best" "$SW/wrk-$name.txt"
  RUNS[$name]="${NRUNS[$name]} runs, ${NCLEAN[$name]:-0} clean"
}
# bench_once NAME BASE_URL TILE_PATH_PREFIX SERVER_NAME: one wrk run of random tiles.
bench_once() {
  local name=$1 base=$2 pre=$3 srv=$4 pids m0 m1 s0 s1 st0 st1 wu ws line
  wait_quiet
  local sv; pids=$(for sv in $srv; do tree "${SPID[$sv]}"; done)
  m0=$(mticks); s0=$(ticks $pids); st0=$(stealt)
  # shellcheck disable=SC2086
  if ! TILE_PREFIX=$pre TILE_GRID=$GRID /usr/bin/time -f '%U %S' -o "$SW/wrk-$name.time" \
      timeout -k 5 $((DUR + 60)) wrk -t1 -c$CONNS -d"${DUR}s" --timeout $WRK_TIMEOUT --latency \
      -s "$HERE/random_tile.lua" "$base" >"$SW/wrk-$name.txt" 2>&1; then
    echo "  wrk FAILED for $name:"; tail -n 5 "$SW/wrk-$name.txt" | sed 's/^/    /'; return 1
  fi
  m1=$(mticks); s1=$(ticks $pids); st1=$(stealt)
  read -r wu ws < <(tail -n 1 "$SW/wrk-$name.time")
  line=$(grep '^RESULT ' "$SW/wrk-$name.txt") || { echo "  no RESULT line from wrk for $name"; return 1; }
  eval "$(sed 's/^RESULT /local /; s/\([a-z0-9_]*\)=/r_\1=/g' <<<"$line")"
  # shellcheck disable=SC2154
  RPS[$name]=$(awk -v n="$r_requests" -v d="$r_duration_us" 'BEGIN{printf "%.0f", n / (d / 1e6)}')
  P50[$name]=$(awk -v v="$r_p50_us" 'BEGIN{printf "%.2f", v / 1000}')
  P99[$name]=$(awk -v v="$r_p99_us" 'BEGIN{printf "%.2f", v / 1000}')
  NON2XX[$name]=$r_status
  SOCKERR[$name]=$((r_connect + r_read + r_write + r_timeout))
  # CPU of the server, of wrk, and of everything else during the run (% of one core / machine)
  local sec; sec=$(awk -v d="$r_duration_us" 'BEGIN{print d / 1e6}')
  SRVCPU[$name]=$(awk -v t=$((s1 - s0)) -v hz="$HZ" -v s="$sec" 'BEGIN{printf "%d", 100 * t / hz / s}')
  WRKCPU[$name]=$(awk -v u="$wu" -v k="$ws" -v s="$sec" 'BEGIN{printf "%d", 100 * (u + k) / s}')
  OTHER[$name]=$(awk -v m=$((m1 - m0)) -v t=$((s1 - s0)) -v u="$wu" -v k="$ws" -v hz="$HZ" -v s="$sec" -v n="$NCPU" \
    'BEGIN{o = ((m - t) / hz - u - k) / (s * n) * 100; printf "%d", o < 0 ? 0 : o}')
  printf '  %-10s %9s req/s  p50 %7s ms  p99 %7s ms  non-2xx %s  socket errors %s' "$name" "${RPS[$name]}" \
    "${P50[$name]}" "${P99[$name]}" "${NON2XX[$name]}" "${SOCKERR[$name]}"
  STEAL[$name]=$(awk -v t=$((st1 - st0)) -v hz="$HZ" -v s="$sec" -v n="$NCPU" 'BEGIN{printf "%d", 100 * t / hz / s / n}')
  printf '  (server %s%% of a core, %s MB RSS; wrk %s%%; other processes %s%%, steal %s%% of machine)\n' \
    "${SRVCPU[$name]}" "$(rss_mb $pids)" "${WRKCPU[$name]}" "${OTHER[$name]}" "${STEAL[$name]}"
  ((OTHER[$name] < 10)) || echo "  WARNING: machine was busy during $name - its figures are unreliable"
  ((STEAL[$name] < 5)) || echo "  WARNING: the hypervisor took CPU (steal) during $name - its figures are unreliable"
  ((r_status + r_connect + r_read + r_write + r_timeout == 0)) || echo "  WARNING: $name had errors (see $SW/wrk-$name.txt)"
}
# Read files once so every target starts from the OS page cache (the slide files are small).
page_cache() { find "$@" -type f -exec cat {} + >/dev/null; }

# --- 5. build ours first (fails fast; a missing binary only skips our rows) ----------------------
have_ours=0
if wants ours_hot || wants ours_cold || wants s3_hot || wants s3_cold; then
  if [ "${TESSERA_BENCH_NO_BUILD:-0}" != 1 ]; then
    echo "== cargo build --release -p server"
    timeout 1800 cargo build --release -p server >"$SW/build.log" 2>&1 \
      || { echo "  build failed (log: $SW/build.log)"; tail -n 3 "$SW/build.log" | sed 's/^/    /'; }
  fi
  if [ -x "$TESSERA" ] && timeout 10 "$TESSERA" serve --help >/dev/null 2>&1; then have_ours=1
  else echo "  tessera serve not available: our rows are skipped"; fi
fi

# --- 6. peer files (built once, reused; a stamp marks a complete build) -------------------------
stamp="$(stat -c '%s %Y' "$SLIDE")"
build_once() {             # build_once NAME TARGET CMD...
  local name=$1 target=$2; shift 2
  if [ -f "$target.stamp" ] && [ "$(cat "$target.stamp")" = "$stamp" ]; then return 0; fi
  echo "  building $name ($*) ..."
  rm -rf "$target" "$target.stamp"
  local t0=$SECONDS
  timeout 1200 "$@" >"$SW/$name.log" 2>&1 || { echo "  FAILED: $name (log: $SW/$name.log)"; return 1; }
  echo "$stamp" >"$target.stamp"; echo "  $name: $((SECONDS - t0)) s"
}
echo "== peer files"
have_dz=0 have_tif=0
if wants nginx; then
  mkdir -p "$SW/dz"
  build_once dzsave "$SW/dz/slide_files" vips dzsave "$SLIDE" "$SW/dz/slide" \
    --tile-size 256 --overlap 0 --suffix '.jpg[Q=90]' && have_dz=1
fi
if wants iipsrv; then
  mkdir -p "$SW/iip"
  build_once tiffsave "$SW/iip/slide.tif" vips tiffsave "$SLIDE" "$SW/iip/slide.tif" --tile --tile-width 256 \
    --tile-height 256 --pyramid --compression jpeg --Q 90 --bigtiff && have_tif=1
fi
if ((have_dz)); then
  echo "  dzsave: $(ls "$SW/dz/slide_files" | sort -n | tail -n 1) = top level," \
       "$(find "$SW/dz/slide_files/$LEVEL" -name '*.jpg' | wc -l) tiles there, $(vipsheader -f bands "$SW/dz/slide_files/$LEVEL/0_0.jpg") bands"
fi

# --- 7. nginx: one instance, own prefix/config, 1 worker, two loopback servers ------------------
NGX=$SW/nginx
pick_port; P_STATIC=$PORT; pick_port; P_IIPFRONT=$PORT; pick_port; P_FCGI=$PORT
pick_port; P_HOT=$PORT; pick_port; P_COLD=$PORT
pick_port; P_S3HOT=$PORT; pick_port; P_S3COLD=$PORT
have_nginx=0
if ((have_dz || have_tif)); then
  rm -rf "$NGX"; mkdir -p "$NGX/tmp" "$NGX/logs"
  user=""; [ "$(id -u)" = 0 ] && user="user root;"   # workers must read the work dir
  cat >"$NGX/nginx.conf" <<EOF
# Generated by benches/serving/run.sh - not a system config.
$user
worker_processes 1;
pid $NGX/nginx.pid;
error_log $NGX/logs/error.log warn;
events { worker_connections 1024; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log off;
  sendfile on;
  client_body_temp_path $NGX/tmp/body;
  proxy_temp_path $NGX/tmp/proxy;
  fastcgi_temp_path $NGX/tmp/fastcgi;
  uwsgi_temp_path $NGX/tmp/uwsgi;
  scgi_temp_path $NGX/tmp/scgi;
  server {                      # pre-cut tiles from vips dzsave
    listen 127.0.0.1:$P_STATIC;
    root $SW/dz;
  }
  server {                      # iipsrv front
    listen 127.0.0.1:$P_IIPFRONT;
    location /fcgi-bin/iipsrv.fcgi {
      include /etc/nginx/fastcgi_params;
      fastcgi_pass 127.0.0.1:$P_FCGI;
      fastcgi_keep_conn on;
    }
  }
}
EOF
  if timeout 10 nginx -t -p "$NGX" -e "$NGX/logs/error.log" -c "$NGX/nginx.conf" >"$NGX/test.log" 2>&1; then
    start_server nginx "$NGX/logs/stdout.log" nginx -p "$NGX" -e "$NGX/logs/error.log" -c "$NGX/nginx.conf" -g 'daemon off;'
    wait_port nginx $P_STATIC && have_nginx=1
  else
    echo "  nginx config test failed:"; sed 's/^/    /' "$NGX/test.log"
  fi
fi

echo "== servers and checks (wrk will run -t1 -c$CONNS -d${DUR}s, random tiles of level $LEVEL, ${GRID}x$GRID)"
# Every server is started, checked (and ours_hot warmed) first; then the wrk runs go round
# robin over the targets, so slow drifts of this VM's speed hit all targets alike.
declare -A T_BASE T_PRE T_SRV
TARGETS=()
dzref=""; ((have_dz)) && dzref=$SW/dz/slide_files
# --- 8. nginx static ----------------------------------------------------------------------------
if ((have_dz && have_nginx)); then
  page_cache "$SW/dz/slide_files/$LEVEL"
  if check nginx "http://127.0.0.1:$P_STATIC" "/slide_files/$LEVEL/"; then
    TARGETS+=(nginx); T_BASE[nginx]=http://127.0.0.1:$P_STATIC T_PRE[nginx]=/slide_files/$LEVEL/ T_SRV[nginx]=nginx
  fi
fi

# --- 9. iipsrv (one process, default settings) behind the same nginx ------------------------------
if ((have_tif && have_nginx)); then
  page_cache "$SW/iip/slide.tif"
  start_server iipsrv "$SW/iipsrv.out" env FILESYSTEM_PREFIX="$SW/iip/" $IIPSRV --bind 127.0.0.1:$P_FCGI
  IIP_PRE="/fcgi-bin/iipsrv.fcgi?DeepZoom=slide.tif_files/$LEVEL/"
  if wait_port iipsrv $P_FCGI && check iipsrv "http://127.0.0.1:$P_IIPFRONT" "$IIP_PRE" "$dzref"; then
    # the nginx front's worker is part of this target's server CPU too
    TARGETS+=(iipsrv); T_BASE[iipsrv]=http://127.0.0.1:$P_IIPFRONT T_PRE[iipsrv]=$IIP_PRE T_SRV[iipsrv]="iipsrv nginx"
  fi
fi

# --- 10. ours -------------------------------------------------------------------------------------
# warm NAME PORT: every tile of the level once, sequentially, over one keep-alive connection
warm() {
  local r c t0 codes
  for ((r = 0; r < GRID; r++)); do for ((c = 0; c < GRID; c++)); do
    printf 'url = "http://127.0.0.1:%s%s%d_%d.jpg"\noutput = "/dev/null"\n' "$2" "$OURS_PRE" $c $r
  done; done >"$SW/warm.curl"
  t0=$SECONDS
  codes=$(timeout 600 curl -s -K "$SW/warm.curl" -w '%{http_code}\n' | sort | uniq -c | awk '{printf "%s x %s ", $1, $2}' || true)
  echo "  warm-up $1: $((GRID * GRID)) tiles in $((SECONDS - t0)) s, status: $codes"
}
if ((have_ours)); then
  echo "  building our cache: tessera tile $SLIDE -o $SW/tess --id bench"
  rm -rf "$SW/tess"
  if timeout 600 "$TESSERA" tile "$SLIDE" -o "$SW/tess" --id bench >"$SW/tile.log" 2>&1; then
    page_cache "$SW/tess"
    OURS_PRE="/dzi/bench_files/$LEVEL/"
    if wants ours_hot; then
      start_server ours_hot "$SW/ours_hot.log" "$TESSERA" serve --data "$SW/tess" --addr 127.0.0.1:$P_HOT --cache-mb 512
      if wait_port ours_hot $P_HOT && check ours_hot "http://127.0.0.1:$P_HOT" "$OURS_PRE" "$dzref"; then
        warm ours_hot $P_HOT
        TARGETS+=(ours_hot); T_BASE[ours_hot]=http://127.0.0.1:$P_HOT T_PRE[ours_hot]=$OURS_PRE T_SRV[ours_hot]=ours_hot
      fi
    fi
    if wants ours_cold; then
      start_server ours_cold "$SW/ours_cold.log" "$TESSERA" serve --data "$SW/tess" --addr 127.0.0.1:$P_COLD --cache-mb 0
      if wait_port ours_cold $P_COLD && check ours_cold "http://127.0.0.1:$P_COLD" "$OURS_PRE" "$dzref"; then
        TARGETS+=(ours_cold); T_BASE[ours_cold]=http://127.0.0.1:$P_COLD T_PRE[ours_cold]=$OURS_PRE T_SRV[ours_cold]=ours_cold
      fi
    fi
  else
    echo "  tessera tile FAILED (log: $SW/tile.log)"; tail -n 3 "$SW/tile.log" | sed 's/^/    /'
  fi
fi

# --- 10b. ours, the same cache in object storage ----------------------------------------------------
if ((have_ours)) && { wants s3_hot || wants s3_cold; }; then
  S3_SRV=""                # processes charged to the s3 targets besides tessera: the S3 server
  if [ "$S3" = seaweedfs ]; then
    echo "  starting SeaweedFS: scripts/seaweedfs.sh start $SW/seaweedfs"
    rm -rf "$SW/seaweedfs"
    if "$ROOT/scripts/seaweedfs.sh" start "$SW/seaweedfs" | sed 's/^/  /'; then
      SPID[weed]=$(cat "$SW/seaweedfs/pid"); S3_SRV=" weed"
      # shellcheck disable=SC1091
      . "$SW/seaweedfs/env"
      S3_URL=s3://tessera/bench
    else S3_URL=""; fi
  else
    S3_URL=${S3%/}
  fi
  if [ -n "$S3_URL" ]; then
    echo "  uploading our cache: tessera tile $SLIDE -o $S3_URL --id bench"
    OURS_PRE="/dzi/bench_files/$LEVEL/"
    rm -rf "$SW/s3-store"; mkdir -p "$SW/s3-store"
    if timeout 600 "$TESSERA" tile "$SLIDE" -o "$S3_URL" --id bench >"$SW/tile-s3.log" 2>&1; then
      if wants s3_hot; then
        start_server s3_hot "$SW/s3_hot.log" "$TESSERA" serve --data "$S3_URL" --store "$SW/s3-store" \
          --addr 127.0.0.1:$P_S3HOT --cache-mb 512
        if wait_port s3_hot $P_S3HOT && check s3_hot "http://127.0.0.1:$P_S3HOT" "$OURS_PRE" "$dzref"; then
          warm s3_hot $P_S3HOT
          TARGETS+=(s3_hot); T_BASE[s3_hot]=http://127.0.0.1:$P_S3HOT T_PRE[s3_hot]=$OURS_PRE T_SRV[s3_hot]="s3_hot$S3_SRV"
        fi
      fi
      if wants s3_cold; then
        start_server s3_cold "$SW/s3_cold.log" "$TESSERA" serve --data "$S3_URL" --store "$SW/s3-store" \
          --addr 127.0.0.1:$P_S3COLD --cache-mb 0
        if wait_port s3_cold $P_S3COLD && check s3_cold "http://127.0.0.1:$P_S3COLD" "$OURS_PRE" "$dzref"; then
          TARGETS+=(s3_cold); T_BASE[s3_cold]=http://127.0.0.1:$P_S3COLD T_PRE[s3_cold]=$OURS_PRE T_SRV[s3_cold]="s3_cold$S3_SRV"
        fi
      fi
    else
      echo "  tessera tile -o $S3_URL FAILED (log: $SW/tile-s3.log)"; tail -n 3 "$SW/tile-s3.log" | sed 's/^/    /'
    fi
  fi
fi

# --- 11. wrk rounds: REPS rounds over all targets, then extra runs for targets short of clean ones
if ((${#TARGETS[@]})); then
  echo "== wrk runs (${TARGETS[*]}; $REPS rounds, up to $RETRIES extra runs per target if disturbed)"
  for ((round = 1; round <= REPS; round++)); do
    for t in "${TARGETS[@]}"; do
      bench_once $t "${T_BASE[$t]}" "${T_PRE[$t]}" "${T_SRV[$t]}" && keep $t || true
    done
  done
  for t in "${TARGETS[@]}"; do
    for ((x = 0; x < RETRIES && ${NCLEAN[$t]:-0} < REPS; x++)); do
      echo "  extra run for $t (${NCLEAN[$t]:-0} of $REPS runs clean so far)"
      bench_once $t "${T_BASE[$t]}" "${T_PRE[$t]}" "${T_SRV[$t]}" && keep $t || true
    done
    restore $t
  done
fi
cleanup

# --- 12. summary ----------------------------------------------------------------------------------
echo "== summary (wrk -t1 -c$CONNS -d${DUR}s, fastest clean of $REPS runs, $NCPU cores shared by wrk and the server)"
printf '  %-10s %10s %9s %9s %8s %8s %8s %7s  %s\n' target 'req/s' 'p50 ms' 'p99 ms' non-2xx 'sock err' 'srv cpu%' 'other%' runs
for t in nginx iipsrv ours_hot ours_cold s3_hot s3_cold; do
  wants $t || [ -n "${RPS[$t]:-}" ] || continue
  if [ -n "${RPS[$t]:-}" ]; then
    printf '  %-10s %10s %9s %9s %8s %8s %8s %7s  %s\n' $t "${RPS[$t]}" "${P50[$t]}" "${P99[$t]}" "${NON2XX[$t]}" \
      "${SOCKERR[$t]}" "${SRVCPU[$t]}" "${OTHER[$t]}" "${RUNS[$t]}"
  else printf '  %-10s %10s\n' $t n/a; fi
done
echo "  (srv cpu% = the target's server processes, % of one core (iipsrv: iipsrv + its nginx front;"
echo "   s3_*: tessera + the SeaweedFS it reads from, when the bench started one);"
echo "   other% = CPU of other processes during the run, % of the machine; a run is clean when other% < 10"
echo "   and hypervisor steal < 5%; a row with no clean run is flagged unreliable in the bars)"
echo "  PEERS.md sanity figures: nginx ~57,000 req/s (p50 0.22 ms); iipsrv ~760 req/s, p50 21 ms, p99 27 ms"
unreliable() { local t; for t in "$@"; do [ -n "${OTHER[$t]:-}" ] && ((OTHER[$t] >= 10 || STEAL[$t] >= 5)) && echo -n " $t"; done; true; }
errs() { local t; for t in "$@"; do [ -n "${RPS[$t]:-}" ] && ((NON2XX[$t] + SOCKERR[$t] > 0)) && echo -n " $t"; done; true; }
# bar LABEL VALUE OP LIMIT UNIT TARGETS...: PASS/FAIL, flagged when a row was unreliable or had errors
bar() {
  local l=$1 v=$2 op=$3 m=$4 u=$5; shift 5
  local n="" b e; b=$(unreliable "$@"); e=$(errs "$@")
  [ -n "$b" ] && n+="  (unreliable: machine busy during$b)"
  [ -n "$e" ] && n+="  (errors in$e)"
  awk -v l="$l" -v v="$v" -v op="$op" -v m="$m" -v u="$u" -v n="$n" 'BEGIN{
    ok = (op == ">=") ? v >= m : v <= m
    printf "  %-28s %8.3g%s  bar %s %s%s  %s%s\n", l, v, u, op, m, u, (ok ? "PASS" : "FAIL"), n }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{print a / b}'; }
if [ -n "${RPS[ours_hot]:-}" ] && [ -n "${RPS[nginx]:-}" ]; then
  bar "ours_hot / nginx req/s" "$(ratio "${RPS[ours_hot]}" "${RPS[nginx]}")" '>=' 0.5 "" ours_hot nginx
else echo "  ours_hot / nginx req/s: n/a"; fi
if [ -n "${RPS[ours_cold]:-}" ] && [ -n "${RPS[iipsrv]:-}" ]; then
  bar "ours_cold / iipsrv req/s" "$(ratio "${RPS[ours_cold]}" "${RPS[iipsrv]}")" '>=' 2.0 "" ours_cold iipsrv
else echo "  ours_cold / iipsrv req/s: n/a"; fi
if [ -n "${P99[ours_cold]:-}" ]; then
  bar "ours_cold p99 (kept run)" "${P99[ours_cold]}" '<=' 25 " ms" ours_cold
else echo "  ours_cold p99: n/a"; fi
if [ -n "$S3" ]; then
  if [ -n "${RPS[s3_cold]:-}" ] && [ -n "${RPS[ours_cold]:-}" ]; then
    bar "s3_cold / ours_cold req/s" "$(ratio "${RPS[s3_cold]}" "${RPS[ours_cold]}")" '>=' 0.5 "" s3_cold ours_cold
    echo "  p99 cold: local disk ${P99[ours_cold]} ms, object storage ${P99[s3_cold]} ms"
  else echo "  s3_cold / ours_cold req/s: n/a"; fi
  if [ -n "${RPS[s3_hot]:-}" ] && [ -n "${RPS[ours_hot]:-}" ]; then
    bar "s3_hot / ours_hot req/s" "$(ratio "${RPS[s3_hot]}" "${RPS[ours_hot]}")" '>=' 0.9 "" s3_hot ours_hot
    echo "  p99 hot: local disk ${P99[ours_hot]} ms, object storage ${P99[s3_hot]} ms"
  else echo "  s3_hot / ours_hot req/s: n/a"; fi
fi
echo "  raw wrk output: $SW/wrk-*.txt"
exit 0
