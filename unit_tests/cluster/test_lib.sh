# Sourced by the cluster's multi-process test scripts: a temporary work directory, the processes a test starts
# (`pids`), killed and waited for on every way out, and `fail` that prints the logs. Every wait is bounded.
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
# A signal ends the script at once; EXIT then kills what it started.
trap 'exit 143' TERM INT

# fail MESSAGE: the message and the tail of every log in the work directory, then exit 1.
fail() {
  echo "FAILED: $*" >&2
  for log in "$work"/*.log; do
    [[ -e "$log" ]] || continue
    echo "--- $(basename "$log")" >&2
    tail -n 30 "$log" >&2
  done
  exit 1
}

# wait_file FILE: until FILE is not empty (a port file), 30 s at most.
wait_file() {
  for _ in $(seq 300); do
    [[ -s "$1" ]] && return 0
    sleep 0.1
  done
  fail "no $1 within 30 s"
}

# management_port LOG: the management port a node logged.
management_port() {
  grep -o 'listening on management [0-9.]*:[0-9]*' "$1" | tail -n 1 | sed 's/.*://'
}

# wait_ready LOG: until the node that writes LOG answers /ready with 200, 30 s at most.
wait_ready() {
  local port
  for _ in $(seq 300); do
    port="$(management_port "$1")"
    [[ -n "$port" ]] && curl -fs -o /dev/null "http://127.0.0.1:$port/ready" && return 0
    sleep 0.1
  done
  fail "$(basename "$1" .log) not ready within 30 s"
}
