#!/usr/bin/env bash
# Runs ctest in a build dir, then prints the plain "N passed, N failed, N skipped" line CI reads,
# and one line per skipped test with its reason (the line the test printed: an outside corpus
# that is absent, see SG_CORPUS_DIR in tests/CMakeLists.txt).
set -uo pipefail
dir=$1
jobs=${2:-2}
log=$(mktemp)
# The answers the end-to-end tests record for the API contract check (openapi/contract).
rm -rf "$dir/api-record"
(cd "$dir" && ctest --output-on-failure -j "$jobs") 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)
# ctest lists the tests that exited with their SKIP_RETURN_CODE as "<n> - <name> (Skipped)".
mapfile -t skipped < <(sed -nE 's/^[[:space:]]*[0-9]+ - (.*) \(Skipped\)$/\1/p' "$log")
rm -f "$log"
if [ -z "$line" ]; then
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi
failed=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
total=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")
echo "$((total - failed - ${#skipped[@]})) passed, ${failed} failed, ${#skipped[@]} skipped"
# The reason: the "skipped: ..." line in the test's output, kept by ctest in LastTest.log.
for name in "${skipped[@]}"; do
  reason=$(awk -v t="Test: $name" '
    index($0, t) && substr($0, index($0, t)) == t { inside = 1; next }
    inside && /^skipped: / { sub(/^skipped: /, ""); print; exit }
    inside && /^<end of output>/ { exit }' "$dir/Testing/Temporary/LastTest.log" 2>/dev/null)
  echo "skipped: $name: ${reason:-no reason given}"
done
exit "$status"
