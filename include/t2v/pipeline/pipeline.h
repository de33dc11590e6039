// One generation of any model family: text contexts, conditions encoded to latents, the one
// denoising loop over the model's experts, then a streaming VAE decode whose frames go through the
// layout composer to a frame sink. Mirrors W21 wan/text2video.py WanT2V.generate (prompt and
// negative prompt, noise from a generator seeded with the seed, N sampler steps of a cond and an
// uncond pass, cache_video's uint8 conversion); the model-specific parts come from the family's
// models::VideoModel. Models load lazily and stay loaded across generate() calls (batch); the text
// encoder is freed as soon as the prompts of a run are encoded (prepare_prompts).
#pragma once

#include <torch/types.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "t2v/diffusion/denoise.h"
#include "t2v/io/video_writer.h"
#include "t2v/models/video_model.h"
#include "t2v/pipeline/conditions.h"
#include "t2v/pipeline/latent_grid.h"
#include "t2v/pipeline/output.h"

namespace t2v::pipeline {

struct GenerationSettings {
  std::string prompt;
  std::string negative_prompt;  // already resolved (the model's default when not given)
  LatentGrid grid;
  io::Rational fps{16, 1};
  int steps = 50;
  double guidance = 5.0;              // the first expert's (Wan2.2 A14B: high-noise)
  std::optional<double> guidance_2;   // the second expert's (A14B: low-noise); unset = `guidance`
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

class Pipeline {
 public:
  // Refuses (ConfigError) a model its family cannot run, before any weights load.
  explicit Pipeline(std::unique_ptr<models::VideoModel> model);
  ~Pipeline();

  // Encodes every prompt not yet cached, then frees the text encoder's weights.
  void prepare_prompts(const std::vector<std::string>& prompts);
  GenerationResult generate(const GenerationSettings& settings, const ProgressCallbacks& progress = {});
  // Decodes a saved latent file to `output` (the video the run that saved it wrote).
  GenerationResult decode_latents(const LatentFile& file, const std::filesystem::path& output, int crf,
                                  io::Codec codec, const ProgressCallbacks& progress = {});

  const models::VideoModel& model() const { return *model_; }
  models::VideoModel& model() { return *model_; }
  // The generation modes this model supports ("text-to-video", "image-to-video", ...).
  std::vector<std::string> supported_modes() const { return model_->supported_modes(); }
  // Grid limits of this model (strides, default size, RoPE length).
  GridLimits grid_limits() const { return model_->grid_limits(); }

 private:
  const torch::Tensor& context_for(const std::string& prompt);
  // `save` is told the conditioning intermediates (image_in, image_resized, y) for save_intermediates.
  diffusion::Conditioning encode_conditions(const GenerationSettings& s,
                                            const std::function<void(const std::string&, const torch::Tensor&)>& save);
  // Decodes a final latent (with its layout and kept frames) through the composer into `output`;
  // `keep_chunks` (optional) receives the decoded float frames.
  void write_video(const LatentFile& file, const std::filesystem::path& output, int crf, io::Codec codec,
                   const ProgressCallbacks& progress, std::vector<torch::Tensor>* keep_chunks);
  std::unique_ptr<models::VideoModel> model_;
  std::map<std::string, torch::Tensor> contexts_;  // prompt -> trimmed fp32 [L, text_dim] (CPU)
};

// Official noise: randn(shape, fp32) from a generator on `device` seeded with `seed`
// (CPU: Mersenne Twister as torch.Generator('cpu'); CUDA: Philox as torch.Generator('cuda')).
torch::Tensor draw_noise(c10::IntArrayRef shape, uint64_t seed, const torch::Device& device);
// cache_video's conversion of [3, n, H, W] in [-1, 1] to uint8 [n, H, W, 3] (truncation).
torch::Tensor to_uint8_frames(const torch::Tensor& video);

}  // namespace t2v::pipeline
