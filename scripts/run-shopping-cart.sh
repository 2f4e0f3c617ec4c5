#!/usr/bin/env bash
# The main job: installs what is missing, builds, starts a shopping-cart node on the embedded SQLite store
# (./actorstate-data), runs a short client session against it, then keeps the node running until Ctrl-C.
#   scripts/run-shopping-cart.sh            # port 9000, management port 9099
#   HTTP_PORT=9100 scripts/run-shopping-cart.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" "$root/build" >/dev/null
node="$root/build/samples/shopping-cart/shopping-cart"
client="$root/build/samples/shopping-cart/shopping-cart-client"
port="${HTTP_PORT:-9000}"

"$node" --port "$port" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 100); do
  "$client" --server "127.0.0.1:$port" get demo-user >/dev/null 2>&1 && break
  sleep 0.1
done

run() {
  echo "\$ shopping-cart-client $*"
  "$client" --server "127.0.0.1:$port" "$@" || true
}
run add demo-user apple "Apple" 3
run add demo-user pear "Pear" 1
run add demo-user apple "Apple" 2
run remove demo-user pear
run add demo-user fig "Fig" 0
run get demo-user

echo
echo "The node is running on 127.0.0.1:$port (state in ./actorstate-data); try:"
echo "  $client --server 127.0.0.1:$port get demo-user"
echo "Press Ctrl-C to stop it."
wait $pid
