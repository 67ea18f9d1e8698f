#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for FUZZ_SECONDS (default 5), seeded
# from the project's own inputs (tests/data, tests/fuzz/seeds), plus the outside corpora in
# SG_CORPUS_DIR (default ../shared) when they are there. A crash fails the run and leaves the
# input in build-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${FUZZ_SECONDS:-5}"
here="$(pwd)"
outside="${SG_CORPUS_DIR:-$(cd .. && pwd)/shared}"

CC=clang cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSG_FUZZ=ON >/dev/null
ninja -C build-fuzz fuzz_json fuzz_xml fuzz_url fuzz_form fuzz_query fuzz_multipart fuzz_updateset \
  fuzz_mysql_dsn fuzz_oidc >/dev/null

# The outside seed folders that exist; one line for each that is skipped.
json_outside=()
sets_outside=()
if [ -d "$outside/corpora/jsontestsuite/test_parsing" ]; then
  json_outside=("$outside/corpora/jsontestsuite/test_parsing")
else
  echo "fuzz: skipped outside seeds: no $outside/corpora/jsontestsuite/test_parsing (set SG_CORPUS_DIR)"
fi
if [ -d "$outside/fixtures/updatesets" ]; then
  sets_outside=("$outside/fixtures/updatesets")
else
  echo "fuzz: skipped outside seeds: no $outside/fixtures/updatesets (set SG_CORPUS_DIR)"
fi

# run NAME [-dict=FILE] SEED_DIR...: the first corpus dir (build-fuzz/corpus/NAME) collects new
# inputs; the seed dirs are only read.
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

dict="-dict=$here/tests/fuzz/updateset.dict"
run fuzz_json "$here/tests/data/json" "${json_outside[@]}"
run fuzz_xml "$dict" "$here/tests/data/updatesets" "$here/tests/fuzz/seeds/xml" "${sets_outside[@]}"
run fuzz_url "$here/tests/fuzz/seeds/url"
run fuzz_form "$here/tests/fuzz/seeds/form"
run fuzz_query "$here/tests/fuzz/seeds/query"
run fuzz_multipart "$here/tests/fuzz/seeds/multipart"
run fuzz_mysql_dsn "$here/tests/fuzz/seeds/mysql_dsn"
run fuzz_oidc "$here/tests/fuzz/seeds/oidc"
run fuzz_updateset "$dict" "$here/tests/data/updatesets" "$here/tests/fuzz/seeds/updateset" \
  "${sets_outside[@]}"
echo "fuzz: all targets ran clean"
