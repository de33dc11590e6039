// Sampler base class (argument checks, step order, grid) and the factory.
#include "t2v/sampling/sampler.h"

#include <algorithm>
#include <sstream>

#include "sampling/samplers_impl.h"
#include "t2v/error.h"

namespace t2v::sampling {

void Sampler::set_timesteps(int steps, double shift) {
  schedule_ = build_schedule(steps, shift);
  next_index_ = 0;
  begin_index_ = 0;
  last_x0_ = torch::Tensor();
  last_order_ = 0;
  reset_history();
}

torch::Tensor Sampler::step(const torch::Tensor& model_output, int64_t step_index, const torch::Tensor& sample) {
  const int64_t n = num_steps();
  if (n == 0) throw Error(name() + " sampler: step() called before set_timesteps()");
  if (step_index < 0 || step_index >= n) {
    std::ostringstream os;
    os << name() << " sampler: step index " << step_index << " out of range [0, " << n << ")";
    throw Error(os.str());
  }
  if (is_multistep() && step_index != next_index_) {
    std::ostringstream os;
    os << name() << " sampler: steps must run in order 0.." << n - 1 << ": expected step " << next_index_
       << ", got " << step_index << " (call set_timesteps() to start over)";
    throw Error(os.str());
  }
  if (!model_output.defined() || !sample.defined() || model_output.sizes() != sample.sizes()) {
    std::ostringstream os;
    os << name() << " sampler: model output shape ";
    if (model_output.defined()) os << model_output.sizes(); else os << "(undefined)";
    os << " does not match sample shape ";
    if (sample.defined()) os << sample.sizes(); else os << "(undefined)";
    throw Error(os.str());
  }
  if (!model_output.is_floating_point() || !sample.is_floating_point())
    throw Error(name() + " sampler: model output and sample must be floating-point tensors");
  if (model_output.device() != sample.device())
    throw Error(name() + " sampler: model output and sample are on different devices");
  auto out = step_impl(model_output, step_index, sample);
  next_index_ = step_index + 1;
  return out;
}

void Sampler::begin_at(int64_t step_index) {
  const int64_t n = num_steps();
  if (n == 0) throw Error(name() + " sampler: begin_at() called before set_timesteps()");
  if (step_index < 0 || step_index > n) {
    std::ostringstream os;
    os << name() << " sampler: begin step " << step_index << " out of range [0, " << n << "]";
    throw Error(os.str());
  }
  reset_history();
  last_x0_ = torch::Tensor();
  last_order_ = 0;
  next_index_ = step_index;
  begin_index_ = step_index;
}

torch::Tensor Sampler::add_noise(const torch::Tensor& x0, const torch::Tensor& noise, int64_t step_index) const {
  const int64_t n = num_steps();
  if (n == 0) throw Error(name() + " sampler: add_noise() called before set_timesteps()");
  if (step_index < 0 || step_index > n) {
    std::ostringstream os;
    os << name() << " sampler: add_noise step " << step_index << " out of range [0, " << n << "]";
    throw Error(os.str());
  }
  if (!x0.defined() || !noise.defined() || x0.sizes() != noise.sizes()) {
    std::ostringstream os;
    os << name() << " sampler: add_noise sample and noise shapes differ";
    throw Error(os.str());
  }
  // The 0-d fp32 sigma broadcasts over the sample (the reference's `sigma * noise + (1 - sigma) * sample`).
  const auto sigma = sigma_at(step_index).to(x0.device());
  return (sigma * noise + (1 - sigma) * x0).to(x0.scalar_type());
}

int first_step_for_strength(int steps, double strength) {
  if (!(strength >= 0.0 && strength <= 1.0)) {
    std::ostringstream os;
    os << "strength must be in [0, 1], got " << strength;
    throw UsageError(os.str());
  }
  // Python's int() truncates toward zero; steps * strength is non-negative here.
  const int init = std::min(static_cast<int>(static_cast<double>(steps) * strength), steps);
  return std::max(steps - init, 0);
}

const std::vector<std::string>& sampler_names() {
  static const std::vector<std::string> names = {"unipc", "dpm++", "euler"};
  return names;
}

std::unique_ptr<Sampler> make_sampler(const std::string& name) {
  if (name == "unipc") return make_flow_unipc_sampler();
  if (name == "dpm++") return make_flow_dpm_sampler();
  if (name == "euler") return make_flow_euler_sampler();
  std::ostringstream os;
  os << "unknown sampler '" << name << "'; valid choices: ";
  for (size_t i = 0; i < sampler_names().size(); ++i) os << (i ? ", " : "") << sampler_names()[i];
  throw UsageError(os.str());
}

}  // namespace t2v::sampling
