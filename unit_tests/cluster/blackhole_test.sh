#!/usr/bin/env bash
# A dial to a host that drops every packet must not hold up dials to healthy members (CAF's middleman actor would
# block on connect() for the kernel's SYN retries). In a network namespace of its own (unshare -n: it vanishes with
# this script, nothing to clean up): a veth pair whose far end nobody answers, with a permanent neighbour entry so
# the SYNs leave and are never answered; a member serving on loopback; a prober that dials the dead address, then
# the member. Needs root (CI runs as root); exit 77 (skipped) otherwise.
#   blackhole_test.sh PATH/TO/cluster_peer
set -euo pipefail
peer_bin="$1"
if [[ $(id -u) -ne 0 ]] || ! command -v unshare >/dev/null || ! command -v ip >/dev/null; then
  echo "skipped: needs root, unshare and ip"
  exit 77
fi
exec timeout 60 unshare -n bash -s "$peer_bin" <<'INNER'
set -euo pipefail
peer_bin="$1"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
ip link set lo up
ip link add v0 type veth peer name v1
ip addr add 10.9.9.1/24 dev v0
ip link set v1 up
ip link set v0 up
ip neigh add 10.9.9.2 lladdr 02:00:00:00:00:02 dev v0 nud permanent
"$peer_bin" --role serve --port-file "$work/port" --max-seconds 30 >"$work/serve.out" 2>&1 &
for _ in $(seq 100); do [[ -s "$work/port" ]] && break; sleep 0.05; done
port="$(cat "$work/port")"
"$peer_bin" --role probe --peer "127.0.0.1:$port" --blackhole 10.9.9.2:9300 --max-seconds 20 2>&1 | grep -v level=debug | tee "$work/probe.out"
# The healthy member answers long before the dead address's connect timeout (2 s) runs out.
healthy_ms="$(awk '$1 == "healthy" && $2 == "OK" { print $3 }' "$work/probe.out")"
grep -q '^blackholed UNAVAILABLE' "$work/probe.out"
[[ -n "$healthy_ms" && "$healthy_ms" -lt 1500 ]]
echo "blackhole ok: healthy member answered after ${healthy_ms} ms"
INNER
