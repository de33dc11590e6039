// The one denoising loop every generation mode runs through.
//
// A run is: a sampler grid (steps, shift), the model's denoisers (experts, each serving a range of
// timesteps: one for Wan2.1, two for Wan2.2 A14B), classifier-free guidance, a start latent (pure noise,
// or an init latent brought to the first step's noise level for video-to-video), and known latent
// frames re-imposed at every step. Mirrors the loop of W21 wan/text2video.py WanT2V.generate
// (cond pass, uncond pass, uncond + g (cond - uncond) in fp32, sample_scheduler.step) with the
// video-to-video start of diffusers WanVideoToVideoPipeline (get_timesteps + scale_noise).
#pragma once

#include <torch/types.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "t2v/models/video_model.h"
#include "t2v/sampling/sampler.h"

namespace t2v::diffusion {

// A caller-owned stop request, polled between steps (replaces the process-wide signal flag for
// embedders; the CLI's token also reports SIGINT/SIGTERM).
class CancelToken {
 public:
  void cancel() { cancelled_.store(true); }
  bool cancelled() const { return cancelled_.load(); }

 private:
  std::atomic<bool> cancelled_{false};
};

// The model's velocity predictor for one guidance branch (models/video_model.h).
using Denoiser = models::Denoiser;

struct Expert {
  Denoiser* denoiser = nullptr;
  // Serves the steps whose timestep t satisfies min_timestep <= t < max_timestep.
  double min_timestep = 0;
  double max_timestep = 1e9;
  double guidance = 5.0;
};

// Known latent frames, imposed at every step at the current noise level (RePaint-style):
// x[:, j] <- w_j ((1 - sigma) z[:, j] + sigma eps[:, j]) + (1 - w_j) x[:, j], and after the last step
// x[:, j] <- w_j z[:, j] + (1 - w_j) x[:, j] (the clean latents are put back before decoding).
// With known_at_t0 (models trained for it: Wan2.2 TI2V, W22 wan/textimage2video.py WanTI2V.i2v)
// the known frames are imposed clean, x[:, j] <- w_j z[:, j] + (1 - w_j) x[:, j], before every step,
// and the denoiser gets per-latent-frame timesteps t_j = (1 - w_j) t (the official mask2 * t):
// a fully known frame is at t = 0.
struct Conditioning {
  torch::Tensor init_latent;   // [C, T, h, w] clean latent of the init video; undefined = none
  double strength = 1.0;       // video-to-video strength in [0, 1]; 1 = start from pure noise
  torch::Tensor known_latent;  // [C, T, h, w] clean latents; undefined = no known frames
  torch::Tensor known_weight;  // [T] float32 per latent frame in [0, 1] (0 = free)
  bool known_at_t0 = false;    // impose clean + per-frame timesteps (see above)
  // Conditioning channels appended after the latent on the channel axis at every model pass, the
  // same for both guidance branches and every step (mask + image latent of Wan image-to-video DiTs:
  // W22 wan/image2video.py WanI2V.generate `y`, concatenated in WanModel.forward). Undefined = none.
  torch::Tensor concat;        // [C', T, h, w]

  bool has_known() const { return known_latent.defined(); }
};

struct StepInfo {
  int step = 0;            // index in the sampler grid
  int first_step = 0;      // the run's first step (video-to-video skips the ones before)
  int total_steps = 0;     // grid size
  int64_t timestep = 0;
  int expert = -1;         // index of the expert that ran the step (-1: the step cache answered)
  double guidance = 0;     // that expert's guidance scale
  double seconds = 0;      // wall time of this step
};

struct DenoiseHooks {
  std::function<void(const StepInfo&)> progress;  // after each step
  const CancelToken* cancel = nullptr;            // polled before each step (t2v::Interrupted)
  // Dump of intermediates: called with a name and a tensor the hook may keep (it is not reused).
  std::function<void(const std::string& name, const torch::Tensor& value)> dump;
  // Step cache: asked before each step's model passes; returning a defined tensor uses it as the
  // guided velocity and skips the passes (step caching policies plug in here). Undefined: run them.
  std::function<torch::Tensor(const StepInfo&, const torch::Tensor& x)> cached_velocity;
  // Told each step's guided velocity, so a cache can keep what it needs.
  std::function<void(const StepInfo&, const torch::Tensor& x, const torch::Tensor& velocity)> after_velocity;
};

// Runs the loop from `noise` ([C, T, h, w], fp32) and returns the clean latent [C, T, h, w].
// The sampler must already have its grid (set_timesteps). Errors name the request fields
// ("strength", "conditions") the way pipeline requests do.
torch::Tensor denoise(sampling::Sampler& sampler, const std::vector<Expert>& experts, const torch::Tensor& noise,
                      const Conditioning& conditioning, const DenoiseHooks& hooks = {});

// The expert serving timestep t (the first whose range holds it); t2v::Error if none does.
const Expert& expert_for(const std::vector<Expert>& experts, int64_t timestep);

}  // namespace t2v::diffusion
