#!/usr/bin/env bash
# Builds the Java shopping cart with Maven: the Cloudstate Java support library and its dependencies come from Maven
# Central through ~/.m2 (reused), protoc comes from Maven Central too, and the cart's Java code is generated from the
# repository's protos (the native C++ sample's are the single source). Everything lands in target/ (ignored):
# target/classes and target/lib/*.jar, which run.sh puts on the class path.
# Idempotent: when the inputs are unchanged since the last successful build it only compares a stamp.
#   MVN="mvn -o" ./build.sh   (offline, once ~/.m2 holds everything)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
stamp="$here/target/.built"

inputs=(
  "$here/pom.xml"
  "$repo/samples/shopping-cart/proto/shoppingcart/shoppingcart.proto"
  "$repo/samples/shopping-cart/proto/shoppingcart/persistence/domain.proto"
  "$repo/proto/cloudstate/entity_key.proto"
  "$repo/proto/google/api/annotations.proto"
  "$repo/proto/google/api/http.proto"
)
mapfile -t sources < <(find "$here/src" -type f | sort)
want="$(java -version 2>&1 | head -1) $(cat "${inputs[@]}" "${sources[@]}" | sha256sum)"
if [[ -f $stamp && "$(cat "$stamp")" == "$want" && -d $here/target/lib ]]; then
  echo "java sample up to date (target/)"
  exit 0
fi

# package: generate-sources (protoc), compile, jar, and copy the runtime dependencies to target/lib.
rm -f "$stamp"
${MVN:-mvn} -B -q -f "$here/pom.xml" -Dstyle.color=never clean package
echo "$want" >"$stamp"
echo "java sample ready: $(ls "$here/target/lib" | grep -c jar) jars in target/lib, classes in target/classes"
