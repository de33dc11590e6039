#!/usr/bin/env bash
# Installs what t2v needs from Debian 12 (idempotent; installs only what is missing), then
# configures and builds Release into build/: the t2v binary, or everything (tests, benchmarks)
# with --all; --deps-only installs the packages and stops. Run as root (or with sudo available).
#   T2V_BUILD_DIR   build directory (default: build)
#   T2V_JOBS        parallel compile jobs (default: number of cores)
#   T2V_CMAKE_ARGS  extra CMake arguments (e.g. -DCMAKE_PREFIX_PATH=/path/to/libtorch for CUDA)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  cmake g++ make ccache pkg-config
  libtorch-dev libopenblas0-pthread libgloo-dev   # LibTorch (CPU); OpenBLAS: ~20x faster matmul than reference BLAS
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev ffmpeg
  libsentencepiece-dev libcli11-dev libspdlog-dev nlohmann-json3-dev libgtest-dev
  time                                             # /usr/bin/time for scripts/bench_demo.sh
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# ccache: share objects across build trees; tolerate the precompiled header.
ccache --set-config=sloppiness=pch_defines,time_macros,include_file_mtime,include_file_ctime >/dev/null 2>&1 || true
ccache --max-size=5G >/dev/null 2>&1 || true

[ "${1:-}" = "--deps-only" ] && exit 0

build_dir="${T2V_BUILD_DIR:-build}"
jobs="${T2V_JOBS:-$(nproc)}"
# shellcheck disable=SC2086
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release ${T2V_CMAKE_ARGS:-} >/dev/null
if [ "${1:-}" = "--all" ]; then
  cmake --build "$build_dir" -j "$jobs"
else
  cmake --build "$build_dir" -j "$jobs" --target t2v t2v_spm
fi
echo "setup: built $build_dir/t2v"
