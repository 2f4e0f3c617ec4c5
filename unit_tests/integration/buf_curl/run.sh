#!/usr/bin/env bash
# `buf curl` against actorstate-proxy serving the C++ shopping-cart user function: the services are listed and
# called through server reflection only (no schema file).
#   run.sh PROXY SHOPPING_CART BUF
set -euo pipefail
proxy="$1" cart="$2" buf="$3"
if [ ! -x "$buf" ]; then
  echo "buf not found at $buf (scripts/test.sh installs it with npm)"
  exit 1
fi
tmp="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
wait_file() {
  for _ in $(seq 1 200); do [ -s "$1" ] && return 0; sleep 0.05; done
  echo "timed out waiting for $1"; cat "$tmp"/*.log; exit 1
}

"$cart" --user-function --port 0 --port-file "$tmp/uf.port" >"$tmp/uf.log" 2>&1 &
pids+=($!)
wait_file "$tmp/uf.port"
"$proxy" --user-function-port "$(cat "$tmp/uf.port")" --bind 127.0.0.1 --port 0 --port-file "$tmp/proxy.port" \
  --management-port 0 --store memory >"$tmp/proxy.log" 2>&1 &
pids+=($!)
wait_file "$tmp/proxy.port"
url="http://127.0.0.1:$(cat "$tmp/proxy.port")"
curl_grpc() { timeout 30 "$buf" curl --protocol grpc --http2-prior-knowledge "$@"; }

services="$(curl_grpc --list-services "$url")"
echo "$services"
grep -qx "com.example.shoppingcart.ShoppingCart" <<<"$services"
grep -qx "grpc.reflection.v1alpha.ServerReflection" <<<"$services"

curl_grpc -d '{"userId":"buf","productId":"p1","name":"Pen","quantity":2}' "$url/com.example.shoppingcart.ShoppingCart/AddItem"
cart_json="$(curl_grpc -d '{"userId":"buf"}' "$url/com.example.shoppingcart.ShoppingCart/GetCart")"
echo "$cart_json"
tr -d ' \n' <<<"$cart_json" | grep -q '"items":\[{"productId":"p1","name":"Pen","quantity":2}\]'

if curl_grpc -d '{"userId":"buf","productId":"p2","name":"X","quantity":0}' \
  "$url/com.example.shoppingcart.ShoppingCart/AddItem" >"$tmp/fail.out" 2>&1; then
  echo "a negative quantity was accepted"; exit 1
fi
grep -q "Cannot add negative quantity to item p2" "$tmp/fail.out"
echo "buf curl ok"
