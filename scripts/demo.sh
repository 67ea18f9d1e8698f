#!/usr/bin/env bash
# The whole product on one machine: a PostgreSQL cluster with sample data (unix socket only),
# snowsim set up through the real ServiceNow setup path (`snowgate servicenow provision`), and
# snowgate connected to it, with demo users and assets. Data lives in ./demo-data and is
# reused on the next run (`make demo-reset` starts over). Ctrl-C stops everything.
#   scripts/demo.sh [--no-wait]   --no-wait: bring everything up, print the banner, stop
#   scripts/demo.sh --reset       forget the data (make demo-reset)
# As root, PostgreSQL runs as the postgres user. When that user cannot reach the data directory
# (a checkout in /root, mode 700), the cluster lives in the postgres user's home instead, in
# snowgate-demo-HASH (HASH: of the data directory's path, so checkouts don't collide; owned by
# postgres, mode 700), and demo-data/pg links to it. The home folder's mode is left alone.
# Environment: DEMO_GATE_PORT (8080), DEMO_SIM_PORT (8443), DEMO_DATA
# (./demo-data), DEMO_BUILD (the build directory with the binaries, ./build).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
data=${DEMO_DATA:-$root/demo-data}
bin=${DEMO_BUILD:-$root/build}
gate_port=${DEMO_GATE_PORT:-8080}
sim_port=${DEMO_SIM_PORT:-8443}
wait=1
reset=0
case "${1:-}" in
--no-wait) wait=0 ;;
--reset) reset=1 ;;
"") ;;
*) echo "usage: scripts/demo.sh [--no-wait | --reset]" >&2; exit 2 ;;
esac
gate_url="http://127.0.0.1:$gate_port"
sim_url="http://127.0.0.1:$sim_port"
sim_admin_pw="admin-Demo-1"
pids=()

say() { echo "demo: $*"; }
die() { echo "demo: $*" >&2; exit 1; }

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
# From /: the postgres user may not be able to enter the current directory.
as_pg() { if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }
# Where the cluster lives when demo-data/pg is a link (see the top): only such a directory is
# ever removed through the link.
pg_home=$(getent passwd postgres 2>/dev/null | cut -d: -f6 || true)
outside_pg() { # the directory for this data directory's cluster, in the postgres user's home
  echo "$pg_home/snowgate-demo-$(printf '%s' "$(realpath -m "$data")" | sha256sum | cut -c1-16)"
}
is_outside_pg() { # is $1 such a directory (of this or another path of the checkout)?
  [ -n "$pg_home" ] && [[ "$1" =~ ^"$pg_home"/snowgate-demo-[0-9a-f]{16}$ ]]
}
if [ "$reset" = 1 ]; then
  if [ -L "$data/pg" ]; then
    target=$(readlink "$data/pg")
    is_outside_pg "$target" || die "$data/pg links to $target, which the demo did not make; remove it by hand"
    if [ -f "$target/data/postmaster.pid" ] && [ -x "$pg_bin/pg_ctl" ]; then
      as_pg "$pg_bin/pg_ctl" -D "$target/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf -- "$target"
  fi
  rm -rf -- "$data"
  exit 0
fi

[ -x "$pg_bin/initdb" ] || die "PostgreSQL is missing; run scripts/install-deps.sh"
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_busy "$gate_port" && die "port $gate_port is busy; set DEMO_GATE_PORT to a free port"
port_busy "$sim_port" && die "port $sim_port is busy; set DEMO_SIM_PORT to a free port"

stop_all() {
  trap - INT TERM EXIT
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "${pg:-}" ] && as_pg "$pg_bin/pg_ctl" -D "$pg/data" -m fast -w stop >/dev/null 2>&1 || true
}
# Ctrl-C (or a TERM) ends the demo, the way it is meant to: not "a server stopped".
trap stop_all EXIT
trap 'stop_all; say "stopped"; exit 0' INT TERM

# 1. PostgreSQL: a throwaway cluster on a unix socket, no TCP. $pg is the cluster's directory
# as its real path: everything the postgres user opens (data, socket, log) is under it.
mkdir -p "$data"
# As root, write only into a directory of root's own: logs, tokens and the store go there, and
# a directory someone else made (or a link) could redirect them.
if [ "$(id -u)" -eq 0 ] && { [ -L "$data" ] || [ ! -O "$data" ]; }; then
  die "$data is a link or belongs to another user; as root, point DEMO_DATA at a new directory of root's own"
fi
chmod 755 "$data"
pg="$data/pg"
if [ "$(id -u)" -eq 0 ] && { [ -L "$pg" ] || ! as_pg test -x "$data"; }; then
  out=$(outside_pg)
  [ -n "$pg_home" ] && [ -d "$pg_home" ] && [ "$(stat -c %U "$pg_home")" = postgres ] ||
    die "the postgres user cannot reach $data and has no home directory of its own to keep the cluster in; set DEMO_DATA to a new directory it can reach, e.g. DEMO_DATA=\$(mktemp -d /var/tmp/snowgate-demo.XXXXXX)"
  if [ -L "$pg" ]; then
    # Made by an earlier run (perhaps before the checkout moved, hence any such directory).
    out=$(readlink "$pg")
    is_outside_pg "$out" || die "$pg links to $out, which the demo did not make; remove the link $pg by hand, then run make demo again"
  elif [ -f "$pg/data/PG_VERSION" ]; then
    die "the postgres user can no longer reach the cluster in $pg: move the checkout back, or run make demo-reset to start over"
  elif [ -e "$pg" ]; then
    rm -rf -- "$pg" # left by a run whose initdb could not reach it
  fi
  if [ ! -L "$pg" ] && [ -e "$out" ]; then
    # Left from a demo-data removed by hand: its cluster belongs to data that is gone.
    say "removing $out, a PostgreSQL cluster left from an earlier demo-data"
    rm -rf -- "$out"
  fi
  if [ ! -e "$out" ]; then
    say "the postgres user cannot reach $data: the cluster goes in $out"
    install -d -o postgres -g "$(id -gn postgres)" -m 700 "$out"
    [ -L "$pg" ] || ln -s "$out" "$pg"
  fi
  [ -d "$out" ] && [ ! -L "$out" ] && [ "$(stat -c %U:%a "$out")" = postgres:700 ] ||
    die "$out is not a directory of the postgres user's with mode 700; remove it and run make demo again"
  pg=$out
fi
sock="$pg/sock"
if [ ! -f "$pg/data/PG_VERSION" ]; then
  say "creating a PostgreSQL cluster in demo-data/pg"
  mkdir -p "$sock"
  [ "$(id -u)" -eq 0 ] && chown -R postgres "$pg"
  as_pg "$pg_bin/initdb" -D "$pg/data" -U postgres -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust >"$data/pg-initdb.log" 2>&1 || die "initdb failed; see demo-data/pg-initdb.log"
  fresh_pg=1
fi
as_pg "$pg_bin/pg_ctl" -D "$pg/data" -l "$pg/server.log" -w -t 60 \
  -o "-c listen_addresses= -k $sock" start >/dev/null || die "PostgreSQL did not start; see demo-data/pg/server.log"
psql() { as_pg "$pg_bin/psql" -h "$sock" -U postgres -v ON_ERROR_STOP=1 -q "$@"; }
if [ "${fresh_pg:-0}" = 1 ]; then
  say "loading the sample schema (analytics: sales, hr)"
  psql -d postgres -c "CREATE DATABASE analytics" \
    -c "CREATE ROLE snowgate_grantor LOGIN" \
    -c "CREATE ROLE alice_db NOLOGIN" -c "CREATE ROLE sam_db NOLOGIN" \
    -c "CREATE ROLE bob_db NOLOGIN" -c "CREATE ROLE dana_db NOLOGIN"
  psql -d analytics <<'SQL'
CREATE SCHEMA sales; CREATE SCHEMA hr;
CREATE TABLE sales.orders (id serial PRIMARY KEY, customer text, total numeric, placed_at date);
CREATE TABLE sales.refunds (id serial PRIMARY KEY, order_id int, amount numeric);
CREATE VIEW sales.v_daily_revenue AS SELECT placed_at, sum(total) AS revenue FROM sales.orders GROUP BY placed_at;
CREATE TABLE hr.salaries (employee text, salary numeric);
INSERT INTO sales.orders (customer, total, placed_at) VALUES ('Acme', 120.50, '2026-11-01'), ('Globex', 80, '2026-11-02');
INSERT INTO hr.salaries VALUES ('alice', 100000), ('bob', 90000);
GRANT USAGE ON SCHEMA sales, hr TO snowgate_grantor, alice_db, sam_db, bob_db, dana_db;
ALTER TABLE sales.orders OWNER TO snowgate_grantor;
ALTER TABLE sales.refunds OWNER TO snowgate_grantor;
ALTER VIEW sales.v_daily_revenue OWNER TO snowgate_grantor;
ALTER TABLE hr.salaries OWNER TO snowgate_grantor;
SQL
fi

# 2. snowsim and snowgate.
start_server() { # name log args...
  local name=$1 log=$2; shift 2
  "$@" >"$log.out" 2>"$log" &
  pids+=($!)
  for _ in $(seq 1 100); do
    grep -q "listening on" "$log.out" 2>/dev/null && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || die "$name did not start; see $log"
    sleep 0.1
  done
  die "$name did not start within 10 s; see $log"
}
say "starting snowsim on $sim_url"
start_server snowsim "$data/snowsim.log" "$bin/snowsim" --listen "127.0.0.1:$sim_port" \
  --data "$data/snowsim" --admin-password "$sim_admin_pw" --allow-insecure-loopback --log-format logfmt

gate=("$bin/snowgate")
gate_data=(--data "$data/snowgate")
if [ ! -f "$data/admin.token" ]; then
  say "creating the demo users"
  mkdir -p "$data/snowgate"
  add() { echo "$3" | "${gate[@]}" user add "$1" --role "$2" --db-role "${1}_db" --password-stdin "${gate_data[@]}" 2>/dev/null; }
  umask 077
  add alice admin alice-Demo-Pw1 >"$data/admin.token"
  add sam steward sam-Demo-Pw1 >/dev/null
  add bob member bob-Demo-Pw1 >/dev/null
  add dana member dana-Demo-Pw1 >/dev/null
  # carol approves in ServiceNow (below); her decisions count because she is a steward here,
  # known by her email.
  "${gate[@]}" user add carol --role steward --email carol@example.com "${gate_data[@]}" >/dev/null 2>&1
  umask 022
fi
token=$(cat "$data/admin.token")
say "starting snowgate on $gate_url"
start_server snowgate "$data/snowgate.log" "${gate[@]}" serve --listen "127.0.0.1:$gate_port" \
  "${gate_data[@]}" --public-url "$gate_url" --allow-insecure-loopback --log-format logfmt

# 3. ServiceNow setup through the real path, then connections and assets (first run only).
status=$(curl -sf -H "Authorization: Bearer $token" "$gate_url/api/v1/integrations/servicenow" | sed -n 's/.*"status":"\([a-z_]*\)".*/\1/p')
if [ "$status" != "connected" ]; then
  say "setting up snowsim as a ServiceNow admin would (snowgate servicenow provision)"
  echo "$sim_admin_pw" | "${gate[@]}" servicenow provision --instance "$sim_url" --admin-user admin \
    --admin-password-stdin --snowgate "$gate_url" --token "$token" --allow-insecure-loopback 2>&1 | sed 's/^/  /'
fi
if [ ! -f "$data/approver.done" ]; then
  # Stands in for the approval flow a real instance has: an approver, and a rule that asks her
  # to approve every request snowgate raises (through the Table API, as an admin would set it).
  say "adding the ServiceNow approver carol, and a rule that routes snowgate requests to her"
  sn() { curl -sf -u "admin:$sim_admin_pw" -H 'Content-Type: application/json' -H 'Accept: application/json' "$@"; }
  id_of() { sed -n 's/.*"sys_id":"\([0-9a-f]\{32\}\)".*/\1/p'; }
  uid=$(sn -d '{"user_name":"carol","first_name":"Carol","last_name":"Approver","email":"carol@example.com","user_password":"carol-Demo-Pw1"}' \
    "$sim_url/api/now/table/sys_user?sysparm_fields=sys_id" | id_of)
  rid=$(sn "$sim_url/api/now/table/sys_user_role?sysparm_query=name%3Dapprover_user&sysparm_fields=sys_id" | id_of)
  [ -n "$uid" ] && [ -n "$rid" ] || die "could not create the ServiceNow approver; see $data/snowsim.log"
  sn -d "{\"user\":\"$uid\",\"role\":\"$rid\"}" "$sim_url/api/now/table/sys_user_has_role?sysparm_fields=sys_id" >/dev/null
  script="(function (current) { var h = new GlideRecord('sys_user_has_role'); h.addQuery('role', '$rid'); h.query(); while (h.next()) { var a = new GlideRecord('sysapproval_approver'); a.initialize(); a.setValue('approver', h.getValue('user')); a.setValue('sysapproval', current.getUniqueValue()); a.setValue('document_id', current.getUniqueValue()); a.setValue('source_table', 'sc_request'); a.setValue('state', 'requested'); a.insert(); } })(current);"
  sn -d "{\"name\":\"demo: approvals for snowgate requests\",\"collection\":\"sc_request\",\"when\":\"after\",\"order\":\"200\",\"action_insert\":\"true\",\"advanced\":\"true\",\"filter_condition\":\"correlation_idSTARTSWITHsnowgate:^correlation_idNOT LIKEconnection-test^EQ\",\"script\":\"$script\"}" \
    "$sim_url/api/now/table/sys_script?sysparm_fields=sys_id" >/dev/null || die "could not add the approval rule to snowsim"
  touch "$data/approver.done"
fi
api() { curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" -H 'Content-Type: application/json' "$@"; }
if [ ! -f "$data/assets.done" ]; then
  say "registering the PostgreSQL connection and the assets"
  api -d "{\"name\":\"analytics\",\"kind\":\"postgres\",\"dsn\":\"host=$sock dbname=analytics user=snowgate_grantor\"}" "$gate_url/api/v1/connections" >/dev/null
  for a in 'analytics.sales.orders|table|Every order, one row per order|sam' \
           'analytics.sales.refunds|table|Refunds against orders|sam' \
           'analytics.sales.v_daily_revenue|view|Revenue per day|sam' \
           'analytics.hr.salaries|table|Salaries (sensitive)|alice'; do
    IFS='|' read -r n t d o <<<"$a"
    api -d "{\"name\":\"$n\",\"type\":\"$t\",\"connection\":\"analytics\",\"description\":\"$d\",\"owners\":[\"$o\"]}" "$gate_url/api/v1/assets" >/dev/null
  done
  touch "$data/assets.done"
fi

cat <<BANNER

  snowgate is running.

  snowgate    $gate_url
              alice / alice-Demo-Pw1 (admin)    sam / sam-Demo-Pw1 (steward)
              bob / bob-Demo-Pw1 (member)       dana / dana-Demo-Pw1 (member)
  ServiceNow  $sim_url  (snowsim)
              carol / carol-Demo-Pw1 (approver: My approvals; a steward in snowgate)
              admin / $sim_admin_pw
  PostgreSQL  psql -h $sock -U postgres analytics

  Try first: sign in as bob, request read on analytics.sales.orders for 5 minutes; sign in as
  sam and approve it in the Inbox, or as carol in ServiceNow ($sim_url); then see the grant:
    psql -h $sock -U postgres analytics -c "SELECT has_table_privilege('bob_db', 'sales.orders', 'SELECT')"
  Five minutes later snowgate revokes it: the same query says f, and bob's request is expired.

  Ctrl-C stops everything; the data stays in demo-data/ (make demo-reset starts over).

BANNER
echo "demo listening on $gate_url"
[ "$wait" = 1 ] || exit 0
wait -n "${pids[@]}" || true
say "a server stopped; see demo-data/*.log"
