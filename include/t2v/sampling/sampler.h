// Sampler interface of the denoising loop and its factory.
//
// A sampler owns the sigma/timestep grid and the multistep history of one generation. The pipeline
// calls set_timesteps(steps, shift) once, feeds timesteps()[i] to the DiT, and calls
// step(v, i, x_i) for i = 0..N-1 with the (guided) flow velocity v; the result is x_{i+1} and the
// last step returns the final clean latent. Samples may have any shape, dtype and device; the
// per-step scalars (sigma, lambda, h, rho, ...) are computed on the CPU in float32 exactly as the
// reference does (0-d float32 tensors) and then applied to the sample tensors.
//
// Samplers ("--sample_solver"):
//   unipc  official default, Wan2.1 FlowUniPCMultistepScheduler (bh2, order 2, UniC corrector).
//   dpm++  official alternative, Wan2.1 FlowDPMSolverMultistepScheduler (dpmsolver++, midpoint).
//   euler  flow Euler x_{i+1} = x_i + (sigma_{i+1} - sigma_i) v on the official UniPC grid.
#pragma once

#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

#include "t2v/sampling/sigmas.h"

namespace t2v::sampling {

class Sampler {
 public:
  virtual ~Sampler() = default;

  // The name make_sampler() accepts for this sampler.
  virtual std::string name() const = 0;

  // Builds the grid for `steps` steps with flow shift `shift` and forgets any history.
  // UsageError if steps < 1 or shift is not a positive finite number.
  virtual void set_timesteps(int steps, double shift);

  int num_steps() const { return static_cast<int>(schedule_.timesteps.size()); }
  // [N] integer timesteps given to the model.
  const std::vector<int64_t>& timesteps() const { return schedule_.timesteps; }
  // [N+1] float32 CPU sigmas, last = 0.
  const torch::Tensor& sigmas() const { return schedule_.sigmas; }
  const SigmaSchedule& schedule() const { return schedule_; }

  // One step from `sample` (x_i, at sigmas[step_index]) given the flow velocity `model_output`;
  // returns x_{i+1} in the sample's dtype. Multistep samplers must be stepped 0, 1, ..., N-1 in
  // order (a new set_timesteps() starts over); t2v::Error otherwise or on shape mismatch.
  torch::Tensor step(const torch::Tensor& model_output, int64_t step_index, const torch::Tensor& sample);

  // Starts the run at step `step_index` instead of 0 (video-to-video: the steps before it are skipped,
  // as diffusers' set_begin_index). Call after set_timesteps(); multistep history starts empty there.
  void begin_at(int64_t step_index);
  // The first step index begin_at() was given (0 for a run from pure noise).
  int64_t begin_index() const { return begin_index_; }

  // A clean sample brought to the noise level of step `step_index`: (1 - sigma_i) x0 + sigma_i noise,
  // the flow-matching forward process (diffusers FlowMatchEulerDiscreteScheduler.scale_noise). Used
  // for a video-to-video start and for known frames imposed at every step. step_index may be N (sigma
  // 0: x0 itself).
  torch::Tensor add_noise(const torch::Tensor& x0, const torch::Tensor& noise, int64_t step_index) const;

  // x0 = x_i - sigma_i * v of the last step (the reference's converted model output), undefined
  // before the first step.
  const torch::Tensor& last_x0() const { return last_x0_; }
  // Solver order used by the last step (0 before the first step).
  int last_order() const { return last_order_; }

 protected:
  virtual SigmaSchedule build_schedule(int steps, double shift) const = 0;
  // The step proper; step() has validated the arguments. Must call record().
  virtual torch::Tensor step_impl(const torch::Tensor& model_output, int64_t step_index,
                                  const torch::Tensor& sample) = 0;
  // Clears the multistep history (called by set_timesteps).
  virtual void reset_history() {}
  // Whether steps must come in order 0..N-1 (true for the multistep solvers).
  virtual bool is_multistep() const { return true; }

  // sigmas[i] as a 0-d float32 CPU tensor, like the reference's `self.sigmas[i]`.
  torch::Tensor sigma_at(int64_t i) const { return schedule_.sigmas[i]; }
  void record(const torch::Tensor& x0, int order) {
    last_x0_ = x0;
    last_order_ = order;
  }

 private:
  SigmaSchedule schedule_;
  int64_t next_index_ = 0;
  int64_t begin_index_ = 0;
  torch::Tensor last_x0_;
  int last_order_ = 0;
};

// The first step of a video-to-video run of `steps` steps at `strength` in [0, 1], as diffusers'
// WanVideoToVideoPipeline.get_timesteps: init = min(int(steps * strength), steps), first =
// max(steps - init, 0). strength 1 -> 0 (every step), strength 0 -> steps (no step: the input is kept).
// UsageError naming "strength" outside [0, 1].
int first_step_for_strength(int steps, double strength);

// "unipc" | "dpm++" | "euler"; UsageError naming the valid choices otherwise. The returned sampler
// still needs set_timesteps().
std::unique_ptr<Sampler> make_sampler(const std::string& name);
// The names make_sampler() accepts, default first.
const std::vector<std::string>& sampler_names();

}  // namespace t2v::sampling
