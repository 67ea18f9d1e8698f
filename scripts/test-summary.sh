#!/usr/bin/env bash
# Runs ctest in a build dir, then prints the plain "N passed, N failed" line CI reads.
set -uo pipefail
dir=$1
jobs=${2:-2}
log=$(mktemp)
# The answers the end-to-end tests record for the API contract check (openapi/contract).
rm -rf "$dir/api-record"
(cd "$dir" && ctest --output-on-failure -j "$jobs") 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)
rm -f "$log"
if [ -z "$line" ]; then
  echo "0 passed, 1 failed"
  exit 1
fi
failed=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
total=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")
echo "$((total - failed)) passed, ${failed} failed"
exit "$status"
