#!/usr/bin/env bash
# scripts/check-single-writer.sh finds what it exists to find (issue 14: "no shard had two writers, from the store's
# epochs"). A two-member cluster on a throwaway PostgreSQL writes under idempotency keys, with a handover in between;
# the check passes on that store. Then each kind of violation is forged into the store by hand and must be reported:
# a write numbered after its shard moved on (a second writer), a write at an epoch no claim began, a write at a
# released epoch, and a history with a missing change.
#   check_single_writer_test.sh PATH/TO/counter PATH/TO/pg-throwaway.sh
set -euo pipefail
counter_bin="$1"
pg="$2"
checker="$(cd "$(dirname "$0")/../.." && pwd)/scripts/check-single-writer.sh"
source "$(dirname "$0")/test_lib.sh"
pg_started=0
stop_pg() { [[ $pg_started == 1 ]] && "$pg" stop "$work/pg" >/dev/null 2>&1 || true; }
trap 'stop_pg; cleanup' EXIT

"$pg" start "$work/pg" >/dev/null
pg_started=1
store="$(cat "$work/pg/uri")"
sql() { psql "$store" -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"; }

# member NAME: starts a counter member of cluster `audit` (8 shards), waits until it serves.
member() {
  "$counter_bin" --store "$store" --cluster audit --shards 8 --node-id "$1" --cluster-port 0 --port 0 \
    --port-file "$work/$1.port" --management-port 0 --bind 127.0.0.1 --failure-timeout 1s >"$work/$1.log" 2>&1 &
  pids+=($!)
  wait_file "$work/$1.port"
  wait_ready "$work/$1.log"
}
# adds PORT FIRST LAST: keyed adds to counters k0..k7.
adds() {
  for i in $(seq "$2" "$3"); do
    curl -fs -o /dev/null -X POST -H 'content-type: application/json' -H "idempotency-key: add-$i" \
      "http://127.0.0.1:$1/counter/k$((i % 8))/add" -d 1 || fail "add $i refused"
  done
}

member a
adds "$(cat "$work/a.port")" 1 40
member b # takes about half the shards over from a
for _ in $(seq 100); do
  [[ "$(sql "SELECT count(*) FROM cluster_shards WHERE cluster = 'audit' AND owner = 'b'")" -gt 0 ]] && break
  sleep 0.1
done
adds "$(cat "$work/b.port")" 41 80
kill -TERM "${pids[0]}" "${pids[1]}"
wait "${pids[0]}" "${pids[1]}" 2>/dev/null || true

out="$("$checker" "$store" audit)" || fail "the check refused a correct history: $out"
echo "$out"
[[ "$out" == *"80 command records of 8 shards"* ]] || fail "expected 80 records over 8 shards: $out"

# expect_violation WHAT TEXT: the check exits 1 and names TEXT (the caller removes what it forged).
expect_violation() {
  local got status=0
  got="$("$checker" "$store" audit)" || status=$?
  [[ $status -eq 1 && "$got" == *"$2"* ]] || fail "$1: expected exit 1 naming '$2', got $status: $got"
  echo "found $1: $(grep -m1 "$2" <<<"$got" | sed 's/^ *//')"
}
# A shard and epoch some write was made at; both members left, so another change (a release) followed it.
read -r shard epoch <<<"$(sql "SELECT shard || ' ' || epoch FROM applied_commands WHERE epoch IS NOT NULL LIMIT 1")"
forge() {
  sql "INSERT INTO applied_commands (entity, scope, key, reply, applied_at, shard, epoch)
       VALUES ('forged', 1, 'forged', '', clock_timestamp(), $shard, $1)"
}
unforge() { sql "DELETE FROM applied_commands WHERE entity = 'forged'"; }

# A member that kept writing at its epoch after the shard moved on.
forge "$epoch"
expect_violation "a second writer" "a second writer"
unforge
"$checker" "$store" audit >/dev/null || fail "the check still fails once the forged write is gone"

forge "$epoch + 5"
expect_violation "an epoch nobody claimed" "no change of owner began that epoch"
unforge

release_epoch="$(sql "SELECT min(epoch) FROM cluster_shard_history WHERE cluster = 'audit' AND owner = ''")"
if [[ -n "$release_epoch" ]]; then
  shard="$(sql "SELECT shard FROM cluster_shard_history WHERE cluster = 'audit' AND epoch = $release_epoch
                AND owner = '' LIMIT 1")"
  forge "$release_epoch"
  expect_violation "a write while nobody owned the shard" "the epoch had no owner"
  unforge
else
  fail "b's start released no shard of a: no handover happened"
fi

sql "DELETE FROM cluster_shard_history WHERE cluster = 'audit' AND shard = $shard AND epoch = 1"
expect_violation "a gap in the history" "history: shard $shard"
echo "check single writer ok"
