// The two training stages of tools/train_demo.cpp.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "t2v/demo/world.h"
#include "train_demo_common.h"

namespace t2v::demo_train {

struct TrainArgs {
  std::string output = "models/t2v-demo";  // .gitignore keeps this folder tracked
  std::string base_model = "tests/data/golden/wan21-tiny";
  uint64_t seed = 2026;
  int threads = 1;
  std::string device = "cpu";  // the training stages and eval-dit may run on "cuda"
  demo::WorldOptions world;  // the DiT's clips (default 64x64x17)
  int64_t text_len = 32;
  double shift = 5.0;  // `t2v generate` defaults to 5.0

  int64_t vae_steps = 2500, vae_batch = 4, vae_frames = 9, vae_base_dim = 12, vae_res_blocks = 1;
  int64_t vae_crop = 32;  // train on random square crops of this size (0: whole frames)
  double vae_lr = 1e-3, vae_latent_noise = 0.0, vae_latent_l2 = 0.0, vae_object_weight = 2.0;
  double vae_temporal_weight = 0.0;  // weight of the consecutive-latent-frame difference (relative)
  double vae_static_weight = 0.0;    // weight of the latent-frame spread of still clips (relative)
  int64_t vae_stop_at = 0;           // >0: end the phase after this step (statistics, eval; state saved)
  bool vae_finetune = false;         // start from the output folder's VAE weights, fresh optimiser
  double vae_min_travel = 0.4;  // the VAE's clips: paths anywhere in the frame (world.min_travel: the DiT's)

  int64_t dit_steps = 3000, dit_batch = 64, dit_clips = 2048;
  int64_t dit_layers = 4, dit_heads = 4, dit_head_dim = 32, dit_ffn = 512;
  int64_t dit_stop_at = 0;  // >0: stop after this step (state saved), to --resume with other settings
  int64_t dit_patch = 2;  // spatial patch size (Wan: 2); 1 = one token per latent pixel
  double dit_lr = 1e-3, caption_dropout = 0.1;
  std::string sigma_sampling = "logit-normal";  // or "shift" (Wan's)
  double dit_embed_std = 0.0;  // >0: N(0, std) for the time/text embedding MLPs (W21: 0.02); 0: Xavier
  // Train the small umT5 jointly with the DiT (same optimiser), starting from --base's weights;
  // false: frozen (contexts encoded once).
  bool train_text_encoder = false;

  // Sampling defaults written into model_index.json ("_t2v_defaults") for `t2v generate`.
  int64_t sample_steps = 20;
  double sample_guidance = 5.0;
  double sample_shift = 3.0;  // 0: the training --shift
  std::string sample_sampler = "unipc";
  std::string eval_set = "held-out";  // eval-dit: or "train"
  int64_t eval_seeds = 1;   // eval-dit: seeds per held-out prompt (1000+i, 1100+i, ...)
  int64_t eval_every = 0;   // dit: run eval-dit every N steps (0: never)

  int64_t log_every = 10, save_every = 500;
  bool resume = false;

  // The flow shift the model samples with (model_index.json, scheduler_config, eval-dit).
  double sampling_shift() const { return sample_shift > 0 ? sample_shift : shift; }
  // The world of the VAE stage's clips (its training crops and its latent statistics).
  demo::WorldOptions vae_world() const {
    demo::WorldOptions w = world;
    w.min_travel = vae_min_travel;
    return w;
  }
};

// Each returns a JSON summary (first/last losses, seconds per step, parameters, ...).
nlohmann::json train_vae(const TrainArgs& args, LossLog& log);
nlohmann::json train_dit(const TrainArgs& args, LossLog& log);
// Reconstructs every held-out combination with the saved VAE: L1 and analyse_clip accuracy.
nlohmann::json evaluate_vae(const TrainArgs& args);
// Generates every held-out prompt through the pipeline (MP4 round trip) from the model folder:
// analyse_clip colour and direction accuracy, as the semantic test measures them.
nlohmann::json evaluate_dit(const TrainArgs& args);
// One-step x0 predictions of noised real held-out clips at sigma 0.3 ... 1.0 (1.0: the caption alone,
// the conditional mean the sampler starts from): analyse_clip scores.
nlohmann::json evaluate_denoise(const TrainArgs& args);

}  // namespace t2v::demo_train
