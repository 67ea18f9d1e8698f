#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for FUZZ_SECONDS (default 5),
# seeded from the shared corpora. A crash fails the run and leaves the input in build-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${FUZZ_SECONDS:-5}"
shared="$(cd .. && pwd)/shared"

CC=clang cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSG_FUZZ=ON >/dev/null
ninja -C build-fuzz fuzz_json fuzz_xml fuzz_url fuzz_form fuzz_query fuzz_multipart fuzz_updateset >/dev/null

run() {
  local name=$1; shift
  local corpus="build-fuzz/corpus/$name"
  mkdir -p "$corpus"
  echo "fuzz: $name for ${secs}s"
  (cd build-fuzz && "./tests/fuzz/$name" -max_total_time="$secs" -max_len=65536 -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=0 "corpus/$name" "$@" 2>"$name.log") || {
    echo "fuzz: $name FAILED; see build-fuzz/$name.log" >&2
    tail -40 "build-fuzz/$name.log" >&2
    exit 1
  }
}

run fuzz_json "$shared/corpora/jsontestsuite/test_parsing"
run fuzz_xml "$shared/fixtures/updatesets"
run fuzz_url "$(pwd)/tests/fuzz/seeds/url"
run fuzz_form "$(pwd)/tests/fuzz/seeds/form"
run fuzz_query "$(pwd)/tests/fuzz/seeds/query"
run fuzz_multipart "$(pwd)/tests/fuzz/seeds/multipart"
run fuzz_updateset "$shared/fixtures/updatesets"
echo "fuzz: all targets ran clean"
