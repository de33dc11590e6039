#!/usr/bin/env bash
# Side-by-side CPU benchmark of t2v against the official Wan2.1 code on this machine, same threads and
# the same BLAS (both load the system OpenBLAS): the DiT forward (4 layers of the 1.3B config, 1560
# tokens, 512-row context) and the VAE decode (3 latent frames of 16x28 -> 9 frames of 128x224).
# The two are run alternately ROUNDS times (shared machines drift), each with one warm-up + RUNS runs;
# prints every median and the ratio of the medians of medians.
#   WAN21=/path/to/Wan2.1-checkout bash scripts/bench_vs_official.sh [ROUNDS=3] [RUNS=3]
# Needs Debian's python3-torch (apt install python3-torch; it belongs to /usr/bin/python3) and an
# exported checkout of github:Wan-Video/Wan2.1; the timing script is ../shared/reference/bench_official.py
# (or BENCH_OFFICIAL=path).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}" runs="${2:-3}" threads="${THREADS:-2}"
official="${BENCH_OFFICIAL:-../shared/reference/bench_official.py}"
: "${WAN21:?set WAN21 to an exported checkout of github:Wan-Video/Wan2.1}"
median() { python3 -c "import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])['median_s'])"; }
declare -A ours theirs
for what in dit vae; do ours[$what]="" theirs[$what]=""; done
for ((r = 1; r <= rounds; ++r)); do
  for what in dit vae; do
    if [ "$what" = dit ]; then
      a=(dit --layers 4 --frames 1 --height 60 --width 104 --context 512)
      b=(dit --layers 4 --frames 1 --height 60 --width 104 --context 512)
    else
      a=(vae --latent-frames 3 --height 16 --width 28)
      b=(vae --latent-frames 3 --height 16 --width 28)
    fi
    o=$(./build/t2v bench "${a[@]}" --runs "$runs" --threads "$threads" --json 2>/dev/null | median)
    t=$(/usr/bin/python3 "$official" --ref "$WAN21" "${b[@]}" --runs "$runs" --threads "$threads" 2>/dev/null | median)
    echo "round $r $what: t2v ${o} s, official ${t} s"
    ours[$what]+="$o " theirs[$what]+="$t "
  done
done
for what in dit vae; do
  python3 - "$what" ${ours[$what]} -- ${theirs[$what]} <<'PY'
import statistics, sys
what, rest = sys.argv[1], sys.argv[2:]
i = rest.index("--"); a = [float(x) for x in rest[:i]]; b = [float(x) for x in rest[i + 1:]]
ma, mb = statistics.median(a), statistics.median(b)
print(f"{what}: t2v median {ma:.3f} s, official median {mb:.3f} s, ratio {ma / mb:.2f}")
PY
done
