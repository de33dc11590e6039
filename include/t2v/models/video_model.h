// The seam between a model family and the generic pipeline. A family module (models/wan/, later
// models/ltx/) opens its checkpoints, decides what it can run before any weights load, and hands the
// pipeline what one generation needs: text contexts, the denoisers (experts with their timestep
// ranges), the VAE's encode/decode, its size rules and default settings. The pipeline and the CLI
// see only this interface; nothing above models/ names a family's types.
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

#include "t2v/io/video_writer.h"

namespace t2v::models {

// Where a model comes from: a folder (diffusers layout), or single files by role
// ("transformer", "text_encoder", "vae", "tokenizer"; later "transformer_2", "image_encoder").
struct ModelLocation {
  std::filesystem::path folder;
  std::map<std::string, std::filesystem::path> files;
};

// How the model runs. Unset fields take the family's rule (for Wan: bf16 DiT on CUDA, fp32 on the
// CPU; umT5 by available memory).
struct RuntimeOptions {
  torch::Device device = torch::kCPU;                  // denoisers + VAE
  std::optional<torch::ScalarType> dtype;              // denoiser weights
  std::optional<torch::Device> text_encoder_device;    // default: `device`
  std::optional<torch::ScalarType> text_encoder_dtype; // weights and math (default: the family's rule)
  std::optional<int64_t> text_len;                     // prompt tokens incl. </s> (default: the model's)
  int64_t vae_tile = 0;                                // spatial decode tile in pixels (0 = untiled)
  int64_t vae_overlap = 0;
};

// Size rules: strides of the latent grid and the model's trained size.
struct GridLimits {
  int vae_stride = 8;              // VAE spatial stride
  int spatial_multiple = 16;       // VAE spatial stride x patch size
  int temporal_stride = 4;         // VAE temporal stride
  int max_tokens_per_axis = 1024;  // RoPE table length per axis (rope_max_seq_len)
  int default_width = 832;         // the model's default size (Wan2.1 T2V: 832x480, 81 frames)
  int default_height = 480;
  int default_frames = 81;
  int trained_area = 832 * 480;    // above ~1.1x this area a warning says quality may drop
  // How an input image sets the output size and is resampled, as the family's official code does:
  // kWanI2V: each side floor(sqrt(area * aspect) / multiple) * multiple (W21 image2video.py),
  // bicubic (antialiased when shrinking) to uint8, cropped by default (models with no image input of
  // their own); kWanI2VFloat: the same size, PyTorch bicubic on the [-1, 1] floats, no antialias, no
  // rounding, stretched by default (W21/W22 image2video.py WanI2V.generate); kBestOutputSize: W22
  // utils.py best_output_size, Pillow LANCZOS (W22 WanTI2V.i2v).
  enum class ImageRule { kWanI2V, kWanI2VFloat, kBestOutputSize };
  ImageRule image_rule = ImageRule::kWanI2V;
  // How known frames (images, clips) condition the model, which also sets how conditions are
  // planned: kRenoised: whole latent frames imposed at each step's noise level (models without
  // conditioning inputs); kCleanAtT0: whole latent frames imposed clean with their tokens at t = 0
  // (Wan2.2 TI2V-5B); kMaskChannels: pixel frames marked in mask channels and their VAE latent
  // appended to the DiT input (Wan image-to-video DiTs), so a condition needs no latent boundary.
  enum class KnownFrames { kRenoised, kCleanAtT0, kMaskChannels };
  KnownFrames known_frames = KnownFrames::kRenoised;
  // Images the model's image encoder sees (VideoModel::encode_images): 0 = none; 1 = the first
  // known frame (Wan2.1 I2V); 2 = the first and the last known frame (Wan2.1 FLF2V), which must
  // then be different conditions.
  int image_context_images = 0;
};

// Settings a generation uses when the request leaves them unset (the official configs' values, or
// what a model folder declares).
struct ModelDefaults {
  int steps = 50;
  double guidance = 5.0;                 // the first expert's (Wan2.2 A14B: the high-noise one)
  std::optional<double> guidance_2;      // the second expert's; set iff the model has two
  double shift = 5.0;
  std::string sampler = "unipc";
  io::Rational fps{16, 1};
  std::string negative_prompt;
};

// One guidance branch of a denoiser: the velocity [1, C, T, h, w] for x [1, C + C', T, h, w] (the
// latent, followed by the conditioning channels of mask-channel models, C' = 0 otherwise) at
// timestep t: int64 [1], or float32 [1, T] with one timestep per latent frame (known frames at t = 0,
// Wan2.2 TI2V style).
// branch 0 = conditional (the prompt), 1 = unconditional (the negative prompt).
class Denoiser {
 public:
  virtual ~Denoiser() = default;
  virtual torch::Tensor velocity(const torch::Tensor& x, const torch::Tensor& t, int branch) = 0;
};

// A denoiser and the timesteps it serves: min_timestep <= t < max_timestep. Experts are listed in
// the order of the request's guidance scales (guidance, guidance_2).
struct ExpertModel {
  std::shared_ptr<Denoiser> denoiser;
  double min_timestep = 0;
  double max_timestep = 1e9;
};

class VideoModel {
 public:
  virtual ~VideoModel() = default;

  virtual std::string family() const = 0;   // "wan2.1"
  virtual std::string name() const = 0;     // the folder's or transformer file's name (metadata)
  virtual std::filesystem::path root() const = 0;
  // What `t2v info` prints: components, layouts, configs, sizes, support, modes.
  virtual nlohmann::json describe() const = 0;
  // Why this model cannot run ("FILE: what it is; t2v does not run it"), or nothing.
  virtual std::optional<std::string> unsupported_reason() const = 0;
  // "text-to-video", "image-to-video", "first-last-frame", "video-to-video", "extend", ... .
  virtual std::vector<std::string> supported_modes() const = 0;
  virtual GridLimits grid_limits() const = 0;
  virtual ModelDefaults defaults() const = 0;
  virtual int64_t latent_channels() const = 0;  // the VAE's z_dim: the noise is drawn with it
  virtual const RuntimeOptions& runtime() const = 0;

  // One fp32 context per prompt (on the CPU); the text encoder is loaded for the call and freed
  // after it, before the denoisers need the memory.
  virtual std::vector<torch::Tensor> encode_prompts(const std::vector<std::string>& prompts) = 0;
  // Image context for models with an image encoder (GridLimits::image_context_images > 0): images
  // float [3, h, w] in [-1, 1] as decoded -> features (Wan2.1: CLIP [n, 257, width]); the encoder
  // is loaded for the call and freed after it. Undefined for models without one.
  virtual torch::Tensor encode_images(const std::vector<torch::Tensor>& images) {
    (void)images;
    return {};
  }
  // The denoisers for one generation, bound to the prompt's and negative prompt's contexts (and
  // the image context, shared by both branches); the weights load on first use and stay loaded.
  virtual std::vector<ExpertModel> experts(const torch::Tensor& context, const torch::Tensor& context_null,
                                           const torch::Tensor& image_context = {}) = 0;
  // VAE: pixels [3, F, H, W] in [-1, 1] -> clean latent [C, T, h, w] on the runtime device.
  virtual torch::Tensor encode_video(const torch::Tensor& video) = 0;
  // VAE: latent [C, T, h, w] -> pixel chunks [3, n, H, W] in [-1, 1], in order, as they are final.
  virtual void decode_video(const torch::Tensor& latent, const std::function<void(const torch::Tensor&)>& on_frames) = 0;
};

}  // namespace t2v::models
