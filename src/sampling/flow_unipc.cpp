// FlowUniPC: Wan2.1 wan/utils/fm_solvers_unipc.py::FlowUniPCMultistepScheduler as WanT2V.generate
// uses it: FlowUniPCMultistepScheduler(num_train_timesteps=1000, shift=1, use_dynamic_shifting=False)
// then set_timesteps(N, shift=shift); defaults solver_order=2, prediction_type="flow_prediction",
// predict_x0=True, solver_type="bh2", lower_order_final=True, disable_corrector=[],
// final_sigmas_type="zero". Only that configuration is implemented.
//
// Per step i (step()):
//   x0_i = x_i - sigma_i v                                  (convert_model_output, on the INCOMING x_i)
//   i > 0: x_i <- UniC(x0_i, last_sample, order of step i-1) (multistep_uni_c_bh_update)
//   history <- x0_i (the uncorrected-sample x0), last_sample <- corrected x_i
//   order_i = min(2, N - i, lower_order_nums + 1)          (lower_order_final + warm-up)
//   x_{i+1} = UniP(x_i, order_i)                             (multistep_uni_p_bh_update)
// Scalars are 0-d float32 CPU tensors computed with the same torch ops in the same order as the
// reference, so the coefficients agree to the bit. Deliberate difference: the last step (sigma_N =
// 0, lambda = +inf) is special-cased to return x0_{N-1}, which is what the reference's inf
// arithmetic yields exactly (sigma_N/sigma_{N-1} = 0, expm1(-inf) = -1, order 1).
// Not reproduced: under CUDA autocast the reference's order-2 einsum may run in bf16 (see
// wan-architecture.md §4.1); the golden fixtures were made on the CPU without that effect.
#include <algorithm>

#include "sampling/samplers_impl.h"

namespace t2v::sampling {
namespace {

constexpr int kSolverOrder = 2;

// lambda(sigma) = log(alpha) - log(sigma), alpha = 1 - sigma (_sigma_to_alpha_sigma_t).

class FlowUniPCSampler final : public Sampler {
 public:
  std::string name() const override { return "unipc"; }

 protected:
  SigmaSchedule build_schedule(int steps, double shift) const override { return wan_flow_sigmas(steps, shift); }

  void reset_history() override {
    m_prev_ = torch::Tensor();
    m_prev2_ = torch::Tensor();
    last_sample_ = torch::Tensor();
    this_order_ = 0;
    lower_order_nums_ = 0;
  }

  torch::Tensor step_impl(const torch::Tensor& v, int64_t i, const torch::Tensor& sample) override {
    // convert_model_output: x0 from the sample as it arrived (before the corrector).
    auto x0 = sample - sigma_at(i) * v;

    // step(): corrector from the second step on (disable_corrector is empty).
    auto x = sample;
    if (i > 0 && last_sample_.defined()) x = corrector(x0, i);

    // model_outputs shift by one; the new entry is the uncorrected-sample x0.
    m_prev2_ = m_prev_;
    m_prev_ = x0;

    const int64_t n = num_steps();
    const int order = static_cast<int>(std::min<int64_t>({kSolverOrder, n - i, lower_order_nums_ + 1}));
    this_order_ = order;
    last_sample_ = x;  // the CORRECTED sample: the next corrector starts from it

    auto prev = predictor(x, i, order);
    lower_order_nums_ = std::min(lower_order_nums_ + 1, kSolverOrder);
    record(x0, order);
    return prev;
  }

 private:
  // multistep_uni_p_bh_update (predict_x0, bh2) from the corrected x_i at sigma_i to sigma_{i+1}.
  torch::Tensor predictor(const torch::Tensor& x, int64_t i, int order) const {
    const auto& m0 = m_prev_;
    auto sigma_t = sigma_at(i + 1);
    if (sigma_t.item<float>() == 0.0f) {
      // final_sigmas_type "zero": lambda_t = +inf, so sigma_t/sigma_s0 * x = 0 and
      // h_phi_1 = expm1(-inf) = -1; with order 1 (lower_order_final) the update is exactly m0.
      return m0.to(x.scalar_type());
    }
    auto sigma_s0 = sigma_at(i);
    auto alpha_t = 1 - sigma_t;
    auto lambda_t = log_snr(sigma_t);
    auto lambda_s0 = log_snr(sigma_s0);
    auto h = lambda_t - lambda_s0;
    auto hh = -h;
    auto h_phi_1 = torch::expm1(hh);
    auto b_h = torch::expm1(hh);  // bh2

    auto x_t = (sigma_t / sigma_s0) * x - (alpha_t * h_phi_1) * m0;
    if (order == 2) {
      // One extra point: rk = (lambda_{s1} - lambda_{s0}) / h, D1 = (m1 - m0) / rk, and the
      // reference fixes rhos_p = [0.5] for order 2 (no linear solve).
      auto lambda_s1 = log_snr(sigma_at(i - 1));
      auto rk = (lambda_s1 - lambda_s0) / h;
      auto d1 = (m_prev2_ - m0) / rk;
      auto pred_res = 0.5 * d1;  // einsum("k,bkc...->bc...", [0.5], D1s) with K = 1
      x_t = x_t - (alpha_t * b_h) * pred_res;
    }
    // order 1: pred_res = 0, x_t is the first-order (Euler) update.
    return x_t.to(x.scalar_type());
  }

  // multistep_uni_c_bh_update (predict_x0, bh2): corrects the incoming x_i using its x0 (model_t),
  // the previous corrected sample (last_sample_) and the x0 history, with the previous step's order.
  torch::Tensor corrector(const torch::Tensor& model_t, int64_t i) const {
    const auto& m0 = m_prev_;
    const auto& x = last_sample_;
    const int order = this_order_;
    auto sigma_t = sigma_at(i);
    auto sigma_s0 = sigma_at(i - 1);
    auto alpha_t = 1 - sigma_t;
    auto lambda_t = log_snr(sigma_t);
    auto lambda_s0 = log_snr(sigma_s0);
    auto h = lambda_t - lambda_s0;
    auto hh = -h;
    auto h_phi_1 = torch::expm1(hh);
    auto b_h = torch::expm1(hh);  // bh2

    auto x_t = (sigma_t / sigma_s0) * x - (alpha_t * h_phi_1) * m0;
    auto d1_t = model_t - m0;
    torch::Tensor corr;
    if (order == 1) {
      // "for order 1, we use a simplified version": rhos_c = [0.5], no history term.
      corr = 0.5 * d1_t;
    } else {
      // rks = [rk, 1]; R = [[1, 1], [rk, 1]]; b_k = h_phi_k * k! / B_h with
      // h_phi_1' = h_phi_1/hh - 1 and h_phi_2' = h_phi_1'/hh - 1/2; rhos_c = solve(R, b) in float32.
      auto lambda_s1 = log_snr(sigma_at(i - 2));
      auto rk = (lambda_s1 - lambda_s0) / h;
      auto d1 = (m_prev2_ - m0) / rk;
      auto h_phi_k = h_phi_1 / hh - 1;
      auto b0 = (h_phi_k * 1) / b_h;
      h_phi_k = h_phi_k / hh - 0.5;
      auto b1 = (h_phi_k * 2) / b_h;
      auto rks = torch::stack({rk, torch::tensor(1.0f)});
      auto r = torch::stack({torch::pow(rks, 0), torch::pow(rks, 1)});
      auto b = torch::stack({b0, b1});
      // The reference solves on the sample's device; on the CPU (where the fixtures were made) this
      // is the same LAPACK call. Kept on the CPU here so the rhos never depend on the device.
      auto rhos_c = torch::linalg_solve(r, b);
      corr = rhos_c[0] * d1 + rhos_c[1] * d1_t;  // einsum(rhos_c[:-1], D1s) + rhos_c[-1] * D1_t
    }
    return (x_t - (alpha_t * b_h) * corr).to(x.scalar_type());
  }

  torch::Tensor m_prev_;       // model_outputs[-1]: x0 of the previous step
  torch::Tensor m_prev2_;      // model_outputs[-2]: x0 of the step before
  torch::Tensor last_sample_;  // the (corrected) sample the last predictor started from
  int this_order_ = 0;         // predictor order of the last step = corrector order of the next
  int lower_order_nums_ = 0;
};

}  // namespace

std::unique_ptr<Sampler> make_flow_unipc_sampler() { return std::make_unique<FlowUniPCSampler>(); }

}  // namespace t2v::sampling
