// dpm++: Wan2.1 wan/utils/fm_solvers.py::FlowDPMSolverMultistepScheduler as WanT2V.generate uses it
// with sample_solver='dpm++': FlowDPMSolverMultistepScheduler(num_train_timesteps=1000, shift=1,
// use_dynamic_shifting=False), sigmas = get_sampling_sigmas(N, shift) passed through
// retrieve_timesteps(sigmas=...) (see wan_dpm_sigmas). Defaults: solver_order=2,
// algorithm_type="dpmsolver++", solver_type="midpoint", lower_order_final=True,
// euler_at_final=False, final_sigmas_type="zero". Only that configuration is implemented.
//
// Per step i (step()): x0_i = x_i - sigma_i v (convert_model_output); first order at the first step
// (lower_order_nums < 1) and at the last step (final_sigmas_type "zero" forces lower_order_final),
// second-order midpoint otherwise:
//   first:  x_t = (sigma_t/sigma_s) x - alpha_t (e^{-h} - 1) x0_i   (= Euler x + (sigma_t - sigma_s) v)
//   second: x_t = (sigma_t/sigma_s0) x - alpha_t (e^{-h} - 1) D0 - 0.5 alpha_t (e^{-h} - 1) D1,
//           D0 = x0_i, D1 = (1/r0)(x0_i - x0_{i-1}), r0 = (lambda_s0 - lambda_s1)/h.
// Scalars are 0-d float32 CPU tensors, in the reference's operation order. The infinite log-SNRs
// of the grid's ends are special-cased instead of relying on inf arithmetic; each case gives what
// the reference's IEEE arithmetic gives:
//   sigma_t = 0 (last step): lambda_t = +inf, the update is exactly x0_{N-1};
//   sigma_s = 1 (first step, the grid starts at exactly 1): lambda_s = -inf, e^{-h} = 0;
//   sigma_s1 = 1 (second step): h_0 = +inf, 1/r0 = 0, so D1 = 0 and the second step is in effect
//   first order.
#include <algorithm>

#include "sampling/samplers_impl.h"

namespace t2v::sampling {
namespace {

constexpr int kSolverOrder = 2;


bool is_one(const torch::Tensor& sigma) { return sigma.item<float>() == 1.0f; }

class FlowDPMSampler final : public Sampler {
 public:
  std::string name() const override { return "dpm++"; }

 protected:
  SigmaSchedule build_schedule(int steps, double shift) const override { return wan_dpm_sigmas(steps, shift); }

  void reset_history() override {
    m_prev_ = torch::Tensor();
    lower_order_nums_ = 0;
  }

  torch::Tensor step_impl(const torch::Tensor& v, int64_t i, const torch::Tensor& sample) override {
    const bool lower_order_final = i == num_steps() - 1;  // final_sigmas_type "zero"
    auto x0 = sample - sigma_at(i) * v;                   // convert_model_output
    auto m1 = m_prev_;
    m_prev_ = x0;

    // step(): "Upcast to avoid precision issues", then cast back to the converted output's dtype.
    auto x = sample.to(torch::kFloat32);
    torch::Tensor prev;
    int order;
    if (lower_order_nums_ < 1 || lower_order_final) {
      prev = first_order(x0, i, x);
      order = 1;
    } else {
      prev = second_order_midpoint(x0, m1, i, x);
      order = 2;
    }
    lower_order_nums_ = std::min(lower_order_nums_ + 1, kSolverOrder);
    record(x0, order);
    return prev.to(x0.scalar_type());
  }

 private:
  // dpm_solver_first_order_update, dpmsolver++.
  torch::Tensor first_order(const torch::Tensor& m0, int64_t i, const torch::Tensor& x) const {
    auto sigma_t = sigma_at(i + 1);
    auto sigma_s = sigma_at(i);
    if (sigma_t.item<float>() == 0.0f) return m0;  // lambda_t = +inf: (0/sigma_s) x + m0
    auto alpha_t = 1 - sigma_t;
    torch::Tensor exp_neg_h;
    if (is_one(sigma_s)) {
      exp_neg_h = torch::zeros({}, torch::kFloat32);  // lambda_s = -inf, h = +inf
    } else {
      auto h = log_snr(sigma_t) - log_snr(sigma_s);
      exp_neg_h = torch::exp(-h);
    }
    return (sigma_t / sigma_s) * x - (alpha_t * (exp_neg_h - 1.0)) * m0;
  }

  // multistep_dpm_solver_second_order_update, dpmsolver++ midpoint. Never the last step.
  torch::Tensor second_order_midpoint(const torch::Tensor& m0, const torch::Tensor& m1, int64_t i,
                                      const torch::Tensor& x) const {
    auto sigma_t = sigma_at(i + 1);
    auto sigma_s0 = sigma_at(i);
    auto sigma_s1 = sigma_at(i - 1);
    auto alpha_t = 1 - sigma_t;
    auto lambda_t = log_snr(sigma_t);
    auto lambda_s0 = log_snr(sigma_s0);
    auto h = lambda_t - lambda_s0;
    auto a = alpha_t * (torch::exp(-h) - 1.0);
    auto x_t = (sigma_t / sigma_s0) * x - a * m0;
    if (is_one(sigma_s1)) return x_t;  // r0 = +inf: D1 = 0, no midpoint term
    auto h_0 = lambda_s0 - log_snr(sigma_s1);
    auto r0 = h_0 / h;
    auto d1 = (1.0 / r0) * (m0 - m1);
    return x_t - (0.5 * a) * d1;
  }

  torch::Tensor m_prev_;  // model_outputs[-2] at the next step: x0 of the previous step
  int lower_order_nums_ = 0;
};

}  // namespace

std::unique_ptr<Sampler> make_flow_dpm_sampler() { return std::make_unique<FlowDPMSampler>(); }

}  // namespace t2v::sampling
