#!/usr/bin/env bash
# Starts the Java shopping cart user function in the foreground on $HOST:$PORT (default 127.0.0.1:8080).
# The JVM replaces this script (exec), so a signal to this script's pid reaches the user function itself.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ ! -f $here/target/.built ]]; then
  echo "run $here/build.sh first" >&2
  exit 1
fi
# Read by the support library's reference.conf (cloudstate.user-function-interface / user-function-port).
export HOST="${HOST:-127.0.0.1}" PORT="${PORT:-8080}"
exec java ${JAVA_OPTS:-} -cp "$here/target/classes:$here/target/lib/*" com.example.shoppingcart.Main
