#!/usr/bin/env bash
# The CRDT benchmarks of issue 15 (docs/performance.md, "Issue 15: CRDT entities"): the TCK's CRDT model services
# (crdt_bench_member: unit_tests/cluster/crdt_member.cpp built in bench/), every store a fresh SQLite file; prints ONE
# markdown table on stdout:
#   1. native: GCounter increments through node::invoke (crdt_bench native), 1/32/256 closed-loop clients over 1000
#      entities, durable; right after each, the event-sourced path the same way (native_bench: the shopping cart's
#      AddItem): ratio CRDT/ES;
#   2. proxy: grpc_load-style closed-loop callers (crdt_bench load) → actorstate-proxy → crdt_bench_member
#      --user-function (GCounter increments), and right after each, grpc_load AddItem → a second proxy →
#      `shopping-cart --user-function`: ratio CRDT/ES;
#   3. convergence: three members on one SQLite file (loopback); GCounter increments sent to member 1 at a steady rate
#      (CONVERGE_RATE/s for CONVERGE_SECONDS s), ProcessStreamed watchers on members 2 and 3; p50/p99/max of the time
#      from sending an update to its value showing on the other members (target p99 ≤ 100 ms);
#   4. bytes on the wire: a fresh three-member cluster; one ORSet filled with ORSET_ELEMENTS elements through member 1,
#      then ORSET_ADDS more added there; actorstate_crdt_replica_bytes_sent_total on member 1's /metrics over those
#      adds, per update and peer, against the whole state's size (the bytes of a full-state message, read from the
#      same counter when member 1's sync round sends one) and against the same adds to an empty ORSet.
# Progress goes to stderr. Every program runs under `timeout`, every load is bounded in time and count, every process
# is stopped on every exit path. Takes about 2–4 minutes with the defaults (filling the ORSet takes about a minute on 2
# busy cores). It builds nothing; build first with:
#   scripts/build.sh build-bench -DCMAKE_BUILD_TYPE=Release -DACTORSTATE_BUILD_BENCH=ON -DACTORSTATE_BUILD_TESTS=OFF
# Usage:
#   bench/crdt_bench.sh [BUILD_DIR (default build-bench)] [--seconds N (3)] [--keep-work]
# Knobs (environment): CONVERGE_RATE [200], CONVERGE_SECONDS [5], ORSET_ELEMENTS [10000], ORSET_ADDS [100].
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

build="$root/build-bench"
seconds="${BENCH_SECONDS:-3}"
keep_work=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --seconds=*) seconds="${1#*=}"; shift ;;
    --keep-work) keep_work=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    *) build="$1"; shift ;;
  esac
done
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -ge 1 && "$seconds" -le 60 ]] || { echo "--seconds: 1..60" >&2; exit 2; }
converge_rate="${CONVERGE_RATE:-200}"
converge_seconds="${CONVERGE_SECONDS:-5}"
orset_elements="${ORSET_ELEMENTS:-10000}"
orset_adds="${ORSET_ADDS:-100}"
for knob in converge_rate converge_seconds orset_elements orset_adds; do
  [[ "${!knob}" =~ ^[0-9]+$ && "${!knob}" -ge 1 ]] || { echo "$knob must be a positive integer" >&2; exit 2; }
done

build="$(cd "$build" 2>/dev/null && pwd)" || { echo "no build directory: build with the command in --help" >&2; exit 2; }
bench="$build/bench"
member="$bench/crdt_bench_member"
cart="$build/samples/shopping-cart/shopping-cart"
proxy="$build/proxy/actorstate-proxy"
for bin in "$bench/crdt_bench" "$member" "$bench/native_bench" "$bench/grpc_load" "$cart" "$proxy"; do
  [[ -x "$bin" ]] || { echo "missing $bin: build with the command in --help" >&2; exit 2; }
done
for tool in jq curl; do
  command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 2; }
done
# A bound on every closed-loop row's count: far above what 2 cores do in --seconds, so time ends each row.
max_calls=$((seconds * 200000))

work="$(mktemp -d /tmp/actorstate-crdt-bench.XXXXXX)"
mkdir -p "$work/logs"
rows="$work/rows.md"
: >"$rows"

log() { printf '[crdt-bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  if [[ "$keep_work" == 1 ]]; then log "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# -- helpers ----------------------------------------------------------------------------------------------------------

commas() { LC_ALL=C awk -v x="$1" 'BEGIN { s = sprintf("%.0f", x); n = "";
  while (length(s) > 3) { n = "," substr(s, length(s) - 2) n; s = substr(s, 1, length(s) - 3) } print s n }'; }
num() { LC_ALL=C awk -v x="$1" -v f="$2" 'BEGIN { printf f, x }'; }
field() { [[ -n "$1" ]] || return 0; jq -r ".$2 // empty" <<<"$1"; }
add_row() {
  local IFS='|'
  local s="$*"
  echo "| ${s//|/ | } |" >>"$rows"
}

# run_json NAME TIMEOUT CMD...: runs CMD and prints its stdout (JSON lines); stderr goes to a log. Fails (status 1,
# with the log's last lines on stderr) when CMD does; whatever it printed is still printed.
run_json() {
  local name="$1" limit="$2"
  shift 2
  local out rc=0
  out="$(timeout --kill-after=10 "$limit" "$@" 2>>"$work/logs/$name.log")" || rc=$?
  [[ -n "$out" ]] && printf '%s\n' "$out"
  if [[ $rc != 0 ]]; then
    log "$name failed (exit status $rc); last lines of its log:"
    tail -5 "$work/logs/$name.log" >&2 || true
    return 1
  fi
}

# stop_pid PID: SIGTERM, SIGKILL after 15 s.
stop_pid() {
  local p="$1"
  kill -TERM "$p" 2>/dev/null || return 0
  for _ in $(seq 1 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
}

wait_port_file() {
  for _ in $(seq 1 300); do
    [[ -s "$1" ]] && { cat "$1"; return 0; }
    sleep 0.1
  done
  die "no port in $1 after 30 s"
}

# start_uf NAME CMD...: a user function on a free port; pid in $uf_pid, port in $uf_port.
uf_pid=""
uf_port=""
start_uf() {
  local name="$1"
  shift
  rm -f "$work/$name.port"
  HOST=127.0.0.1 timeout --kill-after=10 1800 "$@" --port 0 --port-file "$work/$name.port" --log-level warn \
    >>"$work/logs/$name.log" 2>&1 &
  uf_pid=$!
  pids+=("$uf_pid")
  uf_port="$(wait_port_file "$work/$name.port")"
}

# start_proxy NAME STORE UF_PORT: actorstate-proxy on a free port; pid in $proxy_pid, port in $proxy_port.
proxy_pid=""
proxy_port=""
start_proxy() {
  local name="$1" store="$2" uf="$3"
  rm -f "$work/$name.port"
  timeout --kill-after=10 1800 "$proxy" --user-function-port "$uf" --bind 127.0.0.1 --port 0 \
    --port-file "$work/$name.port" --management-port 0 --store "$store" --log-level warn >>"$work/logs/$name.log" 2>&1 &
  proxy_pid=$!
  pids+=("$proxy_pid")
  proxy_port="$(wait_port_file "$work/$name.port")"
}

# rate_row LABEL CLIENTS CRDT_JSON ES_JSON [NOTES]: a throughput row, CRDT against the event-sourced path.
rate_row() {
  local label="$1" clients="$2" m="$3" b="$4" notes="${5:-}" mrate brate ratio="—"
  mrate="$(field "$m" rate)"
  brate="$(field "$b" rate)"
  [[ -n "$mrate" ]] || notes+="${notes:+; }CRDT run failed, see logs"
  [[ -n "$brate" ]] || notes+="${notes:+; }event-sourced run failed, see logs"
  if [[ -n "$mrate" && -n "$brate" ]]; then
    ratio="$(LC_ALL=C awk -v m="$mrate" -v b="$brate" 'BEGIN { printf "%.0f %%", (b > 0 ? 100 * m / b : 0) }')"
  fi
  local merr berr
  merr="$(field "$m" errors)"
  berr="$(field "$b" errors)"
  [[ "${merr:-0}" == 0 ]] || notes+="${notes:+; }CRDT: $merr errors"
  [[ "${berr:-0}" == 0 ]] || notes+="${notes:+; }event-sourced: $berr errors"
  add_row "$label" "$clients" "${mrate:+$(commas "$mrate") /s}" "${brate:+$(commas "$brate") /s}" "$ratio" "report" \
    "${mrate:+$(commas "$(field "$m" p50_us)") / $(commas "$(field "$m" p99_us)")}" \
    "${brate:+$(commas "$(field "$b" p50_us)") / $(commas "$(field "$b" p99_us)")}" "$notes"
}

# -- cluster members --------------------------------------------------------------------------------------------------

# start_member NAME CLUSTER STORE: a crdt_bench_member on free ports under `timeout`; wait_member fills in the ports.
declare -A member_pid client_port mgmt_port
start_member() {
  local name="$1" cluster="$2" store="$3"
  rm -f "$work/$cluster-$name.port"
  timeout --kill-after=10 1800 "$member" --cluster "$cluster" --store "$store" --node-id "$name" --cluster-port 0 \
    --port 0 --port-file "$work/$cluster-$name.port" --management-port 0 --bind 127.0.0.1 --log-level info \
    >"$work/logs/$cluster-$name.log" 2>&1 &
  member_pid[$name]=$!
  pids+=("$!")
}

# wait_member NAME CLUSTER: the member's ports, then /ready.
wait_member() {
  local name="$1" cluster="$2" m=""
  for _ in $(seq 1 300); do
    [[ -s "$work/$cluster-$name.port" ]] && m="$(grep -o 'management 127\.0\.0\.1:[0-9]*' \
      "$work/logs/$cluster-$name.log" | head -1 | sed 's/.*://')" && [[ -n "$m" ]] && break
    kill -0 "${member_pid[$name]}" 2>/dev/null || die "member $name exited: $(tail -3 "$work/logs/$cluster-$name.log")"
    sleep 0.1
  done
  [[ -n "$m" ]] || die "member $name: no ports after 30 s"
  client_port[$name]="$(cat "$work/$cluster-$name.port")"
  mgmt_port[$name]="$m"
  for _ in $(seq 1 300); do
    curl -fs -o /dev/null "http://127.0.0.1:$m/ready" && return 0
    sleep 0.1
  done
  die "member $name not ready after 30 s"
}

# start_cluster CLUSTER: members m1, m2, m3 on one fresh SQLite file, until each sees three members up.
start_cluster() {
  local cluster="$1" name view
  for name in m1 m2 m3; do start_member "$name" "$cluster" "sqlite:$work/$cluster.db"; done
  for name in m1 m2 m3; do wait_member "$name" "$cluster"; done
  for name in m1 m2 m3; do
    for _ in $(seq 1 600); do
      view="$(curl -fs "http://127.0.0.1:${mgmt_port[$name]}/cluster" || true)"
      [[ "$(jq '[.members[] | select(.status == "up")] | length' <<<"$view" 2>/dev/null || true)" == 3 ]] && break
      sleep 0.1
    done
    [[ "$(jq '[.members[] | select(.status == "up")] | length' <<<"$view" 2>/dev/null || true)" == 3 ]] ||
      die "member $name does not see three members up after 60 s: $view"
  done
  log "cluster $cluster: three members up"
}

# stop_cluster CLUSTER: SIGTERM to every member (`timeout` passes it on and kills a member still running 10 s later);
# $unclean names the members that did not shut down by themselves (no "stopped" in their log).
unclean=""
stop_cluster() {
  local cluster="$1" name
  unclean=""
  for name in m1 m2 m3; do kill -TERM "${member_pid[$name]}" 2>/dev/null || true; done
  for name in m1 m2 m3; do stop_pid "${member_pid[$name]}"; done
  for name in m1 m2 m3; do
    grep -q 'msg=stopped' "$work/logs/$cluster-$name.log" || unclean+="${unclean:+, }$name"
  done
  [[ -z "$unclean" ]] || log "cluster $cluster: $unclean did not shut down on SIGTERM (killed after 10 s)"
}

# crdt_counter NAME METRIC: the sum of METRIC over every entity type on the member's /metrics.
crdt_counter() {
  local v
  v="$(curl -fs "http://127.0.0.1:${mgmt_port[$1]}/metrics" |
    awk -v m="$2" '{ n = $1; sub(/\{.*/, "", n) } n == m { s += $2; found = 1 } END { if (found) printf "%.0f", s }')"
  [[ "$v" =~ ^[0-9]+$ ]] || v=0  # no CRDT sent anything yet: the family may have no series
  echo "$v"
}

# replica_counters NAME: "bytes deltas full_states" sent by the member so far.
replica_counters() {
  echo "$(crdt_counter "$1" actorstate_crdt_replica_bytes_sent_total)" \
    "$(crdt_counter "$1" actorstate_crdt_deltas_sent_total)" \
    "$(crdt_counter "$1" actorstate_crdt_full_states_sent_total)"
}

# -- 1. native --------------------------------------------------------------------------------------------------------

native_rows() {
  local c m b
  for c in 1 32 256; do
    log "native, SQLite: 1000 entities, $c clients (CRDT, then event-sourced)"
    m="$(run_json crdt_native $((seconds + 60)) "$bench/crdt_bench" native --store "sqlite:$work/crdt-native.db" \
      --clients "$c" --entities 1000 --seconds "$seconds" --max-commands "$max_calls" --json)" || m=""
    rm -f "$work"/crdt-native.db*
    b="$(run_json es_native $((seconds + 60)) "$bench/native_bench" --store "sqlite:$work/es-native.db" \
      --clients "$c" --entities 1000 --seconds "$seconds" --max-commands "$max_calls" --json)" || b=""
    rm -f "$work"/es-native.db*
    rate_row "native, SQLite: GCounter increment vs cart AddItem, 1,000 entities" "$c" "$m" "$b" \
      "node::invoke, durable"
  done
}

# -- 2. proxy ---------------------------------------------------------------------------------------------------------

proxy_rows() {
  local crdt_uf crdt_proxy_pid crdt_proxy_port es_uf es_proxy_pid es_proxy_port c m b
  start_uf crdt_uf "$member" --user-function
  crdt_uf="$uf_pid"
  start_proxy crdt_proxy "sqlite:$work/proxy-crdt.db" "$uf_port"
  crdt_proxy_pid="$proxy_pid"
  crdt_proxy_port="$proxy_port"
  start_uf cart_uf "$cart" --user-function
  es_uf="$uf_pid"
  start_proxy es_proxy "sqlite:$work/proxy-es.db" "$uf_port"
  es_proxy_pid="$proxy_pid"
  es_proxy_port="$proxy_port"
  for c in 1 32 256; do
    log "proxy, SQLite: 1000 entities, $c callers (CRDT, then event-sourced)"
    m="$(run_json crdt_proxy_load $((seconds + 60)) "$bench/crdt_bench" load --target "127.0.0.1:$crdt_proxy_port" \
      --update gcounter --concurrency "$c" --entities 1000 --entity-prefix "p$$-$c-" --seconds "$seconds" \
      --max-calls "$max_calls" --json)" || m=""
    b="$(run_json es_proxy_load $((seconds + 60)) "$bench/grpc_load" --target "127.0.0.1:$es_proxy_port" \
      --call AddItem --concurrency "$c" --entities 1000 --entity-prefix "p$$-$c-" --seconds "$seconds" \
      --max-calls "$max_calls" --json)" || b=""
    rate_row "proxy, SQLite: GCounter increment vs cart AddItem, 1,000 entities" "$c" "$m" "$b" \
      "gRPC → actorstate-proxy → user function (crdt_bench_member / shopping-cart --user-function)"
  done
  stop_pid "$crdt_proxy_pid"
  stop_pid "$es_proxy_pid"
  stop_pid "$crdt_uf"
  stop_pid "$es_uf"
  rm -f "$work"/proxy-*.db*
}

# -- 3. convergence ---------------------------------------------------------------------------------------------------

converge_row() {
  local out notes="" mark="✘" label
  label="convergence, 3 members on one SQLite file: $(commas "$converge_rate") GCounter increments/s to member 1"
  label+=" for $converge_seconds s, watched on members 2 and 3"
  start_cluster converge
  log "convergence: $converge_rate updates/s for $converge_seconds s"
  out="$(run_json crdt_converge $((converge_seconds + 120)) "$bench/crdt_bench" converge \
    --source "127.0.0.1:${client_port[m1]}" --watch "127.0.0.1:${client_port[m2]},127.0.0.1:${client_port[m3]}" \
    --entity "GCounter-converge-$$" --rate "$converge_rate" --seconds "$converge_seconds" --settle 10 --json)" ||
    notes="crdt_bench converge reported a failure (see below and the logs)"
  stop_cluster converge
  if [[ -z "$out" ]]; then
    add_row "$label" "1" "" "—" "—" "p99 ≤ 100 ms" "—" "—" "${notes:-failed, see logs}"
    return
  fi
  LC_ALL=C awk -v x="$(field "$out" p99_ms)" 'BEGIN { exit !(x <= 100) }' && mark="✔"
  notes+="${notes:+; }$(commas "$(field "$out" updates)") updates × 2 watchers at $(num "$(field "$out" rate)" \
    "%.0f")/s; member 1's replies (durable) p50 / p99 $(num "$(field "$out" ack_p50_ms)" "%.1f") / $(num \
    "$(field "$out" ack_p99_ms)" "%.1f") ms"
  [[ "$(field "$out" missing)" == 0 ]] || notes+="; $(field "$out" missing) (update, watcher) pairs never shown"
  [[ "$(field "$out" errors)" == 0 ]] || notes+="; $(field "$out" errors) failed updates"
  [[ -z "$unclean" ]] || notes+="; $unclean did not shut down on SIGTERM (killed after 10 s)"
  add_row "$label" "1" "p50 $(num "$(field "$out" p50_ms)" "%.1f") / p99 $(num "$(field "$out" p99_ms)" "%.1f") / max $(num \
    "$(field "$out" max_ms)" "%.1f") ms" "—" "—" "p99 ≤ 100 ms $mark" "—" "—" "$notes"
}

# -- 4. bytes on the wire ---------------------------------------------------------------------------------------------

# measure_adds ENTITY_PREFIX TAG STATE_BYTES: ORSET_ADDS adds (one caller) to ORSet-<prefix>0 on member 1; sets
# adds_per (bytes per update per peer, full-state messages in the window subtracted at STATE_BYTES each), adds_deltas
# and adds_full (the deltas and full-state messages member 1 sent meanwhile).
adds_per=""
adds_deltas=""
adds_full=""
measure_adds() {
  local prefix="$1" tag="$2" state_bytes="$3" before after out
  read -r -a before <<<"$(replica_counters m1)"
  out="$(run_json crdt_wire_adds 120 "$bench/crdt_bench" load --target "127.0.0.1:${client_port[m1]}" --update orset \
    --concurrency 1 --entities 1 --entity-prefix "$prefix" --element-tag "$tag" --max-calls "$orset_adds" \
    --seconds 60 --json)" || die "the $orset_adds adds failed"
  read -r -a after <<<"$(replica_counters m1)"
  [[ "$(field "$out" calls)" == "$orset_adds" ]] || die "only $(field "$out" calls) of $orset_adds adds succeeded"
  local bytes=$((after[0] - before[0]))
  adds_deltas=$((after[1] - before[1]))
  adds_full=$((after[2] - before[2]))
  ((adds_deltas > 0)) || die "member 1 sent no deltas for $orset_adds adds"
  adds_per="$(LC_ALL=C awk -v b="$bytes" -v f="$adds_full" -v s="$state_bytes" -v d="$adds_deltas" \
    'BEGIN { printf "%.1f", (b - f * s) / d }')"
}

wire_row() {
  local label entity_prefix="wire-$$-" fill before after state_bytes="" state_note per small small_deltas full deltas
  label="bytes on the wire per ORSet add per peer, at $(commas "$orset_elements") elements (3 members)"
  start_cluster wire
  log "wire: filling ORSet-${entity_prefix}0 with $orset_elements elements through member 1"
  fill="$(run_json crdt_wire_fill 600 "$bench/crdt_bench" load --target "127.0.0.1:${client_port[m1]}" --update orset \
    --concurrency 32 --entities 1 --entity-prefix "$entity_prefix" --element-tag e --max-calls "$orset_elements" \
    --seconds 400 --json)" || die "filling the ORSet failed"
  [[ "$(field "$fill" calls)" == "$orset_elements" ]] ||
    die "only $(field "$fill" calls) of $orset_elements elements added"
  log "wire: filled in $(num "$(field "$fill" seconds)" "%.1f") s; waiting (≤ 25 s) for member 1's next full-state round"
  # The state's size: member 1 sends the whole state to every member every tenth sync round after a change; with no
  # update in between, the counters' increase over that round is full-state messages only.
  read -r -a before <<<"$(replica_counters m1)"
  for _ in $(seq 1 125); do
    read -r -a after <<<"$(replica_counters m1)"
    ((after[2] > before[2])) && break
    sleep 0.2
  done
  if ((after[2] > before[2])) && ((after[1] == before[1])); then
    state_bytes=$(((after[0] - before[0]) / (after[2] - before[2])))
    state_note="$(commas "$state_bytes") B (a full-state message of member 1's sync round)"
  else
    state_note="no full-state round seen in 25 s; the model's reply with the whole set: $(commas "$(field "$fill" \
      response_bytes)") B"
  fi
  log "wire: $orset_adds adds to the full set"
  measure_adds "$entity_prefix" x "${state_bytes:-0}"
  per="$adds_per" deltas="$adds_deltas" full="$adds_full"
  log "wire: $orset_adds adds to an empty ORSet, for comparison"
  measure_adds "small-$$-" e "${state_bytes:-0}"
  small="$adds_per" small_deltas="$adds_deltas"
  stop_cluster wire
  local notes="$(commas "$deltas") deltas to 2 peers for $orset_adds adds"
  ((full == 0)) || notes+="; $full full-state message(s) of the sync round in the window, subtracted"
  [[ -n "$state_bytes" ]] || ((full == 0)) || notes+=" (size unknown: NOT subtracted)"
  notes+="; the same adds to an empty ORSet: $(num "$small" "%.1f") B per update per peer ($small_deltas deltas)"
  notes+="; filled in $(num "$(field "$fill" seconds)" "%.1f") s by 32 callers (each reply of the model carries the"
  notes+=" whole set: $(commas "$(field "$fill" response_bytes)") B at the end)"
  [[ -z "$unclean" ]] || notes+="; $unclean did not shut down on SIGTERM (killed after 10 s)"
  local ratio="—"
  [[ -z "$state_bytes" ]] ||
    ratio="$(LC_ALL=C awk -v p="$per" -v s="$state_bytes" 'BEGIN { printf "%.2f %%", 100 * p / s }')"
  add_row "$label" "1" "$(num "$per" "%.1f") B" "whole state: $state_note" "$ratio" \
    "small, independent of the set's size" "—" "—" "$notes"
}

# -- the run ----------------------------------------------------------------------------------------------------------

load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
started="$(date -u '+%Y-%m-%d %H:%M UTC')"
t0=$SECONDS
log "work directory $work; $seconds s per throughput row"

native_rows
proxy_rows
converge_row
wire_row

load_end="$(cut -d' ' -f1-3 /proc/loadavg)"
commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git -C "$root" status --porcelain 2>/dev/null | head -1)" ]]; then commit+=" with local changes"; fi
cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"

echo "actorstate CRDT benchmarks, $started: commit $commit; $(nproc) cores ($cpu), $(free -g | awk '/^Mem:/ { print $2 }') GiB,"
echo "$(uname -sr), store files on $(df -T "$work" | awk 'NR == 2 { print $2 }'); load average $load_start at the start,"
echo "$load_end at the end; $seconds s per throughput row, the event-sourced row right after its CRDT row; $((SECONDS - t0)) s in all."
echo
echo "| scenario | clients | CRDT | event-sourced / reference | ratio | target | CRDT p50 / p99 µs | ES p50 / p99 µs | notes |"
echo "|---|---|---|---|---|---|---|---|---|"
cat "$rows"
