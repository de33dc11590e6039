#!/usr/bin/env bash
# Regenerates the bundled demo model (models/t2v-demo) from seed 2026 on the CPU: the exact recipe
# of the committed weights. Needs the tools built (bash scripts/setup.sh --all). Takes about an
# hour and a half on 2 cores (see README, "Demo model"); each phase writes checkpoints and AdamW state every
# 250 (VAE) / 500 (DiT) steps, and re-running a phase with --resume continues exactly where it stopped.
#   usage: scripts/train_demo.sh [OUTPUT_DIR=models/t2v-demo]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-models/t2v-demo}
T=./build/train_demo
[ -x "$T" ] || { echo "train_demo: $T not built (bash scripts/setup.sh --all)" >&2; exit 2; }
rm -rf "$OUT" "$OUT.train-state"
# VAE phase 1: 2500 steps x 4 object-centred 32x32 crops of 9-frame clips (lr 1e-3, cosine).
$T --threads 2 -o "$OUT" --stage vae --vae-steps 2500 --vae-batch 4 --vae-frames 9 --log-every 100 --save-every 250
cp "$OUT/training_vae.json" "$OUT/training_vae_phase1.json"
# VAE phase 2: the same schedule stretched to 4500 steps (a warm restart at lr ~4.9e-4), on
# 17-frame clips so that the causal caches of every latent frame of a demo clip are trained.
$T --threads 2 -o "$OUT" --stage vae --resume --vae-steps 4500 --vae-batch 2 --vae-frames 17 --log-every 100 --save-every 250
# DiT: flow matching on the frozen VAE's latents of 2048 rendered clips, frozen tiny umT5: 3000 steps
# x 64 latents, lr 1e-3, logit-normal noise levels; sampling defaults shift 3, 20 UniPC steps,
# guidance 5; the held-out accuracy is measured every 1000 steps and at the end (eval-dit). The
# committed DiT predates two train_demo defaults, which these flags restore: its clips' paths span
# 40-100% of the frame (--min-travel 0.4; the default 1 crosses the whole frame) and its embedding
# MLPs start from W21's N(0, 0.02) (--dit-embed-std 0.02; the default is Xavier).
$T --threads 2 -o "$OUT" --stage dit --dit-steps 3000 --dit-batch 64 --dit-lr 1e-3 --sigma-sampling logit-normal \
   --min-travel 0.4 --dit-embed-std 0.02 --sample-shift 3 --eval-every 1000 --log-every 50 --save-every 500
