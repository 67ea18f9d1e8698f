#!/usr/bin/env bash
# Lint: clang-format check, the banned-functions check (STYLE.md), and cppcheck.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.c' '*.h' 2>/dev/null || find src tests -name '*.[ch]')
status=0

unformatted=()
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || unformatted+=("$f")
done
if [ "${#unformatted[@]}" -gt 0 ]; then
  echo "lint: not clang-formatted (run 'make format'): ${unformatted[*]}" >&2
  status=1
fi

banned=$(grep -nE '\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|strtok)\s*\(' \
  $(printf '%s\n' "${files[@]}" | grep '^src/') || true)
if [ -n "$banned" ]; then
  echo "lint: banned functions (use the checked helpers in src/core/str.h):" >&2
  echo "$banned" >&2
  status=1
fi

if ! cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability \
    --inline-suppr --suppress=missingIncludeSystem -I src src 2>cppcheck.log; then
  echo "lint: cppcheck found problems:" >&2
  cat cppcheck.log >&2
  status=1
fi
rm -f cppcheck.log
[ "$status" -eq 0 ] && echo "lint: clean"
exit "$status"
