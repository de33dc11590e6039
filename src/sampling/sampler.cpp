// Sampler base class (argument checks, step order, grid) and the factory.
#include "t2v/sampling/sampler.h"

#include <sstream>

#include "sampling/samplers_impl.h"
#include "t2v/error.h"

namespace t2v::sampling {

void Sampler::set_timesteps(int steps, double shift) {
  schedule_ = build_schedule(steps, shift);
  next_index_ = 0;
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
