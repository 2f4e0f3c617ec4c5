#!/usr/bin/env bash
# Installs the Debian 12 packages actorstate needs to build, test and run. Idempotent: does nothing when every
# package is present. Needs root (uses sudo when available otherwise).
#   scripts/install-deps.sh            # everything to build and test
#   scripts/install-deps.sh --runtime  # only the shared libraries the binaries load (the container image)
set -euo pipefail

# Checked against the binaries by scripts/check-runtime-deps.sh in CI.
runtime_packages=(libcaf-core0.17 libcaf-io0.17 libgrpc++1.51 libprotobuf32 libsqlite3-0 libmicrohttpd12 libnghttp2-14 libpq5)

packages=(
  g++ cmake ninja-build ccache lld pkg-config git curl
  libcaf-dev libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc
  libsqlite3-dev doctest-dev librapidcheck-dev libcli11-dev libmicrohttpd-dev libnghttp2-dev
  libpq-dev postgresql-15
  chromium
)

if [ "${1:-}" = "--runtime" ]; then
  packages=("${runtime_packages[@]}")
elif [ "${1:-}" = "--print-runtime" ]; then
  echo "${runtime_packages[@]}"
  exit 0
fi

missing=()
# npm fetches test tools (buf, playwright-core for the browser test); a machine that already has Node.js from elsewhere keeps it.
if [ "${1:-}" = "" ] && ! command -v npm >/dev/null 2>&1; then
  missing+=(npm)
fi
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
