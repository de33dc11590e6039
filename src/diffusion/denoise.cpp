// Reference: W21 wan/text2video.py WanT2V.generate (the sampling loop and CFG); diffusers
// pipelines/wan/pipeline_wan_video2video.py WanVideoToVideoPipeline (get_timesteps, prepare_latents).
#include "t2v/diffusion/denoise.h"

#include <chrono>
#include <sstream>

#include "t2v/error.h"
#include "t2v/runtime.h"

namespace t2v::diffusion {
namespace {

using Clock = std::chrono::steady_clock;

void check_cancel(const DenoiseHooks& hooks) {
  check_interrupted();  // SIGINT/SIGTERM (the CLI)
  if (hooks.cancel && hooks.cancel->cancelled()) throw Interrupted();
}

void check_conditioning(const Conditioning& c, const torch::Tensor& noise) {
  if (c.init_latent.defined() && c.init_latent.sizes() != noise.sizes()) {
    std::ostringstream os;
    os << "init video latent has shape " << c.init_latent.sizes() << ", the generation's latent is " << noise.sizes();
    throw Error(os.str());
  }
  if (!(c.strength >= 0.0 && c.strength <= 1.0)) {
    std::ostringstream os;
    os << "strength must be in [0, 1], got " << c.strength;
    throw UsageError(os.str());
  }
  if (c.has_known()) {
    if (c.known_latent.sizes() != noise.sizes()) {
      std::ostringstream os;
      os << "conditions: known latent has shape " << c.known_latent.sizes() << ", the generation's latent is "
         << noise.sizes();
      throw Error(os.str());
    }
    if (!c.known_weight.defined() || c.known_weight.dim() != 1 || c.known_weight.size(0) != noise.size(1))
      throw Error("conditions: the known-frame weights must be one value per latent frame");
  } else if (c.known_at_t0) {
    throw Error("conditions: known_at_t0 without known frames");
  }
  if (c.concat.defined() && (c.concat.dim() != 4 || c.concat.sizes().slice(1) != noise.sizes().slice(1))) {
    std::ostringstream os;
    os << "conditions: conditioning channels of shape " << c.concat.sizes() << " do not fit the latent " << noise.sizes();
    throw Error(os.str());
  }
}

// Per-latent-frame weight shaped to broadcast over [C, T, h, w].
torch::Tensor frame_weight(const Conditioning& c, const torch::Tensor& like) {
  return c.known_weight.to(like.device(), torch::kFloat32).view({1, -1, 1, 1});
}

}  // namespace

const Expert& expert_for(const std::vector<Expert>& experts, int64_t timestep) {
  const auto t = static_cast<double>(timestep);
  for (const auto& e : experts)
    if (t >= e.min_timestep && t < e.max_timestep) return e;
  std::ostringstream os;
  os << "no denoiser serves timestep " << timestep;
  throw Error(os.str());
}

torch::Tensor denoise(sampling::Sampler& sampler, const std::vector<Expert>& experts, const torch::Tensor& noise,
                      const Conditioning& c, const DenoiseHooks& hooks) {
  if (experts.empty()) throw Error("denoise: no denoiser");
  check_conditioning(c, noise);
  const int n = sampler.num_steps();
  auto dump = [&](const std::string& name, const torch::Tensor& t) {
    if (hooks.dump) hooks.dump(name, t);
  };

  // Start: pure noise, or (video-to-video, strength < 1) the init latent noised to the first step's
  // sigma. Strength 1 ignores the init latent, so it equals text-to-video with the same seed.
  int first = 0;
  torch::Tensor latent = noise;  // [C, T, h, w] fp32
  if (c.init_latent.defined() && c.strength < 1.0) {
    first = sampling::first_step_for_strength(n, c.strength);
    sampler.begin_at(first);
    latent = sampler.add_noise(c.init_latent.to(noise.device(), noise.scalar_type()), noise, first);
  }
  const torch::Tensor concat = c.concat.defined() ? c.concat.to(noise.device(), noise.scalar_type()) : torch::Tensor();
  torch::Tensor known, weight;
  if (c.has_known()) {
    known = c.known_latent.to(noise.device(), noise.scalar_type());
    weight = frame_weight(c, noise);
  }
  // RePaint: the known frames at the noise level of `step` (the same draw of noise throughout);
  // known_at_t0: the clean frames (the model sees them at t = 0).
  auto impose = [&](const torch::Tensor& x, int step) {
    if (!known.defined()) return x;
    if (c.known_at_t0) return weight * known + (1 - weight) * x;
    return weight * sampler.add_noise(known, noise, step) + (1 - weight) * x;
  };
  // The step's timestep: int64 [1], or per latent frame float32 [1, T] = (1 - w) t.
  auto timestep_input = [&](int64_t timestep) {
    const auto opts = torch::TensorOptions().device(noise.device());
    if (!c.known_at_t0) return torch::full({1}, timestep, opts.dtype(torch::kInt64));
    return ((1 - c.known_weight.to(noise.device(), torch::kFloat32)) * static_cast<float>(timestep)).unsqueeze(0);
  };

  for (int i = first; i < n; ++i) {
    check_cancel(hooks);
    const auto t_step = Clock::now();
    StepInfo info;
    info.step = i;
    info.first_step = first;
    info.total_steps = n;
    info.timestep = sampler.timesteps()[static_cast<size_t>(i)];
    latent = impose(latent, i);
    const std::string p = "step" + std::to_string(i) + ".";
    dump(p + "latent_in", latent);

    torch::Tensor v;
    if (hooks.cached_velocity) v = hooks.cached_velocity(info, latent);
    if (!v.defined()) {
      const Expert& e = expert_for(experts, info.timestep);
      info.expert = static_cast<int>(&e - experts.data());
      info.guidance = e.guidance;
      auto t = timestep_input(info.timestep);  // [1] or [1, T]
      if (c.known_at_t0) dump(p + "t_frames", t[0]);
      // [1, C (+ C'), T, h, w]: W22 WanModel.forward concatenates y after x (torch.cat([u, v])).
      auto x = (concat.defined() ? torch::cat({latent, concat}, 0) : latent).unsqueeze(0);
      auto v_cond = e.denoiser->velocity(x, t, 0)[0].to(torch::kFloat32);
      auto v_uncond = e.denoiser->velocity(x, t, 1)[0].to(torch::kFloat32);
      v = v_uncond + e.guidance * (v_cond - v_uncond);
      dump(p + "noise_pred_cond", v_cond);
      dump(p + "noise_pred_uncond", v_uncond);
    }
    dump(p + "noise_pred", v);
    if (hooks.after_velocity) hooks.after_velocity(info, latent, v);
    latent = sampler.step(v, i, latent);
    dump(p + "x0_pred", sampler.last_x0());
    dump(p + "latent_out", latent);
    info.seconds = std::chrono::duration<double>(Clock::now() - t_step).count();
    if (hooks.progress) hooks.progress(info);
  }
  if (known.defined()) latent = weight * known + (1 - weight) * latent;
  return latent;
}

}  // namespace t2v::diffusion
