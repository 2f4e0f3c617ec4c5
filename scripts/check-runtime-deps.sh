#!/usr/bin/env bash
# Checks that `install-deps.sh --runtime` (what the container image installs) covers every shared library the
# given binaries load: each library's package must be a runtime package or one of their dependencies.
#   scripts/check-runtime-deps.sh BINARY...
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
read -r -a runtime <<<"$("$root/scripts/install-deps.sh" --print-runtime)"

closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
  --no-enhances "${runtime[@]}" 2>/dev/null | grep -v '^ ' | sed 's/:.*//' | sort -u)
status=0
for bin in "$@"; do
  for lib in $(ldd "$bin" | awk '/=>/ {print $3}'); do
    real=$(realpath "$lib")
    pkg=$( (dpkg -S "$real" 2>/dev/null || dpkg -S "${real#/usr}" 2>/dev/null) | head -n1 | cut -d: -f1)
    if [ -z "$pkg" ]; then
      echo "check-runtime-deps: $bin loads $real, which no package owns"
      status=1
    elif ! grep -qx "$pkg" <<<"$closure"; then
      echo "check-runtime-deps: $bin needs $pkg ($real), which the runtime packages do not pull in"
      status=1
    fi
  done
done
[ $status -eq 0 ] && echo "check-runtime-deps: runtime packages cover $*"
exit $status
