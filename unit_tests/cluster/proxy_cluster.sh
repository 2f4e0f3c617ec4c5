#!/usr/bin/env bash
# The proxy clusters too (issue 14, item 6): two actorstate-proxy members of one cluster on one SQLite file, each with
# its own user function (`shopping-cart --user-function`, as a pod's sidecar would be). Carts are changed through both
# members and read back through either: bridged entities live on whichever member owns their shard, and the other
# forwards to it. Every port is chosen by the OS; everything started is killed on every way out.
#   proxy_cluster.sh PATH/TO/actorstate-proxy PATH/TO/shopping-cart PATH/TO/shopping-cart-client
set -euo pipefail
proxy_bin="$1"
cart_bin="$2"
client_bin="$3"
source "$(dirname "$0")/test_lib.sh"

for n in 1 2; do
  "$cart_bin" --user-function --port 0 --port-file "$work/uf$n.port" >"$work/uf$n.log" 2>&1 &
  pids+=($!)
done
for n in 1 2; do
  wait_file "$work/uf$n.port"
  "$proxy_bin" --user-function-port "$(cat "$work/uf$n.port")" --store "sqlite:$work/cluster.db" --cluster proxies \
    --node-id "p$n" --cluster-port 0 --port 0 --port-file "$work/p$n.port" --management-port 0 --bind 127.0.0.1 \
    >"$work/p$n.log" 2>&1 &
  pids+=($!)
done
for n in 1 2; do
  wait_file "$work/p$n.port"
  wait_ready "$work/p$n.log"
done
p1="127.0.0.1:$(cat "$work/p1.port")"
p2="127.0.0.1:$(cat "$work/p2.port")"

# Eight carts: with two members, some shards are each member's, so both paths (local and forwarded) are taken.
for i in $(seq 8); do
  "$client_bin" --server "$p1" add "user$i" apple Apple 1 >/dev/null || fail "add through p1"
  "$client_bin" --server "$p2" add "user$i" apple Apple 2 >/dev/null || fail "add through p2"
  for server in "$p1" "$p2"; do
    got="$("$client_bin" --server "$server" get "user$i")"
    [[ "$got" == "apple Apple 3" ]] || fail "cart user$i through $server: '$got', expected 'apple Apple 3'"
  done
done
forwarded=0
for n in 1 2; do
  mport="$(management_port "$work/p$n.log")"
  count="$(curl -fs "http://127.0.0.1:$mport/metrics" | awk '$1 == "actorstate_cluster_forwarded_commands_total" {print $2}')"
  forwarded=$((forwarded + ${count:-0}))
done
[[ $forwarded -gt 0 ]] || fail "no command was forwarded between the proxies"
echo "proxy cluster ok: 8 carts through two proxy members, $forwarded commands forwarded"
