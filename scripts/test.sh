#!/usr/bin/env bash
# The whole test suite: installs/builds what is missing (scripts/setup.sh), then runs every
# CTest test (labels: unit, golden, e2e). Extra arguments go to ctest (e.g. -L golden).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --all
build_dir="${T2V_BUILD_DIR:-build}"
ctest --test-dir "$build_dir" --output-on-failure -j "${T2V_JOBS:-$(nproc)}" "$@"
