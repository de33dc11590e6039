// Sigma/timestep grids against the official FlowUniPCMultistepScheduler tables
// (cases/scheduler.safetensors `table.stepsN_shiftS.*`, made by Wan2.1 fm_solvers_unipc.py), and the
// documented relations between the official, dpm++ and diffusers grids.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "support/golden.h"
#include "t2v/error.h"
#include "t2v/sampling/sampler.h"
#include "t2v/sampling/sigmas.h"

namespace t2v::sampling {
namespace {

using test::all_equal;
using test::load_case_tensor;
using test::matches_golden;

const char* kFile = "scheduler.safetensors";

torch::Tensor as_tensor(const std::vector<int64_t>& v) { return torch::tensor(v, torch::kInt64); }

struct Table {
  int steps;
  double shift;
  const char* key;
};

class SigmaTableTest : public ::testing::TestWithParam<Table> {};

TEST_P(SigmaTableTest, OfficialGridMatchesReference) {
  const auto& t = GetParam();
  const std::string prefix = std::string("table.") + t.key;
  auto s = wan_flow_sigmas(t.steps, t.shift);
  ASSERT_EQ(s.sigmas.scalar_type(), torch::kFloat32);
  ASSERT_EQ(s.sigmas.numel(), t.steps + 1);
  EXPECT_EQ(s.sigmas[t.steps].item<float>(), 0.0f);
  EXPECT_TRUE(matches_golden(s.sigmas, kFile, prefix + ".sigmas"));
  EXPECT_TRUE(matches_golden(as_tensor(s.timesteps), kFile, prefix + ".timesteps"));
  // The bits, not just the tolerance: the reference casts the same float64 values to float32.
  EXPECT_TRUE(torch::equal(s.sigmas, load_case_tensor(kFile, prefix + ".sigmas")));

  // The unipc and euler samplers expose this very grid.
  for (const char* name : {"unipc", "euler"}) {
    auto sampler = make_sampler(name);
    sampler->set_timesteps(t.steps, t.shift);
    EXPECT_TRUE(torch::equal(sampler->sigmas(), s.sigmas)) << name;
    EXPECT_EQ(sampler->timesteps(), s.timesteps) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(Tables, SigmaTableTest,
                         ::testing::Values(Table{4, 5.0, "steps4_shift5"}, Table{10, 3.0, "steps10_shift3"},
                                           Table{50, 5.0, "steps50_shift5"}));

TEST(SigmaGrid, SpecExamples) {
  // wan-architecture.md §4.1, computed from the formulas.
  auto a = wan_flow_sigmas(50, 5.0);
  const std::vector<int64_t> head50 = {999, 995, 991, 987, 982, 978};
  const std::vector<int64_t> tail50 = {405, 356, 302, 241, 172, 92};
  EXPECT_EQ(std::vector<int64_t>(a.timesteps.begin(), a.timesteps.begin() + 6), head50);
  EXPECT_EQ(std::vector<int64_t>(a.timesteps.end() - 6, a.timesteps.end()), tail50);
  EXPECT_NEAR(a.sigmas[0].item<float>(), 0.99979985f, 1e-7);
  auto b = wan_flow_sigmas(40, 12.0);
  const std::vector<int64_t> head40 = {999, 997, 995, 993, 990, 988};
  const std::vector<int64_t> tail40 = {678, 631, 571, 492, 386, 235};
  EXPECT_EQ(std::vector<int64_t>(b.timesteps.begin(), b.timesteps.begin() + 6), head40);
  EXPECT_EQ(std::vector<int64_t>(b.timesteps.end() - 6, b.timesteps.end()), tail40);
}

TEST(SigmaGrid, SigmaMaxIsFloat32Of0999) {
  EXPECT_EQ(wan_sigma_max(), 0.9990000128746033);
  // Unshifted (shift 1) grid: s_k = sigma_max * (1 - k/N) up to float64 rounding.
  auto s = wan_flow_sigmas(8, 1.0);
  for (int k = 0; k < 8; ++k) EXPECT_NEAR(s.sigmas64[k], wan_sigma_max() * (1.0 - k / 8.0), 1e-15);
}

TEST(SigmaGrid, DiffusersGridIsNotOfficial) {
  // diffusers: 1 - 0.999 k/N before the shift (0.001 above the official grid), the leading 1 nudged.
  for (double shift : {1.0, 3.0, 5.0}) {
    auto d = diffusers_flow_sigmas(50, shift);
    EXPECT_DOUBLE_EQ(d.sigmas64[0], 1.0 - 1e-6) << shift;
    EXPECT_EQ(d.timesteps[0], 999);
    for (int k = 1; k < 50; ++k) EXPECT_NEAR(d.sigmas64[k], shift_sigma(1.0 - 0.999 * k / 50.0, shift), 1e-12);
  }
  // Spec example N=50 shift 5: tail 407, 359, 305, 244, 175, 96 (official: 405, 356, 302, 241, 172, 92).
  auto d = diffusers_flow_sigmas(50, 5.0);
  const std::vector<int64_t> tail = {407, 359, 305, 244, 175, 96};
  EXPECT_EQ(std::vector<int64_t>(d.timesteps.end() - 6, d.timesteps.end()), tail);
  EXPECT_FALSE(torch::equal(d.sigmas, wan_flow_sigmas(50, 5.0).sigmas));
}

TEST(SigmaGrid, DpmGridStartsAtOne) {
  // get_sampling_sigmas(N, shift): linspace(1, 0, N+1)[:N], shifted; the shift keeps 1 at 1.
  for (int n : {1, 4, 20, 50}) {
    auto d = wan_dpm_sigmas(n, 5.0);
    EXPECT_EQ(d.sigmas64[0], 1.0);
    EXPECT_EQ(d.timesteps[0], 1000);
    EXPECT_EQ(d.sigmas[n].item<float>(), 0.0f);
    for (int k = 0; k < n; ++k) {
      EXPECT_NEAR(d.sigmas64[k], shift_sigma(1.0 - static_cast<double>(k) / n, 5.0), 1e-15);
      EXPECT_EQ(d.timesteps[k], static_cast<int64_t>(d.sigmas64[k] * 1000.0));
    }
  }
}

TEST(SigmaGrid, ShiftFormula) {
  EXPECT_DOUBLE_EQ(shift_sigma(0.5, 5.0), 2.5 / 3.0);
  EXPECT_DOUBLE_EQ(shift_sigma(0.25, 3.0), 0.75 / 1.5);
  EXPECT_EQ(shift_sigma(0.3, 1.0), 0.3);
}

TEST(SigmaGrid, RejectsBadArguments) {
  EXPECT_THROW(wan_flow_sigmas(0, 5.0), UsageError);
  EXPECT_THROW(wan_dpm_sigmas(-3, 5.0), UsageError);
  EXPECT_THROW(diffusers_flow_sigmas(10, 0.0), UsageError);
  EXPECT_THROW(wan_flow_sigmas(10, -1.0), UsageError);
  EXPECT_THROW(wan_flow_sigmas(10, std::nan("")), UsageError);
}

}  // namespace
}  // namespace t2v::sampling
