#!/usr/bin/env bash
# Makes the JavaScript shopping cart runnable: node_modules with the npm cloudstate support library (0.0.3) and its
# dependencies from the npm registry (npm's cache in ~/.npm is reused), its native grpc module compiled for this
# Node.js, and user-function.desc, the descriptor set the library sends to the proxy, built from the repository's
# protos. Idempotent: when nothing changed it only compares stamps.
#
# What differs from a plain `npm install` (see README.md):
#  - cloudstate's postinstall script downloads protoc 3.8.0 from GitHub, which fails without internet access, so the
#    packages are installed with --ignore-scripts; the one install script that is needed, grpc's (it compiles the
#    native module with node-gyp against this Node.js's headers), is then run alone with `npm rebuild grpc`;
#  - of what that download would have put in node_modules/cloudstate/protoc/, the library needs at run time only
#    include/google/protobuf/descriptor.proto (to load its own protos); it is taken from the protobufjs package;
#  - the descriptor set is built with buf (npm package @bufbuild/buf) instead of the library's compile-descriptor,
#    which needs that protoc.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
cd "$here"

# 1. The packages, exactly as package-lock.json pins them.
want="$(node --version) $(cat package.json package-lock.json | sha256sum)"
if [[ ! -f node_modules/.installed || "$(cat node_modules/.installed)" != "$want" ]]; then
  npm install --ignore-scripts --no-audit --no-fund --loglevel=error
  echo "$want" >node_modules/.installed
fi

# 2. grpc's native module (node-pre-gyp finds no download here and builds from source: about 3 minutes on 2 cores).
# node-gyp needs this Node.js's headers; Debian's nodejs has them under /usr/include/node.
if ! ls node_modules/grpc/src/node/extension_binary/node-v*-linux-*/grpc_node.node >/dev/null 2>&1 ||
   ! node -e 'require("grpc")' >/dev/null 2>&1; then
  if [[ -z ${npm_config_nodedir:-} && -f /usr/include/node/node.h ]]; then
    export npm_config_nodedir=/usr
  fi
  echo "compiling grpc's native module (a few minutes)..."
  npm rebuild grpc --foreground-scripts --loglevel=error >node_modules/.grpc-build.log 2>&1 ||
    { tail -40 node_modules/.grpc-build.log >&2; exit 1; }
  node -e 'require("grpc")'
fi

# 3. protoc's include/google/protobuf/*.proto, where cloudstate looks for it (it imports descriptor.proto).
inc=node_modules/cloudstate/protoc/include/google/protobuf
if [[ ! -f $inc/descriptor.proto ]]; then
  mkdir -p "$inc"
  cp node_modules/protobufjs/google/protobuf/*.proto "$inc/"
fi

# 4. The descriptor set: the native sample's protos and, from the repository's proto/, the cloudstate and google.api
# protos they import, with the imports included (as the library's compile-descriptor would: protoc --include_imports).
protos=(
  samples/shopping-cart/proto/shoppingcart/shoppingcart.proto
  samples/shopping-cart/proto/shoppingcart/persistence/domain.proto
  proto/cloudstate/entity_key.proto
  proto/google/api/annotations.proto
  proto/google/api/http.proto
)
want="$(for p in "${protos[@]}"; do sha256sum <"$repo/$p"; done) $(node_modules/.bin/buf --version)"
if [[ ! -f user-function.desc || ! -f node_modules/.desc || "$(cat node_modules/.desc)" != "$want" ]]; then
  (cd "$repo" && "$here/node_modules/.bin/buf" build . \
    --config '{"version":"v2","modules":[{"path":"samples/shopping-cart/proto"},{"path":"proto"}]}' \
    --path samples/shopping-cart/proto/shoppingcart \
    --as-file-descriptor-set --exclude-source-info -o "$here/user-function.desc.tmp")
  mv user-function.desc.tmp user-function.desc
  echo "$want" >node_modules/.desc
fi
echo "javascript sample ready: node $(node --version), cloudstate $(node -p 'require("cloudstate/package.json").version'), grpc $(node -p 'require("grpc/package.json").version')"
