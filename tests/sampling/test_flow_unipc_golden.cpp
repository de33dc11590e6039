// FlowUniPC against the official Wan2.1 FlowUniPCMultistepScheduler:
//  * cases/scheduler.safetensors `rollout.*`: a fresh scheduler (4 steps, shift 5) stepped on
//    `rollout.sample` with `rollout.model_output{i}`; expected prev_sample, x0_pred, orders.
//  * cases/t2v_w96h64f9.safetensors: the scheduler part of a full WanT2V.generate run (4 steps,
//    shift 5): starting from step0.latent_in and fed stepI.noise_pred, expect stepI.latent_out and
//    stepI.x0_pred. The samples are chained through our own outputs, as the pipeline will.
// Tolerances come from tolerances.json (scheduler: 5e-6..1e-5; t2v: whole-pipeline budget); the
// sampler alone should be far below them, so the t2v rollout is also held to the scheduler's 1e-5.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <string>

#include "support/golden.h"
#include "t2v/sampling/sampler.h"

namespace t2v::sampling {
namespace {

using test::all_close;
using test::load_case_tensor;
using test::matches_golden;
using test::tolerance;

double max_abs(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

TEST(FlowUniPCGolden, SchedulerRollout) {
  const std::string file = "scheduler.safetensors";
  auto sampler = make_sampler("unipc");
  sampler->set_timesteps(4, 5.0);
  EXPECT_TRUE(matches_golden(sampler->sigmas(), file, "rollout.sigmas"));
  EXPECT_TRUE(matches_golden(torch::tensor(sampler->timesteps(), torch::kInt64), file, "rollout.timesteps"));

  auto x = load_case_tensor(file, "rollout.sample");
  std::vector<int64_t> orders;
  for (int i = 0; i < 4; ++i) {
    const std::string s = "rollout.step" + std::to_string(i);
    auto v = load_case_tensor(file, "rollout.model_output" + std::to_string(i));
    x = sampler->step(v, i, x);
    orders.push_back(sampler->last_order());
    EXPECT_TRUE(matches_golden(x, file, s + ".prev_sample")) << "step " << i;
    EXPECT_TRUE(matches_golden(sampler->last_x0(), file, s + ".x0_pred")) << "step " << i;
    std::printf("[ rollout  ] step %d: max|prev - ref| = %.3g, max|x0 - ref| = %.3g (atol %.0e)\n", i,
                max_abs(x, load_case_tensor(file, s + ".prev_sample")),
                max_abs(sampler->last_x0(), load_case_tensor(file, s + ".x0_pred")),
                tolerance(file, s + ".prev_sample"));
  }
  EXPECT_TRUE(matches_golden(torch::tensor(orders, torch::kInt64), file, "rollout.orders"));
  EXPECT_EQ(orders, (std::vector<int64_t>{1, 2, 2, 1}));
  // The last step returns the x0 prediction of the (uncorrected) incoming sample.
  EXPECT_TRUE(torch::equal(x, sampler->last_x0()));
}

TEST(FlowUniPCGolden, T2VRollout) {
  const std::string file = "t2v_w96h64f9.safetensors";
  auto sampler = make_sampler("unipc");
  sampler->set_timesteps(4, 5.0);
  EXPECT_TRUE(matches_golden(sampler->sigmas(), file, "sigmas"));
  EXPECT_TRUE(matches_golden(torch::tensor(sampler->timesteps(), torch::kInt64), file, "timesteps"));
  EXPECT_TRUE(matches_golden(torch::tensor(sampler->timesteps(), torch::kInt64), file, "step_timesteps"));

  auto x = load_case_tensor(file, "step0.latent_in");
  std::vector<int64_t> orders;
  const double sampler_atol = 1e-5;  // scheduler.safetensors' largest atol
  for (int i = 0; i < 4; ++i) {
    const std::string s = "step" + std::to_string(i);
    EXPECT_TRUE(matches_golden(x, file, s + ".latent_in")) << "step " << i;
    x = sampler->step(load_case_tensor(file, s + ".noise_pred"), i, x);
    orders.push_back(sampler->last_order());
    auto want = load_case_tensor(file, s + ".latent_out");
    auto want_x0 = load_case_tensor(file, s + ".x0_pred");
    EXPECT_TRUE(matches_golden(x, file, s + ".latent_out")) << "step " << i;
    EXPECT_TRUE(matches_golden(sampler->last_x0(), file, s + ".x0_pred")) << "step " << i;
    EXPECT_TRUE(all_close(x, want, sampler_atol)) << "step " << i;
    EXPECT_TRUE(all_close(sampler->last_x0(), want_x0, sampler_atol)) << "step " << i;
    std::printf("[ t2v      ] step %d: max|latent_out - ref| = %.3g, max|x0 - ref| = %.3g\n", i,
                max_abs(x, want), max_abs(sampler->last_x0(), want_x0));
  }
  EXPECT_TRUE(matches_golden(torch::tensor(orders, torch::kInt64), file, "orders"));
  EXPECT_TRUE(matches_golden(x, file, "latent_final"));
}

TEST(FlowUniPCGolden, SameResultForAnyLeadingShape) {
  // The reference steps [1, C, T, H, W]; the pipeline may pass [C, T, H, W]. Same numbers.
  const std::string file = "scheduler.safetensors";
  auto a = make_sampler("unipc");
  auto b = make_sampler("unipc");
  a->set_timesteps(4, 5.0);
  b->set_timesteps(4, 5.0);
  auto xa = load_case_tensor(file, "rollout.sample");
  auto xb = xa.squeeze(0);
  for (int i = 0; i < 4; ++i) {
    auto v = load_case_tensor(file, "rollout.model_output" + std::to_string(i));
    xa = a->step(v, i, xa);
    xb = b->step(v.squeeze(0), i, xb);
    EXPECT_TRUE(torch::equal(xa.squeeze(0), xb)) << "step " << i;
  }
}

}  // namespace
}  // namespace t2v::sampling
