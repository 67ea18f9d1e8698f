#!/usr/bin/env bash
# mariadb-server: a throwaway MariaDB server for the end-to-end tests.
#   mariadb-server.sh start DIR PORT   mariadb-install-db in DIR/my, then serve on 127.0.0.1:PORT
#                                      and the socket DIR/my/sock (root logs in there without a
#                                      password: the tests' superuser; TCP accounts have
#                                      passwords, as snowgate's grantor does in production)
#                                      (again on the same DIR: a restart on the same data)
#   mariadb-server.sh stop DIR         stop it (SIGTERM, then SIGKILL after 20 s) and wait
# Reads no option file (--no-defaults). Started as root, the server runs as root (--user=root):
# everything it touches is in DIR, so nothing else on the machine changes.
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?DIR}
my="$dir/my"
if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
  echo "mariadb-server: mariadbd not found; run scripts/install-deps.sh (mariadb-server)" >&2
  exit 1
fi
mariadbd=$(command -v mariadbd || echo /usr/sbin/mariadbd)
as=()
if [ "$(id -u)" -eq 0 ]; then as=(--user=root); fi
case "$cmd" in
start)
  port=${3:?PORT}
  mkdir -p "$my/data"
  # A restart (the tests stop and start the server to make it unreachable) keeps its data.
  [ -d "$my/data/mysql" ] || mariadb-install-db --no-defaults "${as[@]}" --datadir="$my/data" \
    --auth-root-authentication-method=normal --skip-test-db >"$dir/install-db.log" 2>&1 ||
    { cat "$dir/install-db.log" >&2; exit 1; }
  # The socket path must fit sun_path (108 bytes); the tests' TMPDIR can be long.
  sock="$my/sock"
  if [ "${#sock}" -gt 100 ]; then
    echo "mariadb-server: socket path $sock is too long; use a shorter TMPDIR" >&2
    exit 1
  fi
  setsid "$mariadbd" --no-defaults "${as[@]}" --datadir="$my/data" --socket="$sock" \
    --port="$port" --bind-address=127.0.0.1 --pid-file="$my/mariadbd.pid" \
    --log-error="$my/server.log" --skip-log-bin --innodb-buffer-pool-size=16M \
    --innodb-log-file-size=8M --innodb-flush-log-at-trx-commit=0 --skip-name-resolve \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_bin \
    </dev/null >/dev/null 2>&1 &
  echo $! >"$my/launcher.pid"
  for _ in $(seq 1 600); do
    if mariadb-admin --no-defaults -S "$sock" -u root ping >/dev/null 2>&1; then exit 0; fi
    if ! kill -0 "$(cat "$my/launcher.pid")" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "mariadb-server: the server did not come up:" >&2
  cat "$my/server.log" >&2 2>/dev/null || true
  exit 1
  ;;
stop)
  [ -f "$my/launcher.pid" ] || exit 0
  pid=$(cat "$my/launcher.pid")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || exit 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || exit 0
    sleep 0.1
  done
  echo "mariadb-server: pid $pid did not stop" >&2
  exit 1
  ;;
*)
  echo "mariadb-server: unknown command $cmd" >&2
  exit 2
  ;;
esac
