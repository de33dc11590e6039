// dpm++ (Wan2.1 FlowDPMSolverMultistepScheduler, dpmsolver++ midpoint). No fixture exists, so the
// checks are: the first step is the Euler step, the last step returns x0, the grid starts at sigma
// 1 / timestep 1000, and a second-order step equals the midpoint formula evaluated in float64 by
// hand from the same inputs (the reference computes it in float32: differences ~1e-7 relative).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "support/golden.h"
#include "t2v/sampling/sampler.h"

namespace t2v::sampling {
namespace {

using test::all_close;

double sig(const Sampler& s, int i) { return s.sigmas()[i].item<double>(); }
double lambda(double sigma) { return std::log(1.0 - sigma) - std::log(sigma); }
torch::Tensor f64(const torch::Tensor& t) { return t.to(torch::kFloat64); }

struct Run {
  std::vector<torch::Tensor> x;  // x[i]: sample given to step i (x[N] = result)
  std::vector<torch::Tensor> v;
  std::vector<int> orders;
};

Run run(Sampler& s, int steps, double shift, uint64_t seed) {
  torch::manual_seed(seed);
  s.set_timesteps(steps, shift);
  Run r;
  r.x.push_back(torch::randn({2, 3, 4, 5}));
  for (int i = 0; i < steps; ++i) {
    // Velocities that change from step to step, so that the second-order term matters.
    r.v.push_back(torch::randn({2, 3, 4, 5}) * (1.0 + 0.5 * i));
    r.x.push_back(s.step(r.v[i], i, r.x[i]));
    r.orders.push_back(s.last_order());
  }
  return r;
}

TEST(FlowDPM, GridStartsAtSigmaOneAndTimestep1000) {
  auto s = make_sampler("dpm++");
  s->set_timesteps(10, 5.0);
  EXPECT_EQ(s->timesteps().front(), 1000);
  EXPECT_EQ(s->sigmas()[0].item<float>(), 1.0f);
  EXPECT_EQ(s->sigmas()[10].item<float>(), 0.0f);
  EXPECT_EQ(s->timesteps(), wan_dpm_sigmas(10, 5.0).timesteps);
}

TEST(FlowDPM, FirstStepIsEuler) {
  auto s = make_sampler("dpm++");
  auto r = run(*s, 6, 3.0, 1);
  auto euler = f64(r.x[0]) + (sig(*s, 1) - sig(*s, 0)) * f64(r.v[0]);
  EXPECT_TRUE(all_close(r.x[1], euler, 2e-6));
  EXPECT_EQ(r.orders.front(), 1);
}

TEST(FlowDPM, LastStepReturnsX0) {
  auto s = make_sampler("dpm++");
  s->set_timesteps(6, 3.0);
  torch::manual_seed(2);
  auto x = torch::randn({3, 4});
  torch::Tensor v, out;
  for (int i = 0; i < 6; ++i) {
    v = torch::randn({3, 4});
    auto in = x;
    x = s->step(v, i, x);
    if (i == 5) EXPECT_TRUE(torch::equal(s->last_x0(), in - s->sigmas()[5] * v));
  }
  EXPECT_TRUE(torch::equal(x, s->last_x0()));
  EXPECT_EQ(s->last_order(), 1);
}

TEST(FlowDPM, OrdersFirstAndLastAreFirstOrder) {
  auto s = make_sampler("dpm++");
  EXPECT_EQ(run(*s, 6, 3.0, 3).orders, (std::vector<int>{1, 2, 2, 2, 2, 1}));
  EXPECT_EQ(run(*s, 2, 3.0, 3).orders, (std::vector<int>{1, 1}));
  EXPECT_EQ(run(*s, 1, 3.0, 3).orders, (std::vector<int>{1}));
}

TEST(FlowDPM, SecondOrderMidpointStepMatchesFloat64) {
  auto s = make_sampler("dpm++");
  auto r = run(*s, 6, 3.0, 4);
  for (int i = 2; i <= 4; ++i) {
    const double st = sig(*s, i + 1), s0 = sig(*s, i), s1 = sig(*s, i - 1);
    const double h = lambda(st) - lambda(s0);
    const double r0 = (lambda(s0) - lambda(s1)) / h;
    const double a = (1.0 - st) * (std::exp(-h) - 1.0);
    auto m0 = f64(r.x[i]) - s0 * f64(r.v[i]);
    auto m1 = f64(r.x[i - 1]) - s1 * f64(r.v[i - 1]);
    auto first = (st / s0) * f64(r.x[i]) - a * m0;
    auto midpoint = 0.5 * a * (m0 - m1) / r0;
    auto expected = first - midpoint;
    // Guard: the second-order term is far larger than the tolerance, so dropping it would fail.
    EXPECT_GT(midpoint.abs().max().item<double>(), 1e-2) << "step " << i;
    EXPECT_TRUE(all_close(r.x[i + 1], expected, 1e-5)) << "step " << i;
  }
}

TEST(FlowDPM, SecondStepAfterSigmaOneHasNoMidpointTerm) {
  // sigma_0 = 1 exactly: lambda_0 = -inf, r0 = +inf, D1 = 0 in the reference, so step 1 reduces to
  // the first-order update even though the second-order branch is taken.
  auto s = make_sampler("dpm++");
  auto r = run(*s, 6, 3.0, 5);
  const double st = sig(*s, 2), s0 = sig(*s, 1);
  const double h = lambda(st) - lambda(s0);
  auto m0 = f64(r.x[1]) - s0 * f64(r.v[1]);
  auto expected = (st / s0) * f64(r.x[1]) - (1.0 - st) * (std::exp(-h) - 1.0) * m0;
  EXPECT_TRUE(all_close(r.x[2], expected, 1e-5));
  EXPECT_EQ(r.orders[1], 2);
}

}  // namespace
}  // namespace t2v::sampling
