#!/usr/bin/env bash
# A throwaway PostgreSQL 15 with PostGIS on loopback, for the tests and benches that need
# one (Debian's postgresql-15-postgis-3, installed by scripts/setup.sh).
#   scripts/postgres.sh start DIR PORT   initdb into DIR, start on 127.0.0.1:PORT, create the
#                                        database `tessera`; prints its postgres:// address
#   scripts/postgres.sh stop DIR         stop it (DIR stays; remove it yourself)
# As root the cluster belongs to the `postgres` user, since initdb refuses to run as root.
set -euo pipefail
BIN=/usr/lib/postgresql/15/bin
cmd=${1:?start or stop}
dir=${2:?a directory}
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "$cmd" in
  start)
    port=${3:?a port}
    [ -x "$BIN/initdb" ] || { echo "no $BIN/initdb: install postgresql-15-postgis-3" >&2; exit 1; }
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
    as_owner "$BIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
    as_owner "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=on" start >/dev/null ||
      { cat "$dir/server.log" >&2; exit 1; }
    "$BIN/psql" -q -h 127.0.0.1 -p "$port" -U postgres -c "CREATE DATABASE tessera" >/dev/null
    echo "postgres://postgres@127.0.0.1:$port/tessera"
    ;;
  stop)
    [ -d "$dir/data" ] && as_owner "$BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    ;;
  *) echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
