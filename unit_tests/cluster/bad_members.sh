#!/usr/bin/env bash
# Bad input to a cluster (issue 14): a member started with another --shards, with --store memory, with a store it
# cannot reach, or with an advertised address nobody can dial is refused at start-up with a message that says so,
# and the running member keeps serving throughout. One counter member on a SQLite file; every port chosen by the OS.
#   bad_members.sh PATH/TO/counter
set -euo pipefail
counter_bin="$1"
source "$(dirname "$0")/test_lib.sh"

common=(--cluster bad --cluster-port 0 --port 0 --management-port 0 --bind 127.0.0.1)
"$counter_bin" "${common[@]}" --store "sqlite:$work/cluster.db" --shards 16 --node-id a --port-file "$work/a.port" \
  >"$work/a.log" 2>&1 &
pids+=($!)
wait_file "$work/a.port"
wait_ready "$work/a.log"
mport="$(management_port "$work/a.log")"
a="127.0.0.1:$(cat "$work/a.port")"
total=0
add() {
  local got
  got="$(curl -fs -X POST -H 'content-type: application/json' "http://$a/counter/k/add" -d 1)" || fail "a stopped serving"
  total=$((total + 1))
  [[ "$got" == "\"$total\"" || "$got" == "$total" ]] || fail "add through a answered $got, expected $total"
}
add

# refused NAME EXPECTED-TEXT ARGS...: the member exits non-zero within 30 s, its log names the problem.
refused() {
  local name="$1" expected="$2"
  shift 2
  local status=0
  timeout 30 "$counter_bin" "${common[@]}" --node-id "$name" "$@" >"$work/$name.log" 2>&1 || status=$?
  [[ $status -ne 0 && $status -ne 124 ]] || fail "member $name was not refused (exit $status)"
  grep -qF -- "$expected" "$work/$name.log" || fail "member $name: no '$expected' in its log"
  echo "refused $name: $(grep -m1 -F -- "$expected" "$work/$name.log" | sed 's/^.*msg=//' | cut -c1-160)"
  add
}
refused shards "has 16 shards" --store "sqlite:$work/cluster.db" --shards 32
grep -q "started with --shards 32" "$work/shards.log" || fail "the shard count message does not name both counts"
refused memory "--store memory lives in this process only" --store memory
refused store "cannot open the store" --store "postgres://postgres@127.0.0.1:1/none?connect_timeout=2"
refused advertise "does not reach this member's cluster port" --store "sqlite:$work/cluster.db" --advertise-host 127.0.0.2
# The refused members left nothing behind: the running member is alone in the cluster.
members="$(curl -fs "http://127.0.0.1:$mport/cluster")"
grep -q '"id":"a"' <<<"$members" || fail "member a missing from /cluster: $members"
if grep -q '"id":"\(shards\|memory\|store\)"' <<<"$members"; then
  fail "a refused member is listed: $members"
fi
echo "bad members ok: every bad member refused with its reason, a served $total adds throughout"
