#!/usr/bin/env bash
# One fault scenario of a three-member cluster (issue 14, docs/cluster.md "Fault scenarios"): three `cluster_member`
# members (the counter and the shopping cart in one node) on a throwaway PostgreSQL, every port chosen by the OS,
# under a bounded load from clusterload (durable counter adds, each with its own idempotency key, retried with the
# same key, and one hot counter whose history Porcupine checks; shopping-cart AddItems to 8 carts, each of its own
# product and idempotency key, and GetCarts), and one fault injected while the load runs:
#   kill9     kill -9 one member; it comes back 5 s later as a new incarnation
#   sigstop   SIGSTOP one member for 10 s, then SIGCONT (it must stop serving before the others take over)
#   rolling   SIGTERM each member in turn and start it again (each hands its shards over first)
#   join      a fourth member joins under load
#   store     the PostgreSQL server restarts under load
#   partition one member is cut off (its veth link down) for 10 s, then healed. The whole test runs in a network
#             namespace of its own (unshare -n, gone with the script); the cut-off member runs in a second, named
#             namespace reached over a veth pair, deleted on every way out. Needs root: exit 77 (skipped) otherwise.
# Passes when clusterload finds nothing lost, nothing applied twice (no add counted twice, no cart item with quantity
# 2), a linearizable history and no stale cart read, every member that should be running still is, and the store's
# record of epochs shows no shard with two writers (scripts/check-single-writer.sh). Prints the time from the fault to
# the first successful command after it.
#   fault_scenario.sh SCENARIO PATH/TO/cluster_member PATH/TO/clusterload PATH/TO/pg-throwaway.sh
# Every wait is bounded; everything started is killed on every way out (trap), and the PostgreSQL server stopped.
set -euo pipefail
scenario="$1"
member_bin="$2"
clusterload_bin="$3"
pg="$4"
case "$scenario" in
  kill9 | sigstop | rolling | join | store | partition) ;;
  *)
    echo "unknown scenario '$scenario' (kill9, sigstop, rolling, join, store, partition)" >&2
    exit 2
    ;;
esac

# The partition scenario runs in a network namespace of its own: its addresses and links vanish with it.
if [[ "$scenario" == partition && -z "${ACTORSTATE_SCENARIO_NETNS:-}" ]]; then
  if [[ $(id -u) -ne 0 ]] || ! command -v unshare >/dev/null || ! command -v ip >/dev/null; then
    echo "skipped: the partition scenario needs root, unshare and ip"
    exit 77
  fi
  exec unshare -n env ACTORSTATE_SCENARIO_NETNS=1 "$0" "$@"
fi

work="$(mktemp -d /tmp/actorstate-scenario-XXXXXX)"
declare -A pid port mport host
load_pid=""
failure_timeout=3s
netns=""
for name in a b c d; do host[$name]=127.0.0.1; done

cleanup() {
  [[ -n "$load_pid" ]] && kill -9 "$load_pid" 2>/dev/null || true
  for name in "${!pid[@]}"; do
    kill -CONT "${pid[$name]}" 2>/dev/null || true
    kill -9 "${pid[$name]}" 2>/dev/null || true
    wait "${pid[$name]}" 2>/dev/null || true
  done
  "$pg" stop "$work/pg" >/dev/null 2>&1 || true
  [[ -n "$netns" ]] && ip netns del "$netns" 2>/dev/null || true
  if [[ "${keep:-0}" == 1 || -n "${ACTORSTATE_KEEP_SCENARIO:-}" ]]; then
    echo "logs kept in $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT

fail() {
  echo "scenario $scenario FAILED: $*" >&2
  for log in "$work"/*.log; do
    echo "--- $(basename "$log") (errors and warnings, last 40)" >&2
    grep -E 'level=(warn|error)' "$log" | tail -n 40 >&2 || true
  done
  keep=1
  exit 1
}

if [[ "$scenario" == partition ]]; then
  # Members a and b (and PostgreSQL) on 10.77.0.1 in this namespace; c on 10.77.0.2 in its own, over a veth pair.
  ip link set lo up
  netns="actorstate-part-$$"
  link="asp$$"
  ip netns add "$netns"
  ip link add "${link}h" type veth peer name "${link}n"
  ip link set "${link}n" netns "$netns"
  ip addr add 10.77.0.1/24 dev "${link}h"
  ip link set "${link}h" up
  ip netns exec "$netns" ip link set lo up
  ip netns exec "$netns" ip addr add 10.77.0.2/24 dev "${link}n"
  ip netns exec "$netns" ip link set "${link}n" up
  host[a]=10.77.0.1
  host[b]=10.77.0.1
  host[c]=10.77.0.2
  export PG_LISTEN=10.77.0.1
fi

"$pg" start "$work/pg"
store="$(cat "$work/pg/uri")"

# ns[NAME]: the command prefix that runs something where member NAME lives (c has a namespace of its own in
# `partition`; everything else runs here). Split into words on purpose: the namespace name has no spaces.
declare -A ns=([a]="" [b]="" [c]="" [d]="")
[[ -n "$netns" ]] && ns[c]="ip netns exec $netns"

# in_namespace NAME COMMAND...: runs COMMAND where member NAME lives.
in_namespace() {
  local name="$1"
  shift
  ${ns[$name]} "$@"
}

# start NAME [CLIENT_PORT]: a member (a restarted one keeps its client port, so the load's endpoints stay valid).
start() {
  local name="$1" client_port="${2:-0}"
  rm -f "$work/$name.port"
  # A simple command sent to the background, not a shell function: $! must be the member itself (`ip netns exec` execs
  # it), so that kill -9 / SIGSTOP / SIGTERM reach the member; a backgrounded function would run in a subshell that
  # takes the signal while the member lives on.
  ${ns[$name]} "$member_bin" --store "$store" --cluster scenario --node-id "$name" --cluster-port 0 --port "$client_port" \
    --port-file "$work/$name.port" --management-port 0 --bind "${host[$name]}" --failure-timeout "$failure_timeout" \
    --command-timeout 30s --drain-timeout 20s --passivation-timeout 5s >>"$work/$name.log" 2>&1 &
  pid[$name]=$!
}

# ready NAME: waits (30 s at most) until the member listens and /ready answers 200.
ready() {
  local name="$1"
  for _ in $(seq 300); do
    if ! kill -0 "${pid[$name]}" 2>/dev/null; then
      fail "member $name exited while starting"
    fi
    if [[ -s "$work/$name.port" ]]; then
      port[$name]="$(cat "$work/$name.port")"
      mport[$name]="$(grep -o "listening on management ${host[$name]}:[0-9]*" "$work/$name.log" | tail -n 1 | cut -d: -f2)"
      if [[ -n "${mport[$name]}" ]] && in_namespace "$name" curl -fs -o /dev/null "http://${host[$name]}:${mport[$name]}/ready"; then
        # The faults are sent to this pid: it must be the member, not a shell around it.
        [[ "$(readlink "/proc/${pid[$name]}/exe")" == "$(readlink -f "$member_bin")" ]] ||
          fail "pid ${pid[$name]} of member $name is $(readlink "/proc/${pid[$name]}/exe"), not the member"
        return 0
      fi
    fi
    sleep 0.1
  done
  fail "member $name not ready within 30 s"
}

# stopped NAME SECONDS: waits for a member that was told to stop to exit.
stopped() {
  local name="$1" seconds="$2"
  for _ in $(seq $((seconds * 10))); do
    kill -0 "${pid[$name]}" 2>/dev/null || {
      wait "${pid[$name]}" 2>/dev/null || true
      return 0
    }
    sleep 0.1
  done
  fail "member $name did not exit within $seconds s"
}

fault_at() { date +%s%3N >"$work/fault-at"; }

for name in a b c; do start "$name"; done
for name in a b c; do ready "$name"; done
endpoints="${host[a]}:${port[a]},${host[b]}:${port[b]},${host[c]}:${port[c]}"

duration=25s
[[ "$scenario" == rolling ]] && duration=45s
"$clusterload_bin" --endpoints "$endpoints" --clients 8 --cart-clients 2 --carts 8 --duration "$duration" \
  --max-ops 400000 --request-timeout 3s --op-deadline 40s --out "$work/report.json" --history "$work/history.json" \
  --visualize "$work/violation.html" --fault-at-file "$work/fault-at" >"$work/load.out" 2>&1 &
load_pid=$!
sleep 6

case "$scenario" in
  kill9)
    fault_at
    kill -9 "${pid[c]}"
    wait "${pid[c]}" 2>/dev/null || true
    sleep 5
    start c "${port[c]}"
    ready c
    ;;
  sigstop)
    fault_at
    kill -STOP "${pid[c]}"
    sleep 10
    kill -CONT "${pid[c]}"
    ;;
  rolling)
    fault_at
    for name in a b c; do
      kill -TERM "${pid[$name]}"
      stopped "$name" 30
      start "$name" "${port[$name]}"
      ready "$name"
    done
    ;;
  join)
    fault_at
    start d
    ready d
    ;;
  store)
    fault_at
    "$pg" restart "$work/pg"
    ;;
  partition)
    fault_at
    ip link set "${link}h" down
    sleep 10
    ip link set "${link}h" up
    ;;
esac

status=0
wait "$load_pid" || status=$?
load_pid=""
cat "$work/load.out"
# What the members measured: the last takeover (first reading without a live owner -> serving) and confirmed crashes.
for name in $(printf '%s\n' "${!pid[@]}" | sort); do
  metrics="$(in_namespace "$name" curl -fs "http://${host[$name]}:${mport[$name]}/metrics" 2>/dev/null || true)"
  printf 'member %-8s last takeover %ss, shard takeovers %s, crashes confirmed %s, self-fences %s\n' "$name" \
    "$(awk '$1 == "actorstate_cluster_last_takeover_seconds" {print $2}' <<<"$metrics")" \
    "$(awk '$1 == "actorstate_cluster_shard_takeovers_total" {print $2}' <<<"$metrics")" \
    "$(awk '$1 == "actorstate_cluster_crashes_confirmed_total" {print $2}' <<<"$metrics")" \
    "$(awk '$1 == "actorstate_cluster_self_fences_total" {print $2}' <<<"$metrics")"
done
[[ $status -eq 0 ]] || fail "clusterload exited with $status (1: lost, duplicated or not linearizable; 3: inconclusive)"
for name in "${!pid[@]}"; do
  kill -0 "${pid[$name]}" 2>/dev/null || fail "member $name is no longer running"
done
# No shard had two writers: every fenced write inside its epoch, by the store's own record of epochs.
"$(dirname "$pg")/check-single-writer.sh" "$store" scenario || fail "the store's epochs show a shard with two writers"
echo "scenario $scenario ok"
