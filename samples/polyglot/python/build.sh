#!/usr/bin/env bash
# Makes the Python shopping cart runnable: a virtual environment in .venv with the Cloudstate Python support library
# (PyPI package cloudstate) and its runtime, and the protobuf code of the cart in build/gen, generated from the
# repository's protos. Idempotent: when nothing changed it only compares two stamps.
#   PYTHON=python3.11 ./build.sh   (any CPython >= 3.8; tested with 3.11)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
venv="$here/.venv"
gen="$here/build/gen"
cloudstate_version=0.1.1

# 1. The virtual environment and the packages (pip reuses ~/.cache/pip).
if [[ ! -x $venv/bin/python ]]; then
  "${PYTHON:-python3}" -m venv "$venv"
fi
want="cloudstate==$cloudstate_version $("$venv/bin/python" -V) $(sha256sum <"$here/requirements.txt")"
if [[ ! -f $venv/.installed || "$(cat "$venv/.installed")" != "$want" ]]; then
  "$venv/bin/pip" install --disable-pip-version-check -q -r "$here/requirements.txt"
  # --no-deps: cloudstate's own pins (grpcio==1.28.1, ...) do not install on CPython 3.11; see requirements.txt.
  "$venv/bin/pip" install --disable-pip-version-check -q --no-deps "cloudstate==$cloudstate_version"
  echo "$want" >"$venv/.installed"
fi

# 2. The generated code. The native C++ sample's protos are the single source; cloudstate/entity_key.proto is only on
# the include path, its Python module is the support library's own (cloudstate.entity_key_pb2).
protos=(
  "$repo/samples/shopping-cart/proto:shoppingcart/shoppingcart.proto"
  "$repo/samples/shopping-cart/proto:shoppingcart/persistence/domain.proto"
  "$repo/proto:google/api/http.proto"
  "$repo/proto:google/api/annotations.proto"
)
want="$(for p in "${protos[@]}"; do sha256sum <"${p%%:*}/${p#*:}"; done)
$(sed -n '/grpcio-tools/p' "$here/requirements.txt")"
if [[ ! -f $gen/.generated || "$(cat "$gen/.generated")" != "$want" ]]; then
  rm -rf "$gen"
  mkdir -p "$gen"
  for p in "${protos[@]}"; do
    "$venv/bin/python" -m grpc_tools.protoc -I"$repo/samples/shopping-cart/proto" -I"$repo/proto" \
      --python_out="$gen" "${p#*:}"
  done
  echo "$want" >"$gen/.generated"
fi
echo "python sample ready: $("$venv/bin/python" -V), cloudstate $cloudstate_version, code in ${gen#"$here"/}"
