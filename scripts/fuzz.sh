#!/usr/bin/env bash
# Fuzzes t2v's parsers with libFuzzer (Debian's clang 14, AddressSanitizer + UBSan, leak detection):
# builds build-fuzz/, runs each target until it has executed --runs inputs (default 10 million) or
# --seconds of wall time passed (a stopped process's time counts too), then merges the inputs that add coverage into tests/fuzz/corpus/<target>/ (which
# the regular suite replays: ctest -R FuzzCorpusReplay). Prints one summary line per target; exits
# non-zero on any crash, hang (> 10 s per input), leak or out-of-memory, leaving the reproducer in build-fuzz/findings/.
#   bash scripts/fuzz.sh [--runs N] [--seconds S] [--jobs J] [--no-build] [target ...]   (targets: tests/fuzz/targets.cmake)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=10000000 seconds=3600 jobs=1 build_it=1 targets=()
while (($#)); do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --no-build) build_it=0; shift ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if ((${#targets[@]} == 0)); then
  read -r -a targets <<<"$(sed -n 's/^set(T2V_FUZZ_TARGETS \(.*\))/\1/p' tests/fuzz/targets.cmake)"
fi
build=build-fuzz
if ((build_it)); then
bash scripts/setup.sh --deps-only
if ! command -v clang++-14 >/dev/null || [ ! -e /usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq clang-14 libclang-rt-14-dev >/dev/null
fi
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-14 -DT2V_FUZZ=ON >/dev/null
cmake --build "$build" -j "$(nproc)" --target "${targets[@]/#/fuzz_}"
fi
[ -d tests/fuzz/corpus ] || python3 tests/fuzz/make_seeds.py

# Halt on the first UBSan report; LibTorch's one-time global allocations are reachable, not leaks.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
status=0
mkdir -p "$build/findings"
for t in "${targets[@]}"; do
  work="$build/corpus/$t"
  mkdir -p "$work" "$build/findings/$t"
  log="$build/fuzz_$t.log"
  rm -f fuzz-*.log  # the workers' logs of the previous target
  start=$(date +%s)
  parallel=()  # -jobs makes libFuzzer fork workers that log to ./fuzz-N.log; one job runs in-process
  ((jobs > 1)) && parallel=(-jobs="$jobs" -workers="$jobs")
  set +e
  "$build/fuzz_$t" -runs="$runs" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=4096 \
    "${parallel[@]}" -print_final_stats=1 -artifact_prefix="$build/findings/$t/" \
    "$work" "tests/fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  set -e
  secs=$(( $(date +%s) - start ))
  # With -jobs, each worker's final stats are in its fuzz-N.log and are copied into $log as well:
  # count one of the two (counting both doubled the figures of earlier multi-job runs).
  if ((jobs > 1)); then stats=(fuzz-*.log); else stats=("$log"); fi
  execs=$( (cat "${stats[@]}" 2>/dev/null || true) | sed -n 's/^stat::number_of_executed_units: *//p' |
    awk '{s+=$1} END {print s+0}')
  crashes=$(find "$build/findings/$t" -name 'crash-*' | wc -l)
  hangs=$(find "$build/findings/$t" -name 'timeout-*' | wc -l)
  leaks=$(find "$build/findings/$t" -name 'leak-*' | wc -l)
  ooms=$(find "$build/findings/$t" -name 'oom-*' | wc -l)
  # Keep only the inputs that add coverage to the checked-in corpus.
  "$build/fuzz_$t" -merge=1 "tests/fuzz/corpus/$t" "$work" >"$build/merge_$t.log" 2>&1 || true
  kept=$(find "tests/fuzz/corpus/$t" -type f | wc -l)
  findings=$((crashes + hangs + leaks + ooms))  # slow-unit-* files are reports, not failures
  echo "fuzz $t: $execs executions in ${secs} s, $crashes crashes, $hangs hangs, $leaks leaks, $ooms ooms (exit $rc); corpus $kept inputs"
  if ((rc != 0 || findings != 0)); then status=1; tail -40 "$log"; fi
  rm -f fuzz-*.log
done
exit $status
