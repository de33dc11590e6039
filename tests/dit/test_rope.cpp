// RoPE and timestep sinusoid against direct transcriptions of the reference formulas
// (W21 model.py rope_params / rope_apply with complex128 tables, sinusoidal_embedding_1d), for
// head dims other than the fixtures' 48.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "models/wan/condition_embedder.h"
#include "models/wan/rope.h"
#include "support/golden.h"

namespace t2v::test {
namespace {

// rope_params(1024, d): complex128 [1024, d/2].
torch::Tensor rope_params(int64_t max_len, int64_t d) {
  auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  auto freqs = torch::outer(torch::arange(max_len, f64), 1.0 / torch::pow(10000.0, torch::arange(0, d, 2, f64).div(d)));
  return torch::polar(torch::ones_like(freqs), freqs);
}

// rope_apply for one sample, the reference way: concatenated table split by [c-2(c//3), c//3, c//3].
torch::Tensor rope_apply_reference(const torch::Tensor& x, int64_t f, int64_t h, int64_t w) {
  const int64_t n = x.size(2), d = x.size(3), c = d / 2, len = f * h * w;
  auto freqs = torch::cat({rope_params(1024, d - 4 * (d / 6)), rope_params(1024, 2 * (d / 6)),
                           rope_params(1024, 2 * (d / 6))}, 1);
  auto parts = freqs.split_with_sizes({c - 2 * (c / 3), c / 3, c / 3}, 1);
  auto table = torch::cat({parts[0].narrow(0, 0, f).view({f, 1, 1, -1}).expand({f, h, w, -1}),
                           parts[1].narrow(0, 0, h).view({1, h, 1, -1}).expand({f, h, w, -1}),
                           parts[2].narrow(0, 0, w).view({1, 1, w, -1}).expand({f, h, w, -1})}, -1)
                   .reshape({len, 1, -1});
  auto xc = torch::view_as_complex(x[0].to(torch::kFloat64).reshape({len, n, -1, 2}).contiguous());
  return torch::view_as_real(xc * table).flatten(2).unsqueeze(0).to(torch::kFloat);
}

TEST(Rope, AxisSplit) {
  EXPECT_EQ(wan::rope_axis_dims(48), (std::array<int64_t, 3>{16, 16, 16}));
  EXPECT_EQ(wan::rope_axis_dims(128), (std::array<int64_t, 3>{44, 42, 42}));
  EXPECT_EQ(wan::rope_axis_dims(64), (std::array<int64_t, 3>{24, 20, 20}));
}

TEST(Rope, MatchesReferenceForSeveralHeadDims) {
  torch::manual_seed(1);
  for (int64_t d : {48, 64, 128, 80}) {
    for (auto grid : {std::array<int64_t, 3>{3, 4, 6}, std::array<int64_t, 3>{1, 7, 5}, std::array<int64_t, 3>{21, 2, 3}}) {
      const int64_t len = grid[0] * grid[1] * grid[2];
      auto x = torch::randn({1, len, 3, d}) * 3;
      auto table = wan::make_rope_table(grid, d, torch::kCPU);
      auto got = wan::apply_rope(x, table);
      auto expected = rope_apply_reference(x, grid[0], grid[1], grid[2]);
      EXPECT_TRUE(all_close(got, expected, 2e-6)) << "head_dim " << d << " grid " << grid[0] << "x" << grid[1] << "x" << grid[2];
    }
  }
}

// The CPU fp32 kernel does, element by element, the float64 products of the tensor form (which autograd
// uses): the same IEEE operations in the same order, so the results are identical, also for a batch of
// two and a non-contiguous input.
TEST(Rope, CpuKernelEqualsTensorForm) {
  torch::manual_seed(2);
  const std::array<int64_t, 3> grid{2, 3, 5};
  auto table = wan::make_rope_table(grid, 64, torch::kCPU);
  auto x = (torch::randn({2, 30, 64, 4}) * 3).transpose(2, 3);  // [2, 30, 4, 64], non-contiguous
  auto fast = wan::apply_rope(x, table);
  auto xg = x.clone().requires_grad_(true);  // takes the tensor form
  auto slow = wan::apply_rope(xg, table).detach();
  EXPECT_TRUE(torch::equal(fast, slow)) << "max diff " << (fast - slow).abs().max().item<double>();
}

TEST(Rope, CacheReturnsSameTable) {
  wan::RopeCache cache(128);
  auto a = cache.get({2, 3, 4}, torch::kCPU);
  auto b = cache.get({2, 3, 4}, torch::kCPU);
  auto c = cache.get({2, 3, 5}, torch::kCPU);
  EXPECT_EQ(a.get(), b.get());
  EXPECT_NE(a.get(), c.get());
  EXPECT_EQ(c->cos.size(0), 30);
}

TEST(Sinusoid, Float64CosFirst) {
  auto t = torch::tensor({0, 1, 999, 500}, torch::kInt64);
  auto emb = wan::timestep_sinusoid(t, 256);
  ASSERT_EQ(emb.sizes(), (std::vector<int64_t>{4, 256}));
  EXPECT_EQ(emb.scalar_type(), torch::kFloat);
  for (int64_t b = 0; b < 4; ++b) {
    const double pos = static_cast<double>(t[b].item<int64_t>());
    for (int64_t k : {0, 1, 64, 127}) {
      const double angle = pos * std::pow(10000.0, -static_cast<double>(k) / 128.0);
      // 1e-7: float64 evaluation (an fp32 sinusoid is off by ~t·6e-8, up to 6e-5 at t = 999).
      EXPECT_NEAR(emb[b][k].item<float>(), std::cos(angle), 1e-7) << "t " << pos << " k " << k;
      EXPECT_NEAR(emb[b][128 + k].item<float>(), std::sin(angle), 1e-7) << "t " << pos << " k " << k;
    }
  }
}

}  // namespace
}  // namespace t2v::test
