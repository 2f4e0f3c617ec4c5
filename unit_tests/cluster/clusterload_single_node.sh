#!/usr/bin/env bash
# Smoke test of clusterload: one counter node (SQLite in a temporary directory, every port chosen by the OS) under
# 4 clients for about 5 s; both checks must pass (exit 0). The node is killed on every way out (trap).
#   clusterload_single_node.sh PATH/TO/counter PATH/TO/clusterload
set -euo pipefail
counter_bin="$1"
clusterload_bin="$2"
work="$(mktemp -d)"
node_pid=""
load_pid=""
cleanup() {
  for pid in $load_pid $node_pid; do
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
# A signal ends the script at once (the wait below returns), and EXIT then kills what it started.
trap 'exit 143' TERM INT

"$counter_bin" --store "sqlite:$work/counter.db" --port 0 --port-file "$work/port" --management-port 0 \
  --bind 127.0.0.1 >"$work/node.log" 2>&1 &
node_pid=$!
# The node writes its port file once it listens; wait for it at most 30 s.
for _ in $(seq 300); do
  [[ -s "$work/port" ]] && break
  if ! kill -0 "$node_pid" 2>/dev/null; then
    echo "the counter node exited before listening:" >&2
    cat "$work/node.log" >&2
    exit 1
  fi
  sleep 0.1
done
if [[ ! -s "$work/port" ]]; then
  echo "the counter node wrote no port file within 30 s:" >&2
  cat "$work/node.log" >&2
  exit 1
fi
port="$(cat "$work/port")"

# In the background, so that a signal to this script is handled while the load runs.
# --cart-clients 0: the counter node has no shopping cart (the fault scenarios' cluster_member has both).
"$clusterload_bin" --endpoints "127.0.0.1:$port" --clients 4 --cart-clients 0 --duration 5s --max-ops 200000 \
  --request-timeout 5s --op-deadline 20s --out "$work/report.json" &
load_pid=$!
status=0
wait "$load_pid" || status=$?
load_pid=""
if [[ $status -ne 0 ]]; then
  echo "clusterload exited with $status; report:" >&2
  cat "$work/report.json" >&2 || true
  echo "node log (tail):" >&2
  tail -n 50 "$work/node.log" >&2
  exit 1
fi
echo "clusterload single node ok"
