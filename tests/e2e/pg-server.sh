#!/usr/bin/env bash
# pg-server: a throwaway PostgreSQL server for the end-to-end tests.
#   pg-server.sh start DIR PORT   initdb in DIR/pg, then serve on 127.0.0.1:PORT and a socket in
#                                 DIR/pg/sock. Local socket: trust (the tests' superuser);
#                                 TCP: scram-sha-256 with passwords (what snowgate uses).
#   pg-server.sh stop DIR         stop it at once
# Runs the server as the postgres user when started as root (PostgreSQL refuses root). When that
# user cannot reach DIR (TMPDIR under /root, mode 700), the cluster goes in a fresh directory
# under /var/tmp that it owns (mode 700) and DIR/pg links to it; stop removes it.
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?DIR}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "pg-server: no PostgreSQL server found under /usr/lib/postgresql; run scripts/install-deps.sh" >&2
  exit 1
fi
as_pg() { # from /: the postgres user may not be able to enter the current directory
  if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}
outside=/var/tmp/sg-test-pg.
pg="$dir/pg"
# The cluster's real directory: what the postgres user opens (data, socket, log) is under it.
[ -L "$pg" ] && pg=$(readlink "$pg")
case "$cmd" in
start)
  port=${3:?PORT}
  chmod 755 "$dir"
  if [ "$(id -u)" -eq 0 ] && ! as_pg test -x "$dir"; then
    pg=$(mktemp -d "${outside}XXXXXX")
    ln -sfn "$pg" "$dir/pg"
  fi
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
  # Only a directory mktemp made above, never a path that climbs out of /var/tmp.
  if [[ "$pg" =~ ^/var/tmp/sg-test-pg\.[A-Za-z0-9]{6}$ ]]; then rm -rf -- "$pg" "$dir/pg"; fi
  ;;
*)
  echo "pg-server: unknown command $cmd" >&2
  exit 2
  ;;
esac
