#!/usr/bin/env bash
# Benchmark (issue 7 target: one demo clip in <= 10 s end to end on 2 CPU cores): runs
# `t2v generate` with the bundled demo model on RUNS held-out-style prompts (a fresh process each
# time: model loading, text encoding, denoising, decoding and MP4 writing all count) and prints
# the wall time and peak RSS of each run, then the median and the worst.
#   usage: scripts/bench_demo.sh [RUNS=5] [extra t2v generate options...]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${T2V_BIN:-./build/t2v}
RUNS=${1:-5}
shift || true
[ -x "$BIN" ] || { echo "bench_demo: $BIN not built (bash scripts/setup.sh)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "bench_demo: /usr/bin/time missing (apt-get install time)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prompts=("a red triangle moving up on a white background" "a blue circle moving left on a yellow background"
         "a white square moving down on a black background" "a yellow triangle moving right on a green background"
         "a green circle moving up on a red background")
times=()
echo "cores: $(nproc), binary: $BIN, $RUNS runs"
for i in $(seq 1 "$RUNS"); do
  p=${prompts[$(( (i - 1) % ${#prompts[@]} ))]}
  /usr/bin/time -f "%e %M" -o "$tmp/time" "$BIN" generate -p "$p" --seed "$i" -o "$tmp/clip$i.mp4" "$@" 2>"$tmp/log" ||
    { cat "$tmp/log" >&2; exit 1; }
  read -r wall rss_kb <"$tmp/time"
  times+=("$wall")
  printf 'run %d: %6.2f s wall, peak RSS %d MiB  (%s)\n' "$i" "$wall" $((rss_kb / 1024)) "$p"
done
sorted=$(printf '%s\n' "${times[@]}" | sort -g)
median=$(echo "$sorted" | sed -n "$(( (RUNS + 1) / 2 ))p")
worst=$(echo "$sorted" | tail -1)
echo "median ${median} s, worst ${worst} s per clip (target <= 10 s)"
