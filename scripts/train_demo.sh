#!/usr/bin/env bash
# Regenerates the bundled demo model (models/t2v-demo) from seed 2026: the exact recipe of the
# committed weights, which were trained on one H100 GPU (--device cuda; about 25 min of training).
# Without a GPU the same phases run on the CPU (DEVICE=cpu; estimated hours on 2 cores -- see
# README, "Demo model"); CUDA and CPU numerics differ in the last bits, so the weights will not be
# bit-identical to the committed ones. Needs the tools built (bash scripts/setup.sh --all). Each phase
# writes checkpoints and AdamW state every --save-every steps, and re-running a phase with --resume
# continues exactly where it stopped (a state saved on one device loads on the other).
#   usage: [DEVICE=cuda|cpu] [THREADS=N] scripts/train_demo.sh [OUTPUT_DIR=models/t2v-demo]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-models/t2v-demo}
DEVICE=${DEVICE:-$(command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 && echo cuda || echo cpu)}
THREADS=${THREADS:-$(nproc)}
T=./build/train_demo
[ -x "$T" ] || { echo "train_demo: $T not built (bash scripts/setup.sh --all)" >&2; exit 2; }
echo "train_demo.sh: device $DEVICE, $THREADS threads, output $OUT"
rm -rf "$OUT" "$OUT.train-state"
RUN=("$T" --device "$DEVICE" --threads "$THREADS" -o "$OUT")
# VAE phase 1: 1000 steps x 16 object-centred 32x32 crops of 9-frame clips (lr 1e-3, cosine). The
# still-clip term (--vae-static-weight) makes every latent frame code the same content alike --
# frame 0 (one video frame) as the later ones (four each): Wan's DiT has no absolute position, so it
# cannot learn a per-frame code.
VAE=(--stage vae --vae-static-weight 0.2 --log-every 100 --save-every 200)
"${RUN[@]}" "${VAE[@]}" --vae-steps 1000 --vae-batch 16 --vae-frames 9
cp "$OUT/training_vae.json" "$OUT/training_vae_phase1.json"
# VAE phase 2: the schedule stretched to 1600 steps (a warm restart at lr ~4.1e-4) on 17-frame
# clips, so the causal caches of every latent frame of a demo clip are trained; it ended at step
# 1200 (the run's time limit on the GPU; the weights at that checkpoint were kept).
"${RUN[@]}" "${VAE[@]}" --resume --vae-steps 1600 --vae-stop-at 1200 --vae-batch 8 --vae-frames 17
# DiT (4 layers, dim 256 = 4 heads x 64): flow matching on the frozen VAE's latents of 8192 rendered
# clips whose paths span 40-100% of the frame, frozen tiny umT5, batch 256, lr 1e-3, SD3's
# logit-normal noise levels, embedding MLPs from W21's N(0, 0.02); sampling defaults shift 5, 20
# UniPC steps, guidance 5. Two phases, as the committed DiT was made (two calls of a time-limited
# GPU): a 20000-step schedule stopped at step 7750, then resumed with the schedule shortened to
# 14647 steps (the learning rate falls from ~7.3e-4 to the floor 1e-4 over the second phase).
DIT=(--stage dit --dit-clips 8192 --dit-batch 256 --dit-lr 1e-3 --dit-head-dim 64 --dit-ffn 1024
     --sigma-sampling logit-normal --min-travel 0.4 --dit-embed-std 0.02 --sample-shift 5 --log-every 250 --save-every 250)
"${RUN[@]}" "${DIT[@]}" --dit-steps 20000 --dit-stop-at 7750
"${RUN[@]}" "${DIT[@]}" --resume --dit-steps 14647
