#!/usr/bin/env bash
# Runs the cluster fault scenarios (unit_tests/cluster/fault_scenario.sh) in a loop: each scenario RUNS times in a
# row (default 20), stopping at the first failure, whose logs are kept and named. CI runs each scenario once
# (ctest -L scenario); this is the "20 runs in a row" check. Needs a build (scripts/build.sh build) and root for the
# partition scenario.
#   scripts/cluster-scenarios.sh [RUNS] [SCENARIO...]    # default: every scenario
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
runs="${1:-20}"
shift || true
scenarios=("$@")
[[ ${#scenarios[@]} -gt 0 ]] || scenarios=(kill9 sigstop partition rolling join store)
member="$root/build/unit_tests/cluster/cluster_member"
clusterload="$root/build/unit_tests/cluster/clusterload"
[[ -x "$member" && -x "$clusterload" ]] || { echo "build first: scripts/build.sh build" >&2; exit 1; }

printf '%-10s %5s  %s\n' scenario run "fault -> first success after it; longest unavailability"
for scenario in "${scenarios[@]}"; do
  for run in $(seq "$runs"); do
    out="$(mktemp)"
    if ! ACTORSTATE_KEEP_SCENARIO= "$root/unit_tests/cluster/fault_scenario.sh" "$scenario" "$member" "$clusterload" \
      "$root/scripts/pg-throwaway.sh" >"$out" 2>&1; then
      cat "$out"
      echo "scenario $scenario failed in run $run of $runs" >&2
      exit 1
    fi
    if grep -q '^skipped' "$out"; then
      echo "$scenario: $(cat "$out")"
      rm -f "$out"
      break
    fi
    printf '%-10s %5s  %s; %s\n' "$scenario" "$run" "$(grep '^fault' "$out" | sed 's/^fault *//')" \
      "$(grep '^unavailability' "$out" | sed 's/^unavailability *//')"
    rm -f "$out"
  done
done
echo "every scenario passed $runs runs in a row"
