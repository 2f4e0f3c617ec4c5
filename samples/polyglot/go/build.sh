#!/usr/bin/env bash
# Builds the Go user function: the protobuf code of its services in build/gen, generated from the repository's
# protos with protoc (Debian's protobuf-compiler, which scripts/install-deps.sh installs for the C++ build) and
# protoc-gen-go (a tool of go.mod), then the binary build/polyglot-go. The modules come from the Go module proxy
# into the machine's module cache, checked against go.sum. Idempotent and quick when nothing changed.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
cd "$here"
export GOTOOLCHAIN=local           # the machine's Go (go.mod asks for 1.24 or newer); never download another
export GOFLAGS="-buildvcs=false -mod=readonly"
module=actorstate/samples/polyglot/go
if ! command -v protoc >/dev/null; then
  echo "protoc not found: apt-get install protobuf-compiler (as scripts/install-deps.sh does)" >&2
  exit 1
fi
gen="$here/build/gen"

# proto file (relative to its include root) -> Go package, for the files that name no usable go_package.
# cloudstate/entity_key.proto and google/api/*.proto name go-support's and genproto's packages themselves.
protos=(
  "$repo/samples/shopping-cart/proto:shoppingcart/shoppingcart.proto:$module/build/gen/shoppingcart"
  "$repo/samples/shopping-cart/proto:shoppingcart/persistence/domain.proto:$module/build/gen/shoppingcart/persistence"
  "$repo/samples/counter/proto:counter/counter.proto:$module/build/gen/counter"
  "$here/proto:cartactions/cart_actions.proto:$module/build/gen/cartactions"
)
want="$(for p in "${protos[@]}"; do IFS=: read -r root file _ <<<"$p"; sha256sum <"$root/$file"; done)
$(protoc --version) $(sha256sum <go.sum)"
if [[ ! -f $gen/.generated || "$(cat "$gen/.generated")" != "$want" ]]; then
  mkdir -p build/bin
  go build -o build/bin/protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go
  rm -rf "$gen"
  mkdir -p "$gen"
  includes=(-I"$repo/samples/shopping-cart/proto" -I"$repo/samples/counter/proto" -I"$here/proto" -I"$repo/proto")
  opts=()
  files=()
  for p in "${protos[@]}"; do
    IFS=: read -r _ file package <<<"$p"
    opts+=("--go_opt=M$file=$package")
    files+=("$file")
  done
  protoc "${includes[@]}" --plugin=protoc-gen-go="$here/build/bin/protoc-gen-go" \
    --go_out="$gen" --go_opt=module="$module/build/gen" "${opts[@]}" "${files[@]}"
  echo "$want" >"$gen/.generated"
fi

# go build is incremental on its own (the build cache); it downloads missing modules first.
go build -o build/polyglot-go .
library="$(go list -m -f '{{.Path}} {{.Version}}' github.com/cloudstateio/go-support)"
echo "go sample ready: $(go version | cut -d' ' -f3), $library, binary build/polyglot-go"
