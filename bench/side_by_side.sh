#!/usr/bin/env bash
# actorstate against Restate with the peer benchmark's own workload and load generator (../shared/bench/restate):
# runs Restate's run.sh, then the same three scenarios with the same bench.js against actorstate's counter sample
# over HTTP (durable: SQLite, synchronous=FULL, so a 2xx means fsynced), once as a native node and once as a user
# function behind actorstate-proxy, and prints the three tables and the ratios.
#   bench/side_by_side.sh [BUILD_DIR (default build-bench)] [WORK_DIR (default a fresh /tmp dir)]
# Knobs as Restate's: WARMUP [5], DURATION [12]. Build first:
#   scripts/build.sh build-bench -DCMAKE_BUILD_TYPE=Release -DACTORSTATE_BUILD_BENCH=ON -DACTORSTATE_BUILD_TESTS=OFF
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$(cd "${1:-$root/build-bench}" && pwd)"
work="${2:-$(mktemp -d /tmp/actorstate-side-by-side.XXXXXX)}"
mkdir -p "$work"
work="$(cd "$work" && pwd)"
restate_dir="${RESTATE_BENCH_DIR:-$root/../shared/bench/restate}"
WARMUP="${WARMUP:-5}"
DURATION="${DURATION:-12}"
counter="$build/samples/counter/counter"
proxy="$build/proxy/actorstate-proxy"
for bin in "$counter" "$proxy"; do
  [[ -x "$bin" ]] || { echo "missing $bin: build with the command above" >&2; exit 2; }
done

log() { printf '[side-by-side %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

log "Restate: $restate_dir/run.sh (work dir $work/restate)"
BENCH_WORKDIR="$work/restate" WARMUP="$WARMUP" DURATION="$DURATION" bash "$restate_dir/run.sh" | tee "$work/restate.txt"
bench_js="$work/restate/bench.js"
report_js="$work/restate/report.js"

wait_port_file() {  # file
  for _ in $(seq 1 200); do [[ -s "$1" ]] && { cat "$1"; return 0; }; sleep 0.05; done
  echo "no port in $1" >&2; return 1
}

# The three scenarios of the peer benchmark against http://127.0.0.1:$1, CPU sampled for the pids in $2.
run_scenarios() {  # port pids out
  local port="$1" pids_arg="$2" out="$3"
  rm -f "$out"
  for spec in "a-seq-1conn 1 1000 a" "b-32c-1000keys 32 1000 b" "c-32c-hotkey 32 1 hot"; do
    read -r name conns keys prefix <<<"$spec"
    node "$bench_js" --name "$name" --connections "$conns" --keys "$keys" --prefix "$prefix" \
      --warmup "$WARMUP" --duration "$DURATION" \
      --add-url "http://127.0.0.1:$port/counter/{key}/add" --get-url "http://127.0.0.1:$port/counter/{key}/get" \
      --pids "$pids_arg" --out "$out" >&2
  done
}

log "actorstate: native counter node"
mkdir -p "$work/native"
"$counter" --port 0 --port-file "$work/native/port" --management-port 0 --data-dir "$work/native" \
  --log-level warn 2>"$work/native/node.log" &
native_pid=$!
pids+=("$native_pid")
native_port="$(wait_port_file "$work/native/port")"
run_scenarios "$native_port" "server=$native_pid" "$work/native.jsonl"
kill "$native_pid"; wait "$native_pid" 2>/dev/null || true

log "actorstate: counter as a user function behind actorstate-proxy"
mkdir -p "$work/proxy"
uf_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
HOST=127.0.0.1 PORT="$uf_port" "$counter" --user-function --log-level warn 2>"$work/proxy/uf.log" &
uf_pid=$!
pids+=("$uf_pid")
"$proxy" --user-function-port "$uf_port" --port 0 --port-file "$work/proxy/port" --management-port 0 \
  --data-dir "$work/proxy" --log-level warn 2>"$work/proxy/proxy.log" &
proxy_pid=$!
pids+=("$proxy_pid")
proxy_port="$(wait_port_file "$work/proxy/port")"
run_scenarios "$proxy_port" "server=$proxy_pid,service=$uf_pid" "$work/proxy.jsonl"

echo
echo "## Restate"
node "$report_js" "$work/restate/results/results.jsonl"
echo
echo "## actorstate, native counter"
node "$report_js" "$work/native.jsonl"
echo
echo "## actorstate, counter as a user function behind actorstate-proxy"
node "$report_js" "$work/proxy.jsonl"
echo
echo "## Ratios to Restate (throughput ×, p99 latency as a fraction of Restate's)"
node - "$work/restate/results/results.jsonl" "$work/native.jsonl" "$work/proxy.jsonl" <<'JS'
const fs = require('node:fs');
const load = (f) => Object.fromEntries(fs.readFileSync(f, 'utf8').split('\n').filter(Boolean)
  .map((l) => JSON.parse(l)).map((r) => [r.name, r]));
const [restate, native, proxy] = process.argv.slice(2).map(load);
console.log('| scenario | native req/s × | native p99 ÷ | proxy req/s × | proxy p99 ÷ | load generator CPU% (native / proxy) |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const name of Object.keys(restate)) {
  const r = restate[name], n = native[name], p = proxy[name];
  if (!n || !p) continue;
  const x = (a, b) => (a / b).toFixed(1) + '×';
  const frac = (a, b) => (a / b).toFixed(3);
  console.log(`| ${name} | ${x(n.rps, r.rps)} | ${frac(n.latencyMs.p99, r.latencyMs.p99)} | ${x(p.rps, r.rps)} | ` +
    `${frac(p.latencyMs.p99, r.latencyMs.p99)} | ${n.usage.loadgen?.cpuPct ?? '-'} / ${p.usage.loadgen?.cpuPct ?? '-'} |`);
}
// The CPU each request costs, by process (µs of CPU per request = CPU share of a core / requests per second): the
// budget docs/performance.md compares before and after a change, and the one a throughput target divides the two
// cores by.
console.log('');
console.log('CPU per request, µs (server + user function or service = total; the load generator apart):');
console.log('');
console.log('| scenario | Restate | native | proxy | load generator (Restate / native / proxy) |');
console.log('|---|---:|---:|---:|---:|');
const per = (r, who) => (r?.usage?.[who]?.cpuPct != null ? (r.usage[who].cpuPct * 1e4) / r.rps : null);
const budget = (r) => {
  const server = per(r, 'server'), service = per(r, 'service');
  if (server == null) return '-';
  return service == null ? server.toFixed(0) : `${server.toFixed(0)} + ${service.toFixed(0)} = ${(server + service).toFixed(0)}`;
};
for (const name of Object.keys(restate)) {
  const r = restate[name], n = native[name], p = proxy[name];
  if (!n || !p) continue;
  const lg = (x) => (per(x, 'loadgen') ?? NaN).toFixed(0);
  console.log(`| ${name} | ${budget(r)} | ${budget(n)} | ${budget(p)} | ${lg(r)} / ${lg(n)} / ${lg(p)} |`);
}
// Other work on the two cores skews one system against the other: say so rather than print a ratio as if clean.
const busy = [['Restate', restate], ['native', native], ['proxy', proxy]].flatMap(([who, rows]) =>
  Object.values(rows).filter((r) => (r.usage.host?.otherCpuPct ?? 0) > 20)
    .map((r) => `${who} ${r.name}: other CPU ${r.usage.host.otherCpuPct} % of a core`));
if (busy.length) {
  console.log('');
  console.log('WARNING: other processes used the machine during these rows, so the ratios are not comparable: ' +
    busy.join('; '));
}
JS
