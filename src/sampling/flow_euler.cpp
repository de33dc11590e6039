// euler: flow-matching Euler, x_{i+1} = x_i + (sigma_{i+1} - sigma_i) v (the update of diffusers'
// FlowMatchEulerDiscreteScheduler.step, used by some Wan ports). Not an official Wan solver.
// Grid: the official FlowUniPC grid (wan_flow_sigmas: linspace(fp32(0.999), 0, N+1)[:-1], shifted),
// so the model sees the same integer timesteps as with "unipc" and the last step lands on sigma 0,
// where the update equals the x0 prediction up to rounding.
#include "sampling/samplers_impl.h"

namespace t2v::sampling {
namespace {

class FlowEulerSampler final : public Sampler {
 public:
  std::string name() const override { return "euler"; }

 protected:
  SigmaSchedule build_schedule(int steps, double shift) const override { return wan_flow_sigmas(steps, shift); }
  bool is_multistep() const override { return false; }  // stateless: any step order is fine

  torch::Tensor step_impl(const torch::Tensor& v, int64_t i, const torch::Tensor& sample) override {
    auto sigma = sigma_at(i);
    auto dt = sigma_at(i + 1) - sigma;  // float32 0-d, as the fp32 sigmas give it
    record(sample - sigma * v, 1);
    return (sample + dt * v).to(sample.scalar_type());
  }
};

}  // namespace

std::unique_ptr<Sampler> make_flow_euler_sampler() { return std::make_unique<FlowEulerSampler>(); }

}  // namespace t2v::sampling
