#!/usr/bin/env bash
# CRDT replicas across a partition (issue 15): three `crdt_member` members on one SQLite file; a and b on 10.78.0.1,
# c on 10.78.0.2 in a network namespace of its own, reached over a veth pair. The link goes down while every member
# takes GCounter increments and ORSet adds (HTTP/JSON, each member from its own side); c's deltas to a and b, and
# theirs to c, fail meanwhile. After the link comes back, every member must show every acknowledged update: each
# counter the sum of all increments, each set the union of all adds (and a MAJORITY write made on c while cut off
# failed cleanly). The whole test runs in a network namespace of its own (unshare -n); the named namespace and the
# link are deleted on every way out. Needs root: exit 77 (skipped) otherwise. Every wait is bounded.
#   crdt_partition.sh PATH/TO/crdt_member
set -euo pipefail
member_bin="$1"

if [[ -z "${ACTORSTATE_CRDT_NETNS:-}" ]]; then
  if [[ $(id -u) -ne 0 ]] || ! command -v unshare >/dev/null || ! command -v ip >/dev/null; then
    echo "skipped: the CRDT partition test needs root, unshare and ip"
    exit 77
  fi
  exec unshare -n env ACTORSTATE_CRDT_NETNS=1 "$0" "$@"
fi

work="$(mktemp -d)"
declare -A pid host mport
netns="actorstate-crdt-$$"
link="acp$$"
cleanup() {
  for name in "${!pid[@]}"; do
    kill -9 "${pid[$name]}" 2>/dev/null || true
    wait "${pid[$name]}" 2>/dev/null || true
  done
  ip netns del "$netns" 2>/dev/null || true
  if [[ "${keep:-0}" == 1 ]]; then echo "logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT

fail() {
  echo "crdt partition FAILED: $*" >&2
  for log in "$work"/*.log; do
    echo "--- $(basename "$log") (errors and warnings, last 30)" >&2
    grep -E 'level=(warn|error)' "$log" | tail -n 30 >&2 || true
  done
  keep=1
  exit 1
}

ip link set lo up
ip netns add "$netns"
ip link add "${link}h" type veth peer name "${link}n"
ip link set "${link}n" netns "$netns"
ip addr add 10.78.0.1/24 dev "${link}h"
ip link set "${link}h" up
ip netns exec "$netns" ip link set lo up
ip netns exec "$netns" ip addr add 10.78.0.2/24 dev "${link}n"
ip netns exec "$netns" ip link set "${link}n" up
host[a]=10.78.0.1
host[b]=10.78.0.1
host[c]=10.78.0.2
declare -A ns=([a]="" [b]="" [c]="ip netns exec $netns")

start() {
  local name="$1"
  # A simple command in the background, so that $! is the member itself (`ip netns exec` execs it).
  ${ns[$name]} "$member_bin" --store "sqlite:$work/store.db" --cluster crdt-partition --node-id "$name" \
    --cluster-port 0 --port 0 --port-file "$work/$name.port" --management-port 0 --bind "${host[$name]}" \
    --failure-timeout 30s >>"$work/$name.log" 2>&1 &
  pid[$name]=$!
}

ready() {
  local name="$1"
  for _ in $(seq 300); do
    kill -0 "${pid[$name]}" 2>/dev/null || fail "member $name exited while starting"
    if [[ -s "$work/$name.port" ]]; then
      mport[$name]="$(grep -o "listening on management ${host[$name]}:[0-9]*" "$work/$name.log" | tail -n 1 | cut -d: -f2)"
      if [[ -n "${mport[$name]}" ]] && ${ns[$name]} curl -fs -o /dev/null "http://${host[$name]}:${mport[$name]}/ready"; then
        return 0
      fi
    fi
    sleep 0.1
  done
  fail "member $name not ready within 30 s"
}

# call NAME ID JSON: POST the TCK model's Process to member NAME; prints the response body, fails on an HTTP error.
call() {
  local name="$1" id="$2" body="$3"
  ${ns[$name]} curl -fsS --max-time 20 -H 'Content-Type: application/json' -d "$body" \
    "http://${host[$name]}:$(cat "$work/$name.port")/tck/model/crdt/$id"
}

increment='{"actions":[{"update":{"gcounter":{"increment":"1"}}}]}'
add() { echo "{\"actions\":[{\"update\":{\"orset\":{\"add\":\"$1\"}}}]}"; }

for name in a b c; do start "$name"; done
for name in a b c; do ready "$name"; done

# Some updates before the partition, from every member.
expected=0
for i in $(seq 1 10); do
  for name in a b c; do
    call "$name" GCounter-p "$increment" >/dev/null || fail "increment on $name before the partition"
    call "$name" ORSet-p "$(add "$name-before-$i")" >/dev/null || fail "add on $name before the partition"
    expected=$((expected + 1))
  done
done

ip link set "${link}h" down
echo "partitioned: c is cut off from a and b"
for i in $(seq 1 20); do
  for name in a b c; do
    call "$name" GCounter-p "$increment" >/dev/null || fail "increment on $name during the partition"
    call "$name" ORSet-p "$(add "$name-during-$i")" >/dev/null || fail "add on $name during the partition"
    expected=$((expected + 1))
  done
done
# MAJORITY on c cannot be met (a and b are up in the store but unreachable): a clean failure within the write
# timeout, and the change is kept.
majority='{"actions":[{"update":{"gcounter":{"increment":"1"},"writeConsistency":"MAJORITY"}}]}'
code="$(ip netns exec "$netns" curl -s -o "$work/majority.out" -w '%{http_code}' --max-time 20 \
  -H 'Content-Type: application/json' -d "$majority" "http://${host[c]}:$(cat "$work/c.port")/tck/model/crdt/GCounter-p")"
[[ "$code" == 503 ]] || fail "MAJORITY on the cut-off member answered $code: $(cat "$work/majority.out")"
grep -q MAJORITY "$work/majority.out" || fail "MAJORITY failure without a reason: $(cat "$work/majority.out")"
expected=$((expected + 1))

ip link set "${link}h" up
echo "healed"

# Every member converges on every acknowledged update (15 s at most).
elements=$((30 + 60))
for name in a b c; do
  converged=""
  for _ in $(seq 150); do
    counter="$(call "$name" GCounter-p '{}' | grep -o '"value": *"[0-9]*"' | grep -o '[0-9]*' || true)"
    size="$(call "$name" ORSet-p '{}' | grep -o '"[abc]-\(before\|during\)-[0-9]*"' | sort -u | wc -l)"
    if [[ "$counter" == "$expected" && "$size" == "$elements" ]]; then
      converged=1
      break
    fi
    sleep 0.1
  done
  [[ -n "$converged" ]] || fail "member $name shows counter '$counter' (expected $expected) and $size elements (expected $elements)"
done
echo "crdt partition ok: $expected increments and $elements elements on every member after healing"
