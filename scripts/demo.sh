#!/usr/bin/env bash
# Runs snowgate on embedded defaults (SQLite under ./demo-data). The full demo, with snowsim
# provisioned through the real setup path, PostgreSQL and sample users, grows here as the
# setup, governance and UI features land.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p demo-data
port=${SNOWGATE_DEMO_PORT:-8080}
echo "demo: starting snowgate on http://127.0.0.1:${port} (Ctrl-C stops it)"
exec build/snowgate serve --listen "127.0.0.1:${port}" --data demo-data/snowgate \
  --log-format logfmt
