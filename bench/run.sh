#!/usr/bin/env bash
# The benchmark suite (docs/performance.md): runs every benchmark program and prints ONE markdown table on stdout in
# which each throughput row is measured right after its baseline, in the same run:
#   - native entity path (AddItem through node::invoke, durable) vs a raw SQLite group-commit insert loop of the same
#     durability (sqlite_baseline), 1/32/256 closed-loop clients over 1000 entities and over one hot entity;
#   - proxy path (grpc_load → actorstate-proxy → `shopping-cart --user-function` over the Cloudstate protocol →
#     journal → reply) vs a raw gRPC unary echo server driven by the same client (grpc_echo);
#   - recovery time of a cart with 10 000 events, without and with snapshots, native and through the proxy;
#   - memory: VmRSS per active entity (100 000 active counters) and after 1 000 000 counters created and passivated;
#   - PostgreSQL: the native rows (vs a raw libpq group-commit loop, pg_baseline), the proxy rows and the native
#     recovery rows on a loopback PostgreSQL: ACTORSTATE_BENCH_POSTGRES or --postgres URI, otherwise (auto) a throwaway
#     server from scripts/pg-throwaway.sh when PostgreSQL 15's server binaries are installed; --postgres off skips.
# Progress goes to stderr. Every program runs under `timeout` and every load loop is bounded in count and time; the
# whole run takes 3–5 minutes with the defaults. It builds nothing; build first with:
#   scripts/build.sh build-bench -DCMAKE_BUILD_TYPE=Release -DACTORSTATE_BUILD_BENCH=ON -DACTORSTATE_BUILD_TESTS=OFF
# Usage:
#   bench/run.sh [BUILD_DIR (default build-bench)] [--seconds N (3)] [--postgres URI|auto|off] [--keep-work]
# Knobs (environment): BENCH_SECONDS, RECOVERY_EVENTS [10000], RECOVERY_REPEATS [5], MEMORY_ACTIVE [100000],
# MEMORY_CHURN [1000000], MEMORY_CHURN_ACTIVE [10000].
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

build="$root/build-bench"
seconds="${BENCH_SECONDS:-3}"
postgres="${ACTORSTATE_BENCH_POSTGRES:-auto}"
keep_work=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --seconds=*) seconds="${1#*=}"; shift ;;
    --postgres) postgres="$2"; shift 2 ;;
    --postgres=*) postgres="${1#*=}"; shift ;;
    --keep-work) keep_work=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    *) build="$1"; shift ;;
  esac
done
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -ge 1 && "$seconds" -le 60 ]] || { echo "--seconds: 1..60" >&2; exit 2; }
recovery_events="${RECOVERY_EVENTS:-10000}"
recovery_repeats="${RECOVERY_REPEATS:-5}"
memory_active="${MEMORY_ACTIVE:-100000}"
memory_churn="${MEMORY_CHURN:-1000000}"
memory_churn_active="${MEMORY_CHURN_ACTIVE:-10000}"

build="$(cd "$build" 2>/dev/null && pwd)" || { echo "no build directory: build with the command in --help" >&2; exit 2; }
bench="$build/bench"
cart="$build/samples/shopping-cart/shopping-cart"
proxy="$build/proxy/actorstate-proxy"
for bin in native_bench sqlite_baseline pg_baseline grpc_echo grpc_load cart_uf recovery_bench memory_bench; do
  [[ -x "$bench/$bin" ]] || { echo "missing $bench/$bin: build with the command in --help" >&2; exit 2; }
done
for bin in "$cart" "$proxy"; do
  [[ -x "$bin" ]] || { echo "missing $bin: build with the command in --help" >&2; exit 2; }
done
command -v jq >/dev/null || { echo "jq is required (apt-get install jq)" >&2; exit 2; }

work="$(mktemp -d /tmp/actorstate-bench.XXXXXX)"
mkdir -p "$work/logs"
rows="$work/rows.md"
results="$work/results.jsonl"
: >"$rows"
: >"$results"

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

pids=()
pg_dir=""
cleanup() {
  for p in "${pids[@]}"; do
    kill -TERM "$p" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  if [[ -n "$pg_dir" ]]; then
    "$root/scripts/pg-throwaway.sh" stop "$pg_dir" >/dev/null 2>&1 || true
  fi
  if [[ "$keep_work" == 1 ]]; then
    log "work directory kept: $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# -- helpers ----------------------------------------------------------------------------------------------------------

commas() { LC_ALL=C awk -v x="$1" 'BEGIN { s = sprintf("%.0f", x); n = "";
  while (length(s) > 3) { n = "," substr(s, length(s) - 2) n; s = substr(s, 1, length(s) - 3) } print s n }'; }
num() { LC_ALL=C awk -v x="$1" -v f="$2" 'BEGIN { printf f, x }'; }
field() { [[ -n "$1" ]] || return 0; jq -r ".$2 // empty" <<<"$1"; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }

# run_json NAME TIMEOUT CMD...: runs CMD, prints its stdout (JSON lines) and records them; stderr goes to a log.
run_json() {
  local name="$1" limit="$2"
  shift 2
  local out rc=0
  out="$(timeout --kill-after=10 "$limit" "$@" 2>>"$work/logs/$name.log")" || rc=$?
  if [[ $rc != 0 ]]; then
    log "$name failed (exit status $rc); last lines of its log:"
    tail -5 "$work/logs/$name.log" >&2 || true
    [[ -n "$out" ]] && jq -c --arg run "$name" '. + {run: $run, failed: true}' <<<"$out" >>"$results" 2>/dev/null
    return 1
  fi
  if [[ -n "$out" ]]; then
    jq -c --arg run "$name" '. + {run: $run}' <<<"$out" >>"$results"
  fi
  printf '%s\n' "$out"
}

# start_bg NAME CMD...: starts CMD in the background with its output in a log; the pid is in $bg_pid.
bg_pid=""
start_bg() {
  local name="$1"
  shift
  "$@" >>"$work/logs/$name.log" 2>&1 &
  bg_pid=$!
  pids+=("$bg_pid")
}

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
  log "no port in $1 after 30 s"
  return 1
}

scenario_name() { if [[ "$1" == 1 ]]; then echo "1 hot entity"; else echo "$(commas "$1") entities"; fi; }

add_row() {
  local IFS='|'
  local s="$*"
  echo "| ${s//|/ | } |" >>"$rows"
}

# cpu_ticks PID...: the clock ticks (user + system) the processes have used so far.
cpu_ticks() {
  local t=0 p f
  for p in "$@"; do
    read -r -a f <"/proc/$p/stat" 2>/dev/null && t=$((t + f[13] + f[14]))
  done
  echo "$t"
}
clk_tck="$(getconf CLK_TCK)"

# cpu_per_command TICKS JSON: µs of CPU per command, from the ticks a process used during the run JSON reports.
cpu_per_command() {
  local rate secs
  rate="$(field "$2" rate)"
  secs="$(field "$2" seconds)"
  [[ -n "$rate" && -n "$secs" ]] || return 0
  LC_ALL=C awk -v t="$1" -v hz="$clk_tck" -v r="$rate" -v s="$secs" \
    'BEGIN { if (r * s > 0) printf "%.0f", t / hz * 1e6 / (r * s) }'
}

# rate_row LABEL CLIENTS MEASURED_JSON BASELINE_JSON [NOTES]: a throughput row against its baseline, target ≥ 50 %.
rate_row() {
  local label="$1" clients="$2" m="$3" b="$4"
  local notes="${5:-}" mrate brate
  mrate="$(field "$m" rate)"
  brate="$(field "$b" rate)"
  if [[ -z "$mrate" || -z "$brate" ]]; then
    [[ -z "$mrate" ]] && notes+="measurement failed, see logs"
    [[ -z "$brate" ]] && notes+="${notes:+; }baseline failed, see logs"
    add_row "$label" "$clients" "${mrate:+$(commas "$mrate") /s}" "${brate:+$(commas "$brate") /s}" "—" "≥ 50 %" \
      "" "" "$notes"
    return
  fi
  local ratio mark
  ratio="$(LC_ALL=C awk -v m="$mrate" -v b="$brate" 'BEGIN { printf "%.0f", (b > 0 ? 100 * m / b : 0) }')"
  mark="✘"
  [[ "$ratio" -ge 50 ]] && mark="✔"
  local merr berr
  merr="$(field "$m" errors)"
  berr="$(field "$b" errors)"
  [[ "${merr:-0}" == 0 ]] || notes+="${notes:+; }$merr errors"
  [[ "${berr:-0}" == 0 ]] || notes+="${notes:+; }baseline: $berr errors"
  add_row "$label" "$clients" "$(commas "$mrate") /s" "$(commas "$brate") /s" "$ratio %" "≥ 50 % $mark" \
    "$(commas "$(field "$m" p50_us)") / $(commas "$(field "$m" p99_us)")" \
    "$(commas "$(field "$b" p50_us)") / $(commas "$(field "$b" p99_us)")" "$notes"
}

# -- native rows ------------------------------------------------------------------------------------------------------

# native_rows sqlite | native_rows postgres URI
native_rows() {
  local kind="$1" uri="${2:-}" store_label e c m b
  store_label="SQLite"
  [[ "$kind" == postgres ]] && store_label="PostgreSQL"
  for e in 1000 1; do
    for c in 1 32 256; do
      log "native, $store_label: $(scenario_name "$e"), $c clients (baseline, then measured)"
      if [[ "$kind" == sqlite ]]; then
        b="$(run_json sqlite_baseline $((seconds + 60)) "$bench/sqlite_baseline" --path "$work/baseline.db" \
          --clients "$c" --entities "$e" --seconds "$seconds" --json)" || b=""
        rm -f "$work"/baseline.db*
        m="$(run_json native_bench $((seconds + 60)) "$bench/native_bench" --store "sqlite:$work/native.db" \
          --clients "$c" --entities "$e" --seconds "$seconds" --json)" || m=""
        rm -f "$work"/native.db*
      else
        b="$(run_json pg_baseline $((seconds + 60)) "$bench/pg_baseline" --uri "$uri" \
          --clients "$c" --entities "$e" --seconds "$seconds" --json)" || b=""
        m="$(run_json native_bench_pg $((seconds + 60)) "$bench/native_bench" --store "$uri" \
          --entity-prefix "n$$-$e-$c-" --clients "$c" --entities "$e" --seconds "$seconds" --json)" || m=""
      fi
      rate_row "native, $store_label: $(scenario_name "$e")" "$c" "$m" "$b"
    done
  done
}

# -- proxy rows -------------------------------------------------------------------------------------------------------

echo_port=""
echo_pid=""
start_echo() {
  [[ -n "$echo_port" ]] && return 0
  rm -f "$work/echo.port"
  start_bg grpc_echo "$bench/grpc_echo" --port-file "$work/echo.port" --max-seconds 3600
  echo_pid="$bg_pid"
  echo_port="$(wait_port_file "$work/echo.port")"
}

# start_proxy NAME STORE UF_PORT: actorstate-proxy on a free port; its pid in $proxy_pid, its port in $proxy_port.
proxy_pid=""
proxy_port=""
start_proxy() {
  local name="$1" store="$2" uf_port="$3"
  rm -f "$work/$name.port"
  start_bg "$name" "$proxy" --user-function-port "$uf_port" --bind 127.0.0.1 --port 0 --port-file "$work/$name.port" \
    --management-port 0 --store "$store" --log-level warn
  proxy_pid="$bg_pid"
  proxy_port="$(wait_port_file "$work/$name.port")"
}

# start_uf NAME CMD...: a user function on a free port (CMD must take --port 0 --port-file); pid in $uf_pid.
uf_pid=""
uf_port=""
start_uf() {
  local name="$1"
  shift
  rm -f "$work/$name.port"
  start_bg "$name" env HOST=127.0.0.1 "$@" --port 0 --port-file "$work/$name.port" --log-level warn
  uf_pid="$bg_pid"
  uf_port="$(wait_port_file "$work/$name.port")"
}

# proxy_rows LABEL STORE
proxy_rows() {
  local store_label="$1" store="$2" e c m b
  start_echo
  start_uf cart_uf_sample "$cart" --user-function
  start_proxy proxy "$store" "$uf_port"
  for e in 1000 1; do
    for c in 1 32 256; do
      log "proxy, $store_label: $(scenario_name "$e"), $c clients (baseline, then measured)"
      # The CPU each command costs the echo server, the proxy and the user function (the load generator apart): the
      # per-command budget docs/performance.md compares before and after a change.
      local e0 p0 u0 e1 p1 u1
      e0="$(cpu_ticks "$echo_pid")"
      b="$(run_json grpc_echo_load $((seconds + 60)) "$bench/grpc_load" --target "127.0.0.1:$echo_port" --call echo \
        --concurrency "$c" --entities "$e" --seconds "$seconds" --json)" || b=""
      e1="$(cpu_ticks "$echo_pid")"
      p0="$(cpu_ticks "$proxy_pid")"
      u0="$(cpu_ticks "$uf_pid")"
      m="$(run_json proxy_load $((seconds + 60)) "$bench/grpc_load" --target "127.0.0.1:$proxy_port" --call AddItem \
        --concurrency "$c" --entities "$e" --entity-prefix "p$$-$e-$c-" --seconds "$seconds" --json)" || m=""
      p1="$(cpu_ticks "$proxy_pid")"
      u1="$(cpu_ticks "$uf_pid")"
      rate_row "proxy, $store_label: $(scenario_name "$e")" "$c" "$m" "$b" \
        "CPU µs/command: proxy $(cpu_per_command $((p1 - p0)) "$m") + user function $(cpu_per_command $((u1 - u0)) "$m"); echo server $(cpu_per_command $((e1 - e0)) "$b")"
    done
  done
  stop_pid "$proxy_pid"
  stop_pid "$uf_pid"
}

# -- recovery rows ----------------------------------------------------------------------------------------------------

snapshot_label() { if [[ "$1" == 0 ]]; then echo "no snapshot"; else echo "snapshot every $1"; fi; }

recovery_row() {  # LABEL FIRST_MS WARM_MS TARGET NOTES
  local label="$1" first="$2" warm="$3" target="$4" notes="$5" mark=""
  if [[ -z "$first" ]]; then
    add_row "$label" "1" "" "" "—" "$target" "—" "—" "failed, see logs"
    return
  fi
  if [[ "$target" == "< 50 ms" ]]; then
    mark="✘"
    LC_ALL=C awk -v x="$first" 'BEGIN { exit !(x < 50) }' && mark="✔"
  fi
  add_row "$label" "1" "$(num "$first" "%.1f") ms" "$(num "$warm" "%.2f") ms" "—" "$target${mark:+ $mark}" "—" "—" \
    "$notes"
}

# native_recovery STORE_LABEL [URI]
native_recovery() {
  local store_label="$1" uri="${2:-}" out line every
  log "recovery, native, $store_label: $recovery_events events, snapshots off and every 100"
  local args=(--events "$recovery_events" --snapshot-every 0,100 --repeats "$recovery_repeats" --json)
  if [[ -n "$uri" ]]; then args+=(--store "$uri"); else args+=(--store-dir "$work/recovery"); fi
  out="$(run_json "recovery_bench_$store_label" 600 "$bench/recovery_bench" "${args[@]}")" || out=""
  for every in 0 100; do
    line=""
    [[ -z "$out" ]] || line="$(jq -c "select(.snapshot_every == $every)" <<<"$out" 2>/dev/null || true)"
    local notes=""
    if [[ -n "$line" ]]; then
      notes="median of $(field "$line" repeats) restarts ($(num "$(field "$line" first_ms_min)" "%.1f")–$(num \
        "$(field "$line" first_ms_max)" "%.1f") ms); $(commas "$(field "$line" events)") events written in $(num \
        "$(field "$line" write_s)" "%.1f") s"
      [[ "$(field "$line" complete)" == 1 ]] || notes+="; RECOVERED STATE INCOMPLETE"
    fi
    recovery_row "recovery, native, $store_label: $(commas "$recovery_events") events, $(snapshot_label "$every")" \
      "$(field "$line" first_ms)" "$(field "$line" second_ms)" "< 50 ms" "$notes"
  done
  rm -rf "$work/recovery"
}

# proxy_recovery EVERY: the cart user function (cart_uf) with that snapshot interval behind a proxy on SQLite.
proxy_recovery() {
  local every="$1" fill probe firsts=() warms=() entity="rec$$-$1-"
  log "recovery, proxy, SQLite: $recovery_events events, $(snapshot_label "$every")"
  start_uf cart_uf "$bench/cart_uf" --snapshot-every "$every"
  local store="sqlite:$work/recovery-proxy-$every.db"
  start_proxy proxy_recovery "$store" "$uf_port"
  fill="$(run_json proxy_recovery_fill 300 "$bench/grpc_load" --target "127.0.0.1:$proxy_port" --call AddItem \
    --concurrency 32 --entities 1 --entity-prefix "$entity" --max-calls "$recovery_events" --seconds 240 --json)" ||
    fill=""
  local written
  written="$(field "$fill" calls)"
  for _ in $(seq 1 3); do
    stop_pid "$proxy_pid"
    start_proxy proxy_recovery "$store" "$uf_port"
    probe="$(run_json proxy_recovery_probe 300 "$bench/grpc_load" --target "127.0.0.1:$proxy_port" \
      --probe "${entity}0" --json)" || probe=""
    [[ -n "$probe" ]] && firsts+=("$(field "$probe" first_ms)") && warms+=("$(field "$probe" second_ms)")
  done
  stop_pid "$proxy_pid"
  stop_pid "$uf_pid"
  rm -f "$work"/recovery-proxy-"$every".db*
  local first="" warm="" notes=""
  if [[ ${#firsts[@]} -gt 0 ]]; then
    first="$(printf '%s\n' "${firsts[@]}" | median)"
    warm="$(printf '%s\n' "${warms[@]}" | median)"
    notes="median of ${#firsts[@]} proxy restarts ($(num "$(printf '%s\n' "${firsts[@]}" | sort -g | head -1)" \
      "%.1f")–$(num "$(printf '%s\n' "${firsts[@]}" | sort -g | tail -1)" "%.1f") ms)"
  fi
  [[ "${written:-0}" == "$recovery_events" ]] || notes+="${notes:+; }only ${written:-0} of $recovery_events events written"
  recovery_row "recovery, proxy, SQLite: $(commas "$recovery_events") events, $(snapshot_label "$every")" "$first" \
    "$warm" "report" "$notes"
}

# -- memory rows ------------------------------------------------------------------------------------------------------

memory_rows() {
  local out notes
  log "memory: $memory_active active counters"
  out="$(run_json memory_active 400 "$bench/memory_bench" active --entities "$memory_active" --dir "$work/memory" \
    --json)" || out=""
  rm -rf "$work/memory"
  if [[ -n "$out" ]]; then
    local per mark="✘"
    per="$(field "$out" bytes_per_entity)"
    LC_ALL=C awk -v x="$per" 'BEGIN { exit !(x < 2048) }' && mark="✔"
    notes="$(commas "$(field "$out" sqlite_bytes_per_entity)") B of it SQLite's allocations"
    notes+="; VmRSS $(num "$(field "$out" rss_before_mib)" "%.1f") → $(num "$(field "$out" rss_after_mib)" "%.1f") MiB"
    notes+="; active gauge $(commas "$(field "$out" active_after)")"
    [[ "$(field "$out" errors)" == 0 ]] || notes+="; $(field "$out" errors) errors"
    add_row "memory: VmRSS per active entity ($(commas "$(field "$out" entities)") active counters)" "256" \
      "$(commas "$per") B" "—" "—" "< 2 KiB $mark" "—" "—" "$notes"
  else
    add_row "memory: VmRSS per active entity" "256" "" "—" "—" "< 2 KiB" "—" "—" "failed, see logs"
  fi
  log "memory: $memory_churn counters created and passivated (at most $memory_churn_active active)"
  out="$(run_json memory_churn 400 "$bench/memory_bench" churn --entities "$memory_churn" \
    --max-active "$memory_churn_active" --dir "$work/memory" --max-seconds 240 --json)" || out=""
  rm -rf "$work/memory"
  if [[ -n "$out" ]]; then
    notes="created in $(num "$(field "$out" seconds)" "%.0f") s ($(commas "$(field "$out" rate)") /s)"
    notes+="; VmRSS $(num "$(field "$out" rss_start_mib)" "%.0f") MiB at the start"
    notes+=", $(num "$(field "$out" rss_tenth_mib)" "%.0f") MiB after a tenth"
    notes+=", peak $(num "$(field "$out" rss_peak_mib)" "%.0f") MiB"
    notes+=", $(num "$(field "$out" rss_trimmed_mib)" "%.0f") MiB after malloc_trim"
    notes+="; SQLite's allocations $(num "$(field "$out" sqlite_mib)" "%.0f") MiB"
    notes+="; active gauge $(commas "$(field "$out" active_end)")"
    [[ "$(field "$out" complete)" == 1 ]] || notes+="; STOPPED AT THE TIME LIMIT"
    [[ "$(field "$out" errors)" == 0 ]] || notes+="; $(field "$out" errors) errors"
    add_row "memory: $(commas "$(field "$out" entities)") entities created and passivated (≤ $(commas \
      "$memory_churn_active") active)" "256" "VmRSS $(num "$(field "$out" rss_end_mib)" "%.0f") MiB" "—" "—" \
      "report" "—" "—" "$notes"
  else
    add_row "memory: entities created and passivated" "256" "" "—" "—" "report" "—" "—" "failed, see logs"
  fi
}

# -- the run ----------------------------------------------------------------------------------------------------------

load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
started="$(date -u '+%Y-%m-%d %H:%M UTC')"
t0=$SECONDS
log "work directory $work; $seconds s per throughput row"

native_rows sqlite
proxy_rows SQLite "sqlite:$work/proxy.db"
rm -f "$work"/proxy.db*
native_recovery SQLite
proxy_recovery 0
proxy_recovery 100
memory_rows

pg_uri=""
pg_note=""
case "$postgres" in
  off) pg_note="PostgreSQL rows skipped (--postgres off)" ;;
  auto)
    if [[ -x "$root/scripts/pg-throwaway.sh" && -x /usr/lib/postgresql/15/bin/initdb ]]; then
      log "starting a throwaway PostgreSQL (scripts/pg-throwaway.sh)"
      pg_dir="$work/pg"
      if "$root/scripts/pg-throwaway.sh" start "$pg_dir" 2>>"$work/logs/pg.log"; then
        pg_uri="$(cat "$pg_dir/uri")"
      else
        pg_note="PostgreSQL rows skipped: the throwaway server did not start ($(tail -1 "$work/logs/pg.log"))"
        pg_dir=""
      fi
    else
      pg_note="PostgreSQL rows skipped: no ACTORSTATE_BENCH_POSTGRES and no PostgreSQL 15 server to start"
    fi
    ;;
  *) pg_uri="$postgres" ;;
esac
if [[ -n "$pg_uri" ]]; then
  native_rows postgres "$pg_uri"
  proxy_rows PostgreSQL "$pg_uri"
  native_recovery PostgreSQL "$pg_uri"
fi

[[ -z "$echo_pid" ]] || stop_pid "$echo_pid"
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"
commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git -C "$root" status --porcelain 2>/dev/null | head -1)" ]]; then commit+=" with local changes"; fi
cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"

echo "actorstate benchmarks, $started: commit $commit; $(nproc) cores ($cpu), $(free -g | awk '/^Mem:/ { print $2 }') GiB,"
echo "$(uname -sr), store files on $(df -T "$work" | awk 'NR == 2 { print $2 }'); load average $load_start at the start,"
echo "$load_end at the end; $seconds s per throughput row, each right after its baseline; $((SECONDS - t0)) s in all."
[[ -n "$pg_note" ]] && echo "$pg_note."
echo
echo "| scenario | clients | measured | baseline | ratio | target | p50 / p99 µs | baseline p50 / p99 µs | notes |"
echo "|---|---|---|---|---|---|---|---|---|"
cat "$rows"
