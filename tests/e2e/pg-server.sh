#!/usr/bin/env bash
# pg-server: a throwaway PostgreSQL server for the end-to-end tests.
#   pg-server.sh start DIR PORT   initdb in DIR/pg, then serve on 127.0.0.1:PORT and a socket in
#                                 DIR/pg/sock. Local socket: trust (the tests' superuser);
#                                 TCP: scram-sha-256 with passwords (what snowgate uses).
#   pg-server.sh stop DIR         stop it at once
# Runs the server as the postgres user when started as root (PostgreSQL refuses root).
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?DIR}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "pg-server: no PostgreSQL server found under /usr/lib/postgresql; run scripts/install-deps.sh" >&2
  exit 1
fi
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
pg="$dir/pg"
case "$cmd" in
start)
  port=${3:?PORT}
  chmod 755 "$dir"
  mkdir -p "$pg/sock"
  if [ "$(id -u)" -eq 0 ]; then chown -R postgres "$pg"; fi
  as_pg "$bin/initdb" -D "$pg/data" -U postgres -E UTF8 --locale=C.UTF-8 --no-sync \
    --auth-local=trust --auth-host=scram-sha-256 >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; exit 1; }
  as_pg "$bin/pg_ctl" -D "$pg/data" -l "$pg/server.log" -w -t 60 -o \
    "-p $port -k $pg/sock -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off" \
    start >/dev/null || { cat "$pg/server.log" >&2; exit 1; }
  ;;
stop)
  as_pg "$bin/pg_ctl" -D "$pg/data" -m immediate -w stop >/dev/null 2>&1 || true
  ;;
*)
  echo "pg-server: unknown command $cmd" >&2
  exit 2
  ;;
esac
