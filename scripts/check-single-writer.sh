#!/usr/bin/env bash
# Proves from a PostgreSQL store alone that no shard of a cluster ever had two writers (issue 14; docs/cluster.md,
# "Fencing"). Every fenced write stores the shard and epoch its writer held, and every change of a shard's owner adds a
# line to cluster_shard_history with marks taken from the same numbering as the writes (journal.ordering,
# applied_commands.ordering), after every write of the old epoch committed (schema v4, postgres_store.cpp). So a write
# of epoch e is correct only if it is numbered above the mark of the change that began e and at or below the mark of
# the change that ended it, and only if e had an owner. A member writing after it lost its shard would break the
# first; a write no claim ever allowed, the second.
#
# Checks journal events and idempotency records (every command with a key records one in its write's transaction);
# value rows keep no history. The database is assumed to hold one cluster's entities (the fault scenarios' throwaway
# PostgreSQL does), created at schema version 4 or later (a migrated store has no history of earlier changes: its
# shards show as gaps). Prints what it checked; exits 1 with the first violations listed, 2 on a usage or connection error.
#   scripts/check-single-writer.sh postgres://USER@HOST:PORT/DB CLUSTER
set -euo pipefail
if [[ $# -ne 2 || "$1" != postgres://* && "$1" != postgresql://* ]]; then
  echo "usage: $0 postgres://USER@HOST:PORT/DB CLUSTER" >&2
  exit 2
fi
uri="$1"
cluster="$2"
psql_bin="$(command -v psql || echo /usr/lib/postgresql/15/bin/psql)"

run() { "$psql_bin" "$uri" -v ON_ERROR_STOP=1 -X -q -A -t -F ' ' -v cluster="$cluster" "$@"; }

# The writes of each table with the change that began their epoch and the one after it.
read -r -d '' placed <<'SQL' || true
WITH history AS (
  SELECT shard, epoch, owner, owner_incarnation, journal_mark, applied_mark,
         lead(epoch) OVER w AS next_epoch, lead(journal_mark) OVER w AS next_journal_mark,
         lead(applied_mark) OVER w AS next_applied_mark
  FROM cluster_shard_history WHERE cluster = :'cluster'
  WINDOW w AS (PARTITION BY shard ORDER BY epoch)),
writes AS (
  SELECT 'journal' AS kind, persistence_id || ' seq ' || seq AS what, shard, epoch, ordering FROM journal
  WHERE epoch IS NOT NULL
  UNION ALL
  SELECT 'applied', entity || ' key ' || encode(key, 'escape'), shard, epoch, ordering FROM applied_commands
  WHERE epoch IS NOT NULL),
placed AS (
  SELECT w.*, h.owner, h.owner_incarnation,
         CASE w.kind WHEN 'journal' THEN h.journal_mark ELSE h.applied_mark END AS mark,
         CASE w.kind WHEN 'journal' THEN h.next_journal_mark ELSE h.next_applied_mark END AS next_mark,
         h.next_epoch, h.shard IS NOT NULL AS known
  FROM writes w LEFT JOIN history h ON h.shard = w.shard AND h.epoch = w.epoch)
SQL

if ! run -c "SELECT 1 FROM cluster_shard_history LIMIT 1" >/dev/null 2>&1; then
  echo "check-single-writer: cannot read cluster_shard_history at $uri (a store of schema version 4 or later?)" >&2
  exit 2
fi

violations="$(run <<SQL
$placed
SELECT kind || ' ' || what || ' of shard ' || shard || ' at epoch ' || epoch || ': ' ||
       CASE WHEN NOT known THEN 'no change of owner began that epoch'
            WHEN owner = '' THEN 'the epoch had no owner (a release)'
            WHEN ordering <= mark THEN 'numbered before the epoch began'
            ELSE 'numbered after epoch ' || next_epoch || ' began: a second writer' END
FROM placed
WHERE NOT known OR owner = '' OR ordering <= mark OR (next_mark IS NOT NULL AND ordering > next_mark)
ORDER BY shard, ordering LIMIT 20;
SQL
)"

# Epochs of each shard are consecutive from 1, each change adds one, and the last is the shard's current epoch.
gaps="$(run <<'SQL'
SELECT 'shard ' || s.shard || ': epochs in history ' || coalesce(min(h.epoch), 0) || '..' || coalesce(max(h.epoch), 0) ||
       ' (' || count(h.epoch) || ' changes), current epoch ' || s.epoch
FROM cluster_shards s LEFT JOIN cluster_shard_history h ON h.cluster = s.cluster AND h.shard = s.shard
WHERE s.cluster = :'cluster'
GROUP BY s.shard, s.epoch
HAVING coalesce(max(h.epoch), 0) <> s.epoch OR count(h.epoch) <> s.epoch OR coalesce(min(h.epoch), 1) <> 1
ORDER BY s.shard LIMIT 20;
SQL
)"

summary="$(run <<SQL
$placed
SELECT count(*) FILTER (WHERE kind = 'journal'), count(*) FILTER (WHERE kind = 'applied'), count(DISTINCT shard),
       count(DISTINCT (shard, epoch)), count(DISTINCT owner || '/' || owner_incarnation)
FROM placed;
SQL
)"
read -r events records shards epochs owners <<<"$summary"
changes="$(run <<<"SELECT count(*) FROM cluster_shard_history WHERE cluster = :'cluster';")"

if [[ -n "$violations" || -n "$gaps" ]]; then
  echo "single writer VIOLATED in cluster '$cluster':"
  [[ -z "$violations" ]] || sed 's/^/  /' <<<"$violations"
  [[ -z "$gaps" ]] || sed 's/^/  history: /' <<<"$gaps"
  exit 1
fi
echo "single writer: $events fenced events and $records command records of $shards shards, written at $epochs" \
  "epochs by $owners owner incarnations ($changes changes of owner): each inside its epoch"
