#!/usr/bin/env bash
# A throwaway PostgreSQL 15 server for tests: a fresh cluster that listens on a free TCP port on 127.0.0.1 only (trust
# authentication for loopback connections and nothing else; the Unix socket lives next to the data), with fsync on.
#   scripts/pg-throwaway.sh start DIR    # initdb if needed, start, wait until it accepts connections; writes DIR/uri
#   scripts/pg-throwaway.sh stop DIR     # pg_ctl stop -m fast, then remove DIR
#   scripts/pg-throwaway.sh restart DIR  # pg_ctl restart -m fast (same port), wait until it accepts connections
#   scripts/pg-throwaway.sh pause DIR    # pg_ctl stop -m fast, keep the data; `start DIR` resumes on the same port
# `start` prints nothing on success; the connection URI (postgres://postgres@127.0.0.1:PORT/postgres) is in DIR/uri.
# The cluster lives in DIR/data. As root, the server runs as the `postgres` user (initdb and postgres refuse root);
# when that user cannot reach DIR (a parent directory is private), the cluster lives in a directory under /tmp that
# DIR/cluster names instead. Every wait is bounded.
# PG_LISTEN=ADDR (an IPv4 address of this host or namespace; default 127.0.0.1) makes the server listen there instead,
# trusting connections from ADDR's /24 (a test's own network namespace, whose members reach it over a veth pair).
set -euo pipefail

bindir="${PG_BINDIR:-/usr/lib/postgresql/15/bin}"
listen="${PG_LISTEN:-127.0.0.1}"
ready_timeout=60

die() {
  echo "pg-throwaway: $*" >&2
  exit 1
}

[ $# -eq 2 ] || die "usage: $0 start|stop|restart|pause DIR"
cmd="$1"
dir="$2"
[ -x "$bindir/initdb" ] || die "no PostgreSQL server binaries in $bindir (apt-get install postgresql-15)"
[ -n "$dir" ] && [ "$dir" != "/" ] || die "refusing DIR '$dir'"
if [ "$cmd" = start ]; then
  mkdir -p "$dir"
fi
if [ -d "$dir" ]; then
  dir="$(cd "$dir" && pwd)"
fi

# Where the cluster (data, socket, log) lives: DIR, or the directory under /tmp that DIR/cluster names.
home="$dir"
if [ -f "$dir/cluster" ]; then
  home="$(cat "$dir/cluster")"
  case "$home" in
    /tmp/actorstate-pg-*) ;;
    *) die "$dir/cluster names '$home', not a directory this script created" ;;
  esac
fi

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# A port the kernel reports free right now; start retries with another one if the server cannot bind it.
free_port() {
  if [ -x /usr/bin/python3 ]; then
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("'"$listen"'", 0)); print(s.getsockname()[1])'
  else
    local port
    while :; do
      port=$((20000 + RANDOM % 30000))
      ss -Htln "sport = :$port" | grep -q . || break
    done
    echo "$port"
  fi
}

wait_ready() {
  local port="$1" deadline=$((SECONDS + ready_timeout))
  until "$bindir/pg_isready" -q -h "$listen" -p "$port" -U postgres -d postgres -t 2; do
    [ $SECONDS -lt $deadline ] || die "server on port $port not ready after ${ready_timeout}s (log: $home/server.log)"
    sleep 0.1
  done
}

running() {
  [ -f "$home/data/postmaster.pid" ] && as_owner "$bindir/pg_ctl" -D "$home/data" status >/dev/null 2>&1
}

start_server() {
  local port="$1" sockets="$home"
  # A Unix socket path is limited to 107 bytes; without one the server still listens on TCP.
  if [ $((${#home} + 20)) -gt 107 ]; then
    sockets=""
  fi
  as_owner "$bindir/pg_ctl" -D "$home/data" -l "$home/server.log" -w -t "$ready_timeout" \
    -o "-c listen_addresses=$listen -p $port -c unix_socket_directories='$sockets' -c fsync=on" \
    start >/dev/null
}

# A fresh cluster in $home/data, started on a free port recorded in DIR/port.
create_cluster() {
  home="$dir"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres:postgres "$dir"
    if ! runuser -u postgres -- test -w "$dir"; then
      home="$(mktemp -d /tmp/actorstate-pg-XXXXXX)"
      chown postgres:postgres "$home"
      echo "$home" >"$dir/cluster"
    fi
  fi
  as_owner "$bindir/initdb" -D "$home/data" -A trust -U postgres -E UTF8 --no-instructions >"$dir/initdb.log" 2>&1 ||
    die "initdb failed: $(cat "$dir/initdb.log")"
  # Trust for the local socket and loopback only: no other connection is allowed at all.
  if [ "$listen" = 127.0.0.1 ]; then
    printf 'local all all trust\nhost all all 127.0.0.1/32 trust\n' >"$home/data/pg_hba.conf"
  else
    printf 'local all all trust\nhost all all %s/24 trust\n' "$listen" >"$home/data/pg_hba.conf"
  fi
  local port
  for _ in 1 2 3 4 5; do
    port="$(free_port)"
    if start_server "$port"; then
      echo "$port" >"$dir/port"
      return 0
    fi
  done
  die "cannot start the server (log: $home/server.log)"
}

case "$cmd" in
  start)
    if [ -f "$home/data/PG_VERSION" ] && [ -f "$dir/port" ]; then
      # A paused cluster: resume it on its port.
      running || start_server "$(cat "$dir/port")" || die "cannot start the server (log: $home/server.log)"
    else
      # A leftover of an interrupted run is replaced by a fresh cluster.
      if running; then
        as_owner "$bindir/pg_ctl" -D "$home/data" -m immediate -w -t 30 stop >/dev/null || true
      fi
      if [ "$home" != "$dir" ]; then
        rm -rf "$home"
      fi
      rm -rf "${dir:?}/data" "$dir/uri" "$dir/port" "$dir/server.log" "$dir/cluster"
      create_cluster
    fi
    port="$(cat "$dir/port")"
    wait_ready "$port"
    echo "postgres://postgres@$listen:$port/postgres" >"$dir/uri"
    ;;
  stop)
    if [ -d "$home/data" ] && running; then
      as_owner "$bindir/pg_ctl" -D "$home/data" -m fast -w -t 60 stop >/dev/null ||
        as_owner "$bindir/pg_ctl" -D "$home/data" -m immediate -w -t 30 stop >/dev/null || true
    fi
    if [ "$home" != "$dir" ]; then
      rm -rf "$home"
    fi
    rm -rf "$dir"
    ;;
  restart)
    [ -f "$dir/port" ] || die "no server in $dir"
    as_owner "$bindir/pg_ctl" -D "$home/data" -l "$home/server.log" -m fast -w -t "$ready_timeout" restart \
      >/dev/null || die "cannot restart the server (log: $home/server.log)"
    wait_ready "$(cat "$dir/port")"
    ;;
  pause)
    [ -f "$dir/port" ] || die "no server in $dir"
    if running; then
      as_owner "$bindir/pg_ctl" -D "$home/data" -m fast -w -t 60 stop >/dev/null
    fi
    ;;
  *)
    die "unknown command '$cmd' (start, stop, restart or pause)"
    ;;
esac
