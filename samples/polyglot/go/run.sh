#!/usr/bin/env bash
# Starts the Go user function in the foreground on $HOST:$PORT (default 127.0.0.1:8080).
# The binary replaces this script (exec), so a signal to this script's pid reaches the user function itself.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ ! -x $here/build/polyglot-go ]]; then
  echo "run $here/build.sh first" >&2
  exit 1
fi
export HOST="${HOST:-127.0.0.1}" PORT="${PORT:-8080}"  # read by cloudstate.CloudState.Run()
exec "$here/build/polyglot-go"
