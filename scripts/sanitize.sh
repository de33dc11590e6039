#!/usr/bin/env bash
# The test suite under AddressSanitizer + UndefinedBehaviorSanitizer (T2V_SANITIZE), in
# build-sanitize/. Slower than the Release suite; run before merging changes to io/ or models/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --deps-only
export T2V_BUILD_DIR=build-sanitize
cmake -S . -B "$T2V_BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DT2V_SANITIZE=address,undefined >/dev/null
cmake --build "$T2V_BUILD_DIR" -j "$(nproc)"
# LibTorch and FFmpeg keep global allocations alive at exit: leak reports there are not ours.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
ctest --test-dir "$T2V_BUILD_DIR" --output-on-failure -j "$(nproc)" "$@"
