#!/usr/bin/env bash
# Starts the JavaScript shopping cart user function in the foreground on $HOST:$PORT (default 127.0.0.1:8080).
# Node replaces this script (exec), so a signal to this script's pid reaches the user function itself.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ ! -f $here/user-function.desc || ! -f $here/node_modules/.installed ]]; then
  echo "run $here/build.sh first" >&2
  exit 1
fi
export HOST="${HOST:-127.0.0.1}" PORT="${PORT:-8080}"  # read by shoppingcart.js
# The library reads user-function.desc (and package.json, for the service name) from the working directory.
cd "$here"
exec node shoppingcart.js
