#!/usr/bin/env bash
# A cluster on one host: installs what is missing, builds, starts a throwaway PostgreSQL (scripts/pg-throwaway.sh,
# data under ./actorstate-cluster) and three shopping-cart members a, b and c of cluster "demo" on it, shows the
# cluster and a client session that goes through every member, then keeps them running until Ctrl-C.
#   scripts/run-cluster.sh     # client ports 9001-9003, management ports 9101-9103, cluster ports 9301-9303
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

"$root/scripts/install-deps.sh"
echo "building (progress below; a cold build takes several minutes)..."
"$root/scripts/build.sh" "$root/build" | grep -E --line-buffered '^\[[0-9]+/[0-9]+\]' | awk 'NR % 25 == 1' || true
node="$root/build/samples/shopping-cart/shopping-cart"
client="$root/build/samples/shopping-cart/shopping-cart-client"
[[ -x "$node" && -x "$client" ]] || { echo "the build did not produce $node" >&2; exit 1; }

data="$PWD/actorstate-cluster"
mkdir -p "$data"
"$root/scripts/pg-throwaway.sh" start "$data/pg"
store="$(cat "$data/pg/uri")"
pids=()
stop_all() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  "$root/scripts/pg-throwaway.sh" pause "$data/pg" || true
}
trap stop_all EXIT
trap 'exit 130' INT TERM

members=(a b c)
for i in 0 1 2; do
  name="${members[$i]}"
  "$node" --cluster demo --node-id "$name" --store "$store" --bind 127.0.0.1 --port $((9001 + i)) \
    --management-port $((9101 + i)) --cluster-port $((9301 + i)) >"$data/$name.log" 2>&1 &
  pids+=($!)
done
for i in 0 1 2; do
  for _ in $(seq 300); do
    curl -fs -o /dev/null "http://127.0.0.1:$((9101 + i))/ready" && break
    kill -0 "${pids[$i]}" 2>/dev/null || { echo "member ${members[$i]} exited:" >&2; tail "$data/${members[$i]}.log" >&2; exit 1; }
    sleep 0.1
  done
done

# Ready members hold commands for shards still being claimed; for the demo, wait until every shard has an owner.
owned() { curl -s localhost:9101/cluster | grep -o '"status":"up","shards":[0-9]*' | awk -F: '{s += $NF} END {print s + 0}'; }
for _ in $(seq 100); do
  [[ "$(owned)" -ge 128 ]] && break
  sleep 0.1
done
echo "\$ curl -s localhost:9101/cluster"
curl -s localhost:9101/cluster
run() {
  echo "\$ shopping-cart-client --server 127.0.0.1:$1 ${*:2}"
  "$client" --server "127.0.0.1:$1" "${@:2}" || true
}
run 9001 add demo-user apple "Apple" 3
run 9002 add demo-user pear "Pear" 1
run 9003 get demo-user
echo
echo "Three members of cluster demo run on 127.0.0.1:9001-9003 (any member serves any cart; logs in $data);"
echo "try: kill -9 one of ${pids[*]}, then $client --server 127.0.0.1:9002 get demo-user"
echo "Press Ctrl-C to stop them."
wait "${pids[@]}"
