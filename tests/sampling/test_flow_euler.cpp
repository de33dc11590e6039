// Flow Euler: closed-form checks, and the exact straight-line flow that every sampler must
// integrate exactly (x = sigma*eps + (1-sigma)*d, v = eps - d => x0 = d at every step).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "support/golden.h"
#include "t2v/sampling/sampler.h"

namespace t2v::sampling {
namespace {

using test::all_close;

TEST(FlowEuler, EachStepIsXPlusDtV) {
  auto s = make_sampler("euler");
  s->set_timesteps(8, 5.0);
  EXPECT_EQ(s->timesteps(), wan_flow_sigmas(8, 5.0).timesteps);  // official UniPC grid
  torch::manual_seed(7);
  auto x = torch::randn({4, 3, 5});
  for (int i = 0; i < 8; ++i) {
    auto v = torch::randn({4, 3, 5});
    const double si = s->sigmas()[i].item<double>(), sn = s->sigmas()[i + 1].item<double>();
    auto expected = x.to(torch::kFloat64) + (sn - si) * v.to(torch::kFloat64);
    auto out = s->step(v, i, x);
    EXPECT_TRUE(all_close(out, expected, 1e-6)) << "step " << i;
    EXPECT_TRUE(all_close(s->last_x0(), x.to(torch::kFloat64) - si * v.to(torch::kFloat64), 1e-6));
    EXPECT_EQ(s->last_order(), 1);
    x = out;
  }
}

TEST(FlowEuler, ConstantVelocityTelescopes) {
  // sum of (sigma_{i+1} - sigma_i) = -sigma_0, so x_N = x_0 - sigma_0 v.
  auto s = make_sampler("euler");
  s->set_timesteps(20, 3.0);
  torch::manual_seed(8);
  auto x0 = torch::randn({16, 2, 3});
  auto v = torch::randn({16, 2, 3});
  auto x = x0;
  for (int i = 0; i < 20; ++i) x = s->step(v, i, x);
  const double sigma0 = s->sigmas()[0].item<double>();
  EXPECT_TRUE(all_close(x, x0.to(torch::kFloat64) - sigma0 * v.to(torch::kFloat64), 1e-5));
}

TEST(FlowEuler, StatelessAnyStepOrder) {
  auto s = make_sampler("euler");
  s->set_timesteps(4, 5.0);
  auto x = torch::ones({2, 2});
  auto v = torch::full({2, 2}, 2.0);
  auto a = s->step(v, 2, x);
  auto b = s->step(v, 0, x);
  auto c = s->step(v, 2, x);
  EXPECT_TRUE(torch::equal(a, c));
  EXPECT_FALSE(torch::equal(a, b));
}

class StraightLineFlow : public ::testing::TestWithParam<const char*> {};

TEST_P(StraightLineFlow, EverySamplerLandsOnTheData) {
  auto s = make_sampler(GetParam());
  for (int steps : {1, 2, 3, 10}) {
    s->set_timesteps(steps, 5.0);
    torch::manual_seed(9);
    auto eps = torch::randn({2, 4, 3});
    auto d = torch::randn({2, 4, 3});
    const double s0 = s->sigmas()[0].item<double>();
    auto x = (s0 * eps.to(torch::kFloat64) + (1.0 - s0) * d.to(torch::kFloat64)).to(torch::kFloat32);
    auto v = eps - d;
    for (int i = 0; i < steps; ++i) {
      x = s->step(v, i, x);
      EXPECT_TRUE(all_close(s->last_x0(), d, 1e-5)) << GetParam() << " N=" << steps << " step " << i;
    }
    EXPECT_TRUE(all_close(x, d, 1e-5)) << GetParam() << " N=" << steps;
  }
}

INSTANTIATE_TEST_SUITE_P(Samplers, StraightLineFlow, ::testing::Values("unipc", "dpm++", "euler"));

}  // namespace
}  // namespace t2v::sampling
