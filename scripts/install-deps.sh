#!/usr/bin/env bash
# Installs the Debian packages snowgate needs to build, test and run. Only what is missing.
# Uses sudo when not root. Safe to run again.
set -euo pipefail

pkgs=(
  build-essential cmake ninja-build pkg-config git ca-certificates curl
  clang libclang-rt-14-dev clang-format cppcheck
  libssl-dev libcurl4-openssl-dev libmicrohttpd-dev libjansson-dev libxml2-dev
  libsqlite3-dev libpq-dev libmariadb-dev libcjose-dev duktape-dev libcmocka-dev uthash-dev
  postgresql mariadb-server chromium gnuplot-nox nginx
  python3-yaml groff-base prometheus
)

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

# Node.js and npm drive the browser tests; a machine may already have them from elsewhere.
if ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

# npm packages, pinned by each package-lock.json: the browser tests' playwright-core, and the
# API contract check's Redocly CLI and Ajv (tests/openapi).
npm_deps() {
  local root dir
  root="$(cd "$(dirname "$0")/.." && pwd)"
  for dir in "$root/tests/browser" "$root/tests/openapi"; do
    if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
      echo "deps: npm ci in ${dir#"$root"/}"
      (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
      touch "$dir/node_modules"
    fi
  done
}

if [ "${#missing[@]}" -eq 0 ]; then
  echo "deps: all ${#pkgs[@]} packages present"
  npm_deps
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "deps: missing ${missing[*]}; run this script as root or install sudo" >&2
    exit 1
  fi
  sudo="sudo"
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
npm_deps
echo "deps: done"
