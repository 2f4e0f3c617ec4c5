#!/usr/bin/env bash
# Installs what is missing, builds everything and runs every test: the full ctest suite, then the unit, conformance
# and cluster tests (not the fault scenarios) again under AddressSanitizer + UBSan; last, the benchmarks are compiled
# as bench/run.sh builds them (Release, -O3), though not run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" "$root/build"
# From npm: buf for the reflection test, playwright-core for the browser test (npm's cache makes this quick).
npm install --silent --no-audit --no-fund --prefix "$root/build/tools" @bufbuild/buf@1.75.0 playwright-core@1.64.1
"$root/scripts/check-runtime-deps.sh" "$root/build/samples/shopping-cart/shopping-cart"
ctest --test-dir "$root/build" -j2 --output-on-failure --timeout 600

"$root/scripts/build.sh" "$root/build-asan" -DACTORSTATE_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$root/scripts/ubsan.supp"
# The cluster's tests too (its member, transport and multi-process checks), but not the fault scenarios, which load
# both cores for minutes and test timing rather than memory.
ctest --test-dir "$root/build-asan" -j2 -L "unit|conformance|cluster" -LE "scenario|netns" --output-on-failure \
  --timeout 600

# The benchmarks run outside CI (bench/run.sh, bench/side_by_side.sh), but they must keep compiling with their own
# flags: -O3 finds warnings -O2 does not (g++ 12's -Wrestrict once broke the Release build unnoticed).
"$root/scripts/build.sh" "$root/build-bench" -DCMAKE_BUILD_TYPE=Release -DACTORSTATE_BUILD_BENCH=ON \
  -DACTORSTATE_BUILD_TESTS=OFF
