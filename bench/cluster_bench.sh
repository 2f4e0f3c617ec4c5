#!/usr/bin/env bash
# The cluster benchmarks of issue 14 (docs/cluster.md, "Performance"): shopping-cart members on one throwaway
# PostgreSQL (scripts/pg-throwaway.sh), driven by grpc_load over gRPC with `--call AddItem` (one durable event per
# call) and `--call GetCart`, 1/32/256 closed-loop callers over 1000 carts, 3 s per row; prints ONE markdown table:
#   1. one member alone (a cluster of one, every shard local): the baseline of the three-member ratio;
#   2. two members A and B, the client talking only to A: carts whose shards A owns (local) and, right after, carts
#      whose shards B owns (every command forwarded by A to B over the transport): forwarded/local, target ≤ 1.5× the
#      cost, i.e. forwarded throughput ≥ 1/1.5 = 67 % of local;
#   3. three members, the client's channels spread over all three (a client does not know the owner, so about 2/3 of
#      the commands are forwarded): throughput vs one member, target ≥ 0.8×; and, right after, the same carts sent
#      each to its owner (grpc_load's routed entity list, as a client that knows the shard map would; nothing
#      forwarded): what the members cost when the cores are shared but no command takes a second hop.
# Which carts are whose: a cart's shard is FNV-1a 64 of its id modulo --shards (runtime::shard_of), the owners are read
# from the store's cluster_shards table. Each forwarded row checks A's actorstate_cluster_forwarded_commands_total
# (and B's inbound counter) and fails loudly when the commands were not forwarded; each local row checks that
# nothing was. Progress goes to stderr. Every program runs under `timeout`, every load is bounded in time and count;
# every process and the throwaway PostgreSQL are stopped on every exit path. Takes about 3 minutes with the defaults.
# It builds nothing; build first with:
#   scripts/build.sh build-bench -DCMAKE_BUILD_TYPE=Release -DACTORSTATE_BUILD_BENCH=ON -DACTORSTATE_BUILD_TESTS=OFF
# Usage:
#   bench/cluster_bench.sh [BUILD_DIR (default build-bench)] [--seconds N (3)] [--keep-work]
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

build="$(cd "$build" 2>/dev/null && pwd)" || { echo "no build directory: build with the command in --help" >&2; exit 2; }
grpc_load="$build/bench/grpc_load"
cart="$build/samples/shopping-cart/shopping-cart"
for bin in "$grpc_load" "$cart"; do
  [[ -x "$bin" ]] || { echo "missing $bin: build with the command in --help" >&2; exit 2; }
done
for tool in jq curl psql; do
  command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 2; }
done
[[ -x /usr/lib/postgresql/15/bin/initdb ]] || { echo "PostgreSQL 15's server binaries are required" >&2; exit 2; }

shards=128
entities=1000
concurrency=(1 32 256)
calls=(AddItem GetCart)
# A bound on every load's count: far above what 2 cores do in --seconds, so time ends each row.
max_calls=$((seconds * 200000))

work="$(mktemp -d /tmp/actorstate-cluster-bench.XXXXXX)"
mkdir -p "$work/logs"
rows="$work/rows.md"
: >"$rows"

log() { printf '[cluster-bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

pids=()
pg_dir=""
cleanup() {
  ((${#pids[@]} == 0)) || stop_members "${pids[@]}"
  if [[ -n "$pg_dir" ]]; then
    "$root/scripts/pg-throwaway.sh" stop "$pg_dir" >/dev/null 2>&1 || true
  fi
  if [[ "$keep_work" == 1 ]]; then log "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# -- helpers ----------------------------------------------------------------------------------------------------------

commas() { LC_ALL=C awk -v x="$1" 'BEGIN { s = sprintf("%.0f", x); n = "";
  while (length(s) > 3) { n = "," substr(s, length(s) - 2) n; s = substr(s, 1, length(s) - 3) } print s n }'; }
field() { [[ -n "$1" ]] || return 0; jq -r ".$2 // empty" <<<"$1"; }
add_row() {
  local IFS='|'
  local s="$*"
  echo "| ${s//|/ | } |" >>"$rows"
}

# shard_of ID: runtime::shard_of, FNV-1a 64 of the id's bytes modulo $shards. Bash integers are 64-bit and wrap like
# the C++ uint64_t; only the final modulo must treat the value as unsigned.
shard_of() {
  local id="$1" h=-3750763034362895579 i c  # 14695981039346656037 as a signed 64-bit integer
  for ((i = 0; i < ${#id}; i++)); do
    printf -v c '%d' "'${id:i:1}"
    h=$(((h ^ c) * 1099511628211))
  done
  if ((h >= 0)); then
    echo $((h % shards))
  else
    # unsigned h = h + 2^64; 2^64 mod shards = 2 * (2^63 mod shards) mod shards, and 2^63 = INT64_MAX + 1.
    local two63=$(((9223372036854775807 % shards + 1) % shards))
    echo $((((h % shards + shards) % shards + 2 * two63) % shards))
  fi
}

# start_member NAME CLUSTER: a shopping-cart member on free ports under `timeout`; sets member_pid[NAME] (timeout's,
# which passes SIGTERM on), and wait_member sets cpu_pid[NAME] (the member's own, for its CPU time),
# client_port[NAME] and mgmt_port[NAME].
declare -A member_pid cpu_pid client_port mgmt_port
start_member() {
  local name="$1" cluster="$2"
  rm -f "$work/$name.port"
  timeout --kill-after=10 900 "$cart" --cluster "$cluster" --store "$pg_uri" --node-id "$name" --shards "$shards" \
    --cluster-port 0 --port 0 --port-file "$work/$name.port" --management-port 0 --bind 127.0.0.1 \
    >"$work/logs/$cluster-$name.log" 2>&1 &
  member_pid[$name]=$!
  pids+=("$!")
}

# wait_member NAME CLUSTER: the member's ports, then /ready.
wait_member() {
  local name="$1" cluster="$2" m=""
  for _ in $(seq 1 300); do
    [[ -s "$work/$name.port" ]] && m="$(grep -o 'management 127\.0\.0\.1:[0-9]*' "$work/logs/$cluster-$name.log" |
      head -1 | sed 's/.*://')" && [[ -n "$m" ]] && break
    kill -0 "${member_pid[$name]}" 2>/dev/null || die "member $name exited: $(tail -3 "$work/logs/$cluster-$name.log")"
    sleep 0.1
  done
  [[ -n "$m" ]] || die "member $name: no ports after 30 s"
  client_port[$name]="$(cat "$work/$name.port")"
  mgmt_port[$name]="$m"
  cpu_pid[$name]="$(pgrep -P "${member_pid[$name]}" | head -1)"
  [[ -n "${cpu_pid[$name]}" ]] || die "member $name: no process under timeout"
  for _ in $(seq 1 300); do
    curl -fs -o /dev/null "http://127.0.0.1:$m/ready" && return 0
    sleep 0.1
  done
  die "member $name not ready after 30 s"
}

# wait_placed NAME COUNT: until NAME's /cluster shows COUNT members up, each of them serving what the store gives it,
# and every shard owned, the same for three readings in a row (placement done, no handover under way).
wait_placed() {
  local name="$1" count="$2" last="" same=0 view state
  for _ in $(seq 1 600); do
    view="$(curl -fs "http://127.0.0.1:${mgmt_port[$name]}/cluster" || true)"
    state="$(jq -r '[.members[] | select(.status == "up") | "\(.id)=\(.shards)"] | join(",")' <<<"$view" 2>/dev/null ||
      true)"
    if [[ -n "$state" ]] &&
      [[ "$(jq '[.members[] | select(.status == "up")] | length' <<<"$view")" == "$count" ]] &&
      [[ "$(jq '[.members[].shards] | add' <<<"$view")" == "$shards" ]] &&
      serving_matches "$view"; then
      if [[ "$state" == "$last" ]]; then same=$((same + 1)); else same=0; last="$state"; fi
      ((same >= 2)) && { log "placed: $state"; return 0; }
    fi
    sleep 0.25
  done
  die "cluster not placed after 150 s: $view"
}

# serving_matches VIEW: every member serves exactly the shards the store gives it (asked of each member).
serving_matches() {
  local id v
  for id in $(jq -r '.members[].id' <<<"$1"); do
    [[ -n "${mgmt_port[$id]:-}" ]] || return 1
    v="$(curl -fs "http://127.0.0.1:${mgmt_port[$id]}/cluster" || true)"
    [[ -n "$v" ]] || return 1
    [[ "$(jq --arg id "$id" '.serving == ([.members[] | select(.id == $id) | .shards] | add)' <<<"$v")" == true ]] ||
      return 1
  done
}

# counter NAME METRIC: the member's counter from /metrics; a missing one fails the run (the checks depend on it).
counter() {
  local v
  v="$(curl -fs "http://127.0.0.1:${mgmt_port[$1]}/metrics" | awk -v m="$2" '$1 == m { print $2; exit }')"
  [[ "$v" =~ ^[0-9]+$ ]] || die "member $1: no $2 in /metrics"
  echo "$v"
}

# forwarded_sum NAME...: the members' forwarded commands together.
forwarded_sum() {
  local n=0 name v
  for name in "$@"; do
    # Explicit: a command substitution does not inherit `set -e`.
    v="$(counter "$name" actorstate_cluster_forwarded_commands_total)" || exit 1
    n=$((n + v))
  done
  echo "$n"
}

# stop_members PID...: SIGTERM (a member hands its shards over and drains), SIGKILL after 15 s.
stop_members() {
  local p
  for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "$@"; do
    for _ in $(seq 1 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  # Forget them, so the exit trap never signals a pid the system has given to another process since.
  local keep=() q
  for q in "${pids[@]}"; do [[ " $* " == *" $q "* ]] || keep+=("$q"); done
  pids=("${keep[@]}")
}

# cpu_ticks PID...: clock ticks (user + system) the processes have used so far.
cpu_ticks() {
  local t=0 p f
  for p in "$@"; do
    read -r -a f <"/proc/$p/stat" 2>/dev/null && t=$((t + f[13] + f[14]))
  done
  echo "$t"
}

# usage PID...: "TICKS SWITCHES BUSY ALL": the processes' CPU ticks and context switches (voluntary and not, every
# thread) so far, and the whole host's busy and total ticks (/proc/stat). Switches per call show what the hops
# between threads and processes cost; the host's busy share shows whether the cores were saturated (by anything,
# other builds included).
usage() {
  local s=0 p
  for p in "$@"; do
    s=$((s + $(cat /proc/"$p"/task/*/status 2>/dev/null | awk '/ctxt_switches/ { n += $2 } END { print n + 0 }')))
  done
  echo "$(cpu_ticks "$@") $s $(awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)"
}
clk_tck="$(getconf CLK_TCK)"

# entity_list FILE PREFIX OWNER...: $entities cart ids PREFIX<n> whose shards one of OWNER owns (per the store); and
# FILE.routes, the same ids each with the index of its owner among OWNER... (grpc_load's routed entity list).
entity_list() {
  local file="$1" prefix="$2"
  shift 2
  local -A mine=()
  local owner shard index=0
  for owner in "$@"; do
    for shard in $(psql "$pg_uri" -Atc "SELECT shard FROM cluster_shards WHERE cluster = '$cluster' AND owner = '$owner'"); do
      mine[$shard]=$index
    done
    index=$((index + 1))
  done
  ((${#mine[@]} > 0)) || die "the store gives no shard of cluster $cluster to $*"
  : >"$file"
  : >"$file.routes"
  local n=0 k=0 owner_index
  while ((n < entities)); do
    ((k < entities * 100)) || die "could not find $entities carts on the shards of $*"
    owner_index="${mine[$(shard_of "$prefix$k")]:-}"
    if [[ -n "$owner_index" ]]; then
      echo "$prefix$k" >>"$file"
      echo "$prefix$k $owner_index" >>"$file.routes"
      n=$((n + 1))
    fi
    k=$((k + 1))
  done
}

# load CALL TARGETS LIST C...: grpc_load's JSON lines, one per concurrency; stderr to the log.
load() {
  local call="$1" targets="$2" list="$3"
  shift 3
  local IFS=,
  timeout --kill-after=10 $((seconds * $# + 120)) "$grpc_load" --target "$targets" --call "$call" --entity-list "$list" \
    --concurrency "$*" --seconds "$seconds" --max-calls "$max_calls" --json 2>>"$work/logs/grpc_load.log" ||
    die "grpc_load $call against $targets failed: $(tail -2 "$work/logs/grpc_load.log")"
}

# warm TARGETS LIST: every cart of LIST read once, so the rows measure running entities, not their first recovery,
# and the members' transport connections are up.
warm() {
  timeout --kill-after=10 120 "$grpc_load" --target "$1" --call GetCart --entity-list "$2" --concurrency 32 --seconds 60 \
    --max-calls $((entities * 2)) --json >/dev/null 2>>"$work/logs/grpc_load.log" || die "warming up against $1 failed"
}

# idle_cpu NAME...: the members' CPU use with no load, in % of one core over 2 s (renewals, heartbeats, CAF's
# threads): what every member costs whether or not it gets commands.
declare -A idle
idle_cpu() {
  local pids_=() name t0_ t1_
  for name in "$@"; do pids_+=("${cpu_pid[$name]}"); done
  t0_="$(cpu_ticks "${pids_[@]}")"
  sleep 2
  t1_="$(cpu_ticks "${pids_[@]}")"
  LC_ALL=C awk -v t=$((t1_ - t0_)) -v hz="$clk_tck" 'BEGIN { printf "%.0f", 100 * t / hz / 2 }'
}

# per_call BEFORE AFTER JSON: the CPU and context switches per successful call between two `usage` readings, and
# how busy the host was.
per_call() {
  local b=($1) a=($2)
  LC_ALL=C awk -v t=$((a[0] - b[0])) -v w=$((a[1] - b[1])) -v hb=$((a[2] - b[2])) -v ht=$((a[3] - b[3])) \
    -v hz="$clk_tck" -v r="$(field "$3" rate)" -v s="$(field "$3" seconds)" 'BEGIN { n = r * s; if (n > 0)
      printf "CPU %.0f µs, %.1f switches per call; host %.0f %% busy", t / hz * 1e6 / n, w / n, (ht > 0 ? 100 * hb / ht : 0) }'
}

lat() { echo "$(commas "$(field "$1" p50_us)") / $(commas "$(field "$1" p99_us)")"; }

# -- the run ----------------------------------------------------------------------------------------------------------

load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
started="$(date -u '+%Y-%m-%d %H:%M UTC')"
t0=$SECONDS
log "work directory $work; $seconds s per row; starting a throwaway PostgreSQL"
pg_dir="$work/pg"
"$root/scripts/pg-throwaway.sh" start "$pg_dir" 2>>"$work/logs/pg.log" || die "PostgreSQL did not start"
pg_uri="$(cat "$pg_dir/uri")"
loads=()
sample_load() { loads+=("$(cut -d' ' -f1 /proc/loadavg)"); }

declare -A one  # "CALL C" → the one-member JSON
declare -A one_cpu

# 1. One member.
cluster=bench1
log "1 member: starting"
start_member solo "$cluster"
wait_member solo "$cluster"
wait_placed solo 1
entity_list "$work/solo.ids" "one$$-" solo
warm "127.0.0.1:${client_port[solo]}" "$work/solo.ids"
idle[1]="$(idle_cpu solo)"
for call in "${calls[@]}"; do
  for c in "${concurrency[@]}"; do
    log "1 member: $call, $c callers"
    u_0="$(usage "${cpu_pid[solo]}")"
    one[$call $c]="$(load "$call" "127.0.0.1:${client_port[solo]}" "$work/solo.ids" "$c")"
    one_cpu[$call $c]="$(per_call "$u_0" "$(usage "${cpu_pid[solo]}")" "${one[$call $c]}")"
    sample_load
  done
done
f="$(counter solo actorstate_cluster_forwarded_commands_total)"
[[ "${f:-0}" == 0 ]] || die "the one-member cluster forwarded $f commands"
stop_members "${member_pid[solo]}"

# 2. Two members, the client on A only: local carts (A's shards), then forwarded ones (B's), each concurrency in turn.
cluster=bench2
log "2 members: starting a and b"
start_member a "$cluster"
start_member b "$cluster"
wait_member a "$cluster"
wait_member b "$cluster"
wait_placed a 2
entity_list "$work/local.ids" "loc$$-" a
entity_list "$work/fwd.ids" "fwd$$-" b
warm "127.0.0.1:${client_port[a]}" "$work/local.ids"
warm "127.0.0.1:${client_port[a]}" "$work/fwd.ids"
idle[2]="$(idle_cpu a b)"
for call in "${calls[@]}"; do
  for c in "${concurrency[@]}"; do
    log "2 members: $call, $c callers, local carts then forwarded carts"
    f0="$(counter a actorstate_cluster_forwarded_commands_total)"
    u_0="$(usage "${cpu_pid[a]}" "${cpu_pid[b]}")"
    l="$(load "$call" "127.0.0.1:${client_port[a]}" "$work/local.ids" "$c")"
    u_1="$(usage "${cpu_pid[a]}" "${cpu_pid[b]}")"
    f1="$(counter a actorstate_cluster_forwarded_commands_total)"
    i1="$(counter b actorstate_cluster_inbound_commands_total)"
    m="$(load "$call" "127.0.0.1:${client_port[a]}" "$work/fwd.ids" "$c")"
    u_2="$(usage "${cpu_pid[a]}" "${cpu_pid[b]}")"
    f2="$(counter a actorstate_cluster_forwarded_commands_total)"
    i2="$(counter b actorstate_cluster_inbound_commands_total)"
    sample_load
    # The proof that the rows measure what they say: the local row forwarded nothing, and the forwarded row forwarded
    # every call it counted (failed calls and calls cut off at the deadline may add a few more).
    [[ $((f1 - f0)) == 0 ]] || die "the local row forwarded $((f1 - f0)) commands"
    n="$(field "$m" calls)"
    ((f2 - f1 >= n && i2 - i1 >= n)) ||
      die "the forwarded row made $n calls but a forwarded $((f2 - f1)) and b took in $((i2 - i1))"
    lr="$(field "$l" rate)"
    mr="$(field "$m" rate)"
    ratio="$(LC_ALL=C awk -v m="$mr" -v l="$lr" 'BEGIN { printf "%.2f", (m > 0 ? l / m : 0) }')"
    mark="✘"
    LC_ALL=C awk -v r="$ratio" 'BEGIN { exit !(r <= 1.5) }' && mark="✔"
    errs="$(field "$l" errors)/$(field "$m" errors)"
    add_row "2 members, client on A: local (A's carts)" "$call" "$c" "$(commas "$lr")" "$(lat "$l")" "" "" \
      "a + b: $(per_call "$u_0" "$u_1" "$l"); errors $(field "$l" errors)"
    add_row "2 members, client on A: forwarded (B's carts)" "$call" "$c" "$(commas "$mr")" "$(lat "$m")" \
      "cost ${ratio}× local" "≤ 1.5× $mark" \
      "a + b: $(per_call "$u_1" "$u_2" "$m"); a forwarded $(commas $((f2 - f1))); errors $(field "$m" errors)"
  done
done
stop_members "${member_pid[a]}" "${member_pid[b]}"

# 3. Three members, the client's channels spread over all three; compared with the one-member rows above.
cluster=bench3
log "3 members: starting x, y and z"
for name in x y z; do start_member "$name" "$cluster"; done
for name in x y z; do wait_member "$name" "$cluster"; done
wait_placed x 3
entity_list "$work/three.ids" "three$$-" x y z
targets="127.0.0.1:${client_port[x]},127.0.0.1:${client_port[y]},127.0.0.1:${client_port[z]}"
warm "$targets" "$work/three.ids"
idle[3]="$(idle_cpu x y z)"
for call in "${calls[@]}"; do
  for c in "${concurrency[@]}"; do
    log "3 members: $call, $c callers"
    f0="$(forwarded_sum x y z)"
    u_0="$(usage "${cpu_pid[x]}" "${cpu_pid[y]}" "${cpu_pid[z]}")"
    m="$(load "$call" "$targets" "$work/three.ids" "$c")"
    u_1="$(usage "${cpu_pid[x]}" "${cpu_pid[y]}" "${cpu_pid[z]}")"
    f1="$(forwarded_sum x y z)"
    sample_load
    b="${one[$call $c]}"
    br="$(field "$b" rate)"
    mr="$(field "$m" rate)"
    ratio="$(LC_ALL=C awk -v m="$mr" -v b="$br" 'BEGIN { printf "%.2f", (b > 0 ? m / b : 0) }')"
    mark="✘"
    LC_ALL=C awk -v r="$ratio" 'BEGIN { exit !(r >= 0.8) }' && mark="✔"
    fwd_pct="$(LC_ALL=C awk -v f=$((f1 - f0)) -v n="$(field "$m" calls)" 'BEGIN { printf "%.0f", (n > 0 ? 100 * f / n : 0) }')"
    add_row "1 member" "$call" "$c" "$(commas "$br")" "$(lat "$b")" "" "" \
      "${one_cpu[$call $c]}; errors $(field "$b" errors)"
    add_row "3 members, client spread over all" "$call" "$c" "$(commas "$mr")" "$(lat "$m")" "${ratio}× 1 member" \
      "≥ 0.8× $mark" \
      "x + y + z: $(per_call "$u_0" "$u_1" "$m"); ${fwd_pct} % forwarded; errors $(field "$m" errors)"
    log "3 members: $call, $c callers, each cart sent to its owner"
    r="$(load "$call" "$targets" "$work/three.ids.routes" "$c")"
    u_2="$(usage "${cpu_pid[x]}" "${cpu_pid[y]}" "${cpu_pid[z]}")"
    f2="$(forwarded_sum x y z)"
    # The proof that the client routed: no member forwarded (a handover under way would show here too).
    [[ $((f2 - f1)) == 0 ]] || die "the owner-routed row forwarded $((f2 - f1)) commands"
    rr="$(field "$r" rate)"
    ratio="$(LC_ALL=C awk -v m="$rr" -v b="$br" 'BEGIN { printf "%.2f", (b > 0 ? m / b : 0) }')"
    mark="✘"
    LC_ALL=C awk -v r="$ratio" 'BEGIN { exit !(r >= 0.8) }' && mark="✔"
    add_row "3 members, each cart sent to its owner" "$call" "$c" "$(commas "$rr")" "$(lat "$r")" \
      "${ratio}× 1 member" "≥ 0.8× $mark" \
      "x + y + z: $(per_call "$u_1" "$u_2" "$r"); nothing forwarded; errors $(field "$r" errors)"
  done
done
stop_members "${member_pid[x]}" "${member_pid[y]}" "${member_pid[z]}"

load_end="$(cut -d' ' -f1-3 /proc/loadavg)"
commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git -C "$root" status --porcelain 2>/dev/null | head -1)" ]]; then commit+=" with local changes"; fi
cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo "actorstate cluster benchmarks, $started: commit $commit; $(nproc) cores ($cpu); members, client and PostgreSQL"
echo "on this one host; store: one throwaway PostgreSQL 15 (fsync on), $shards shards, $entities carts per row, $seconds s"
echo "per row; load average $load_start at the start, $load_end at the end, 1-minute load during the rows"
echo "$(printf '%s\n' "${loads[@]}" | sort -g | head -1)–$(printf '%s\n' "${loads[@]}" | sort -g | tail -1); members' CPU with no load: ${idle[1]} % of a core"
echo "(1 member), ${idle[2]} % (2), ${idle[3]} % (3); $((SECONDS - t0)) s in all."
echo
echo "| scenario | call | callers | calls/s | p50 / p99 µs | ratio | target | notes |"
echo "|---|---|---|---|---|---|---|---|"
cat "$rows"
