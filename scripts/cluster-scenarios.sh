#!/usr/bin/env bash
# Runs the cluster fault scenarios (unit_tests/cluster/fault_scenario.sh) in a loop: each scenario RUNS times in a
# row (default 20), stopping at the first failure, whose logs are kept and named. CI runs each scenario once
# (ctest -L scenario); this is the "20 runs in a row" check. Needs a build (scripts/build.sh build) and root for the
# partition scenario. Each run prints clusterload's fault figures: the first success after the fault (any entity), the
# longest stretch without a success, and the slowest entity's first success after the fault (it bounds the time until
# commands on the entities of a crashed member succeed again). At the end, and before exiting on a failure, a table
# sums up each scenario's runs.
#   scripts/cluster-scenarios.sh [RUNS] [SCENARIO...]    # default: every scenario
set -euo pipefail

# row FILE NAME: the value of clusterload's summary row NAME (names are padded to 22 columns), nothing if absent.
row() {
  awk -v name="$2" '{ key = substr($0, 1, 22); sub(/ +$/, "", key) } key == name { print substr($0, 24) }' "$1"
}

# run_line SCENARIO RUN OUT STATS: prints the run's line from its output OUT and appends
# "SCENARIO RUN SLOWEST_MS LONGEST_MS" to STATS ("-" for a figure the output lacks).
run_line() {
  local fault unavailability entity missed shown slowest=- longest=-
  local entity_re='^slowest first success ([0-9]+) ms after it \((.*)\); median ([0-9]+) ms; ([0-9]+) entities$'
  local longest_re='^longest ([0-9]+) ms without a success'
  fault="$(row "$3" fault)"
  unavailability="$(row "$3" unavailability)"
  entity="$(row "$3" 'fault per entity')"
  missed="$(row "$3" 'not recovered')"
  shown="${entity:-none}"
  if [[ "$entity" =~ $entity_re ]]; then
    slowest="${BASH_REMATCH[1]}"
    shown="$slowest ms (${BASH_REMATCH[2]}), median ${BASH_REMATCH[3]} ms, ${BASH_REMATCH[4]} entities"
  fi
  [[ -z "$missed" ]] || shown="$shown; ${missed%% *} with ops after it not recovered"
  [[ ! "$unavailability" =~ $longest_re ]] || longest="${BASH_REMATCH[1]}"
  printf '%-10s %5s  %s; %s; slowest entity %s\n' "$1" "$2" "$fault" "$unavailability" "$shown"
  echo "$1 $2 $slowest $longest" >>"$4"
}

# summary_table STATS: per scenario (in the order run), its runs, the slowest entity's first success after the fault
# at p50 / p90 / max over the runs (nearest rank; with 20 runs p99 is the max, so the max is the p99 to hold against
# the failover target), and the longest unavailability's max. "-": no run measured it.
summary_table() {
  local scenario count longest
  printf '%-10s %5s  %-38s %s\n' scenario runs "slowest entity ms: p50 / p90 / max" "longest unavailability ms: max"
  for scenario in $(awk '!seen[$1]++ { print $1 }' "$1"); do
    count="$(awk -v s="$scenario" '$1 == s { n++ } END { print n + 0 }' "$1")"
    longest="$(awk -v s="$scenario" '$1 == s && $4 != "-" && (max == "" || $4 + 0 > max + 0) { max = $4 }
      END { print (max == "" ? "-" : max) }' "$1")"
    awk -v s="$scenario" '$1 == s && $3 != "-" { print $3 }' "$1" | sort -n |
      awk -v s="$scenario" -v count="$count" -v longest="$longest" '
        function rank(p) { return v[int((p * NR + 99) / 100)] }
        { v[NR] = $1 }
        END {
          figures = NR ? rank(50) " / " rank(90) " / " v[NR] : "-"
          if (NR && NR < count) figures = figures " (" NR " measured)"
          printf "%-10s %5s  %-38s %s\n", s, count, figures, longest
        }'
  done
}

root="$(cd "$(dirname "$0")/.." && pwd)"
runs="${1:-20}"
shift || true
scenarios=("$@")
[[ ${#scenarios[@]} -gt 0 ]] || scenarios=(kill9 sigstop partition rolling join store)
member="$root/build/unit_tests/cluster/cluster_member"
clusterload="$root/build/unit_tests/cluster/clusterload"
[[ -x "$member" && -x "$clusterload" ]] || { echo "build first: scripts/build.sh build" >&2; exit 1; }

stats="$(mktemp)"
trap 'rm -f "$stats"' EXIT
printf '%-10s %5s  %s\n' scenario run \
  "fault -> first success after it; longest unavailability; slowest entity's first success after it"
for scenario in "${scenarios[@]}"; do
  for run in $(seq "$runs"); do
    out="$(mktemp)"
    if ! ACTORSTATE_KEEP_SCENARIO= "$root/unit_tests/cluster/fault_scenario.sh" "$scenario" "$member" "$clusterload" \
      "$root/scripts/pg-throwaway.sh" >"$out" 2>&1; then
      cat "$out"
      rm -f "$out"
      summary_table "$stats"
      echo "scenario $scenario failed in run $run of $runs" >&2
      exit 1
    fi
    if grep -q '^skipped' "$out"; then
      echo "$scenario: $(cat "$out")"
      rm -f "$out"
      break
    fi
    run_line "$scenario" "$run" "$out" "$stats"
    rm -f "$out"
  done
done
echo
summary_table "$stats"
echo "every scenario passed $runs runs in a row"
