#!/usr/bin/env bash
# Starts the Python shopping cart user function in the foreground on $HOST:$PORT (default 127.0.0.1:8080).
# The process replaces this script (exec), so a signal to this script's pid reaches the user function itself.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ ! -x $here/.venv/bin/python || ! -f $here/build/gen/.generated ]]; then
  echo "run $here/build.sh first" >&2
  exit 1
fi
export HOST="${HOST:-127.0.0.1}" PORT="${PORT:-8080}"  # read by cloudstate.cloudstate.CloudState.start()
# The support library's generated code predates protoc 3.19: the protobuf runtime loads it in pure Python only.
export PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python
export PYTHONPATH="$here/build/gen:$here${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
exec "$here/.venv/bin/python" -m shopping_cart.main
