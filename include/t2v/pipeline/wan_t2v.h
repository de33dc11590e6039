// Wan text-to-video, as W21 wan/text2video.py WanT2V.generate: encode prompt and negative prompt
// (umT5, trimmed contexts), draw noise [16, T, H/8, W/8] from a generator seeded with the seed,
// N sampler steps of two DiT passes (cond, then uncond; CFG uncond + g·(cond − uncond) in fp32),
// then a streaming VAE decode whose frames go straight to the video writer
// (uint8((clamp(x) + 1) / 2 · 255), truncated, as cache_video does).
// Models load lazily and stay loaded across generate() calls (batch); the text encoder is freed as
// soon as the prompts of a run are encoded (prepare_prompts), before the DiT is loaded.
#pragma once

#include <torch/types.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "t2v/diffusion/denoise.h"
#include "t2v/pipeline/conditions.h"
#include "t2v/pipeline/output.h"
#include "t2v/io/video_writer.h"
#include "t2v/models/wan/model_source.h"
#include "t2v/pipeline/latent_grid.h"

namespace t2v::pipeline {

// wan_shared_cfg.sample_neg_prompt (W21 wan/configs/shared_config.py), used when no negative
// prompt is given.
extern const char* const kWanDefaultNegativePrompt;

struct PipelineOptions {
  torch::Device device = torch::kCPU;               // DiT + VAE
  torch::ScalarType dtype = torch::kFloat32;        // DiT bulk weights (bf16 on CUDA by default)
  torch::Device text_encoder_device = torch::kCPU;
  torch::ScalarType text_encoder_dtype = torch::kFloat32;           // weight storage
  c10::optional<torch::ScalarType> text_encoder_compute_dtype;      // math, if not the storage dtype
  int64_t vae_tile = 0;      // spatial tile size in pixels (0 = untiled)
  int64_t vae_overlap = 0;
};

struct GenerationSettings {
  std::string prompt;
  std::string negative_prompt;  // already resolved (kWanDefaultNegativePrompt when not given)
  LatentGrid grid;
  io::Rational fps{16, 1};
  int steps = 50;
  double guidance = 5.0;
  double shift = 5.0;
  std::string sampler = "unipc";
  uint64_t seed = 0;
  std::filesystem::path output;
  int crf = 18;
  io::Codec codec = io::Codec::Auto;
  std::filesystem::path save_intermediates;  // empty = none
  ConditionPlan conditions;                  // planned inputs (none = text-to-video)
  std::filesystem::path save_latents;        // also write the final latent file here (empty = no)
};

struct GenerationResult {
  std::filesystem::path output;
  uint64_t seed = 0;
  int frames = 0, width = 0, height = 0;
  double text_seconds = 0, denoise_seconds = 0, decode_seconds = 0, total_seconds = 0;
  uint64_t peak_rss_bytes = 0;
  uint64_t peak_gpu_bytes = 0;
  nlohmann::json settings;  // what is embedded in the output's metadata
};

struct ProgressCallbacks {
  std::function<void(const std::string& stage)> stage;               // "text", "denoise", "decode"
  std::function<void(int step, int total, double seconds)> step;     // after each denoising step
  std::function<void(int frames, int total)> frames;                 // after each decoded chunk
};

class WanT2VPipeline {
 public:
  WanT2VPipeline(wan::WanModelSource source, PipelineOptions options);
  ~WanT2VPipeline();

  // Encodes every prompt not yet cached, then frees the text encoder's weights.
  void prepare_prompts(const std::vector<std::string>& prompts);
  GenerationResult generate(const GenerationSettings& settings, const ProgressCallbacks& progress = {});
  // Decodes a saved latent file to `output` (the video the run that saved it wrote).
  GenerationResult decode_latents(const LatentFile& file, const std::filesystem::path& output, int crf,
                                  io::Codec codec, const ProgressCallbacks& progress = {});
  // The generation modes this model supports ("text-to-video", "image-to-video", ...).
  std::vector<std::string> supported_modes() const;

  const wan::WanModelSource& source() const { return source_; }
  const PipelineOptions& options() const { return options_; }
  // Grid limits of this model (strides, default size, RoPE length).
  GridLimits grid_limits() const;

 private:
  struct Models;
  const torch::Tensor& context_for(const std::string& prompt);
  diffusion::Conditioning encode_conditions(const GenerationSettings& s);
  // Decodes a final latent (with its layout and kept frames) through the composer into `output`;
  // `keep_chunks` (optional) receives the decoded float frames.
  void write_video(const LatentFile& file, const std::filesystem::path& output, int crf, io::Codec codec,
                   const ProgressCallbacks& progress, std::vector<torch::Tensor>* keep_chunks);
  wan::WanModelSource source_;
  PipelineOptions options_;
  std::map<std::string, torch::Tensor> contexts_;  // prompt -> trimmed fp32 [L, text_dim] (CPU)
  std::unique_ptr<Models> models_;
};

// Official noise: randn(shape, fp32) from a generator on `device` seeded with `seed`
// (CPU: Mersenne Twister as torch.Generator('cpu'); CUDA: Philox as torch.Generator('cuda')).
torch::Tensor draw_noise(c10::IntArrayRef shape, uint64_t seed, const torch::Device& device);
// cache_video's conversion of [3, n, H, W] in [-1, 1] to uint8 [n, H, W, 3] (truncation).
torch::Tensor to_uint8_frames(const torch::Tensor& video);

}  // namespace t2v::pipeline
