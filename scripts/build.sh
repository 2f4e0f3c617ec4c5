#!/usr/bin/env bash
# Configures and builds actorstate with Ninja, ccache and lld.
#   scripts/build.sh [BUILD_DIR] [extra cmake arguments...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
shift || true

export CCACHE_BASEDIR="$root"
export CCACHE_NOHASHDIR=1
export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-5G}"

cmake -S "$root" -B "$build" -G Ninja "$@"
cmake --build "$build" -j "${BUILD_JOBS:-2}"
