#!/usr/bin/env bash
# Runs the official IIIF Image API validator (iiif-validator 1.0.5 from PyPI, in a venv
# under target/) against `tessera serve` with the IIIF test image. Fails when any level-1
# test fails; reports the level-2 results.
# Usage: scripts/iiif-validate.sh [path/to/tessera]   (default target/debug/tessera)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/debug/tessera}
image=../shared/data/iiif/validation_image.png
id=67352ccc-d1b0-11e1-89ae-279075081939
[ -f "$image" ] || { echo "error: $image is missing" >&2; exit 1; }
venv=target/iiif-venv
if [ ! -x "$venv/bin/iiif-validate.py" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check iiif-validator==1.0.5
fi
work=$(mktemp -d)
trap 'kill "${server:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
"$bin" tile "$image" -o "$work" --id "$id" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --data "$work" --addr "127.0.0.1:$port" 2>"$work/server.log" >/dev/null &
server=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
status=0
for level in 1 2; do
  out=$("$venv/bin/iiif-validate.py" -s "127.0.0.1:$port" -p iiif/3 -i "$id" --version=3.0 --level=$level 2>&1 || true)
  summary=$(grep -E '^Done' <<<"$out" || echo "no result")
  echo "IIIF level $level: $summary"
  grep -E ' FAIL' <<<"$out" || true
  if [ "$level" = 1 ] && ! grep -q ' 0 failures' <<<"$summary"; then status=1; fi
done
exit $status
