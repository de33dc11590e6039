// Attention backends: chunked (and SDPA where built) equal the exact math on random inputs; exact
// equals a float64 softmax(q·kᵀ/sqrt(d))·v; kAuto switches to chunked on the CPU for long sequences.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "support/golden.h"
#include "t2v/error.h"
#include "t2v/models/wan/attention.h"

namespace t2v::test {
namespace {
using wan::AttentionBackend;
using wan::AttentionOptions;

torch::Tensor reference_f64(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
  auto qd = q.to(torch::kFloat64).transpose(1, 2), kd = k.to(torch::kFloat64).transpose(1, 2);
  auto vd = v.to(torch::kFloat64).transpose(1, 2);
  auto p = (torch::matmul(qd, kd.transpose(2, 3)) / std::sqrt(static_cast<double>(q.size(3)))).softmax(-1);
  return torch::matmul(p, vd).transpose(1, 2);  // [B, Lq, H, D]
}

struct Shape {
  int64_t batch, q_len, k_len, heads, head_dim, chunk;
};

TEST(Attention, ChunkedEqualsExact) {
  torch::manual_seed(7);
  // Lq not a multiple of the chunk; cross-attention shapes (Lk != Lq); one-row chunks.
  for (const auto& s : {Shape{1, 37, 37, 2, 16, 8}, Shape{2, 100, 16, 3, 48, 7}, Shape{1, 61, 61, 4, 64, 1},
                        Shape{3, 129, 77, 2, 128, 64}, Shape{1, 10, 10, 1, 8, 100}}) {
    auto q = torch::randn({s.batch, s.q_len, s.heads, s.head_dim}) * 2;
    auto k = torch::randn({s.batch, s.k_len, s.heads, s.head_dim}) * 2;
    auto v = torch::randn({s.batch, s.k_len, s.heads, s.head_dim});
    AttentionOptions exact{AttentionBackend::kExact};
    AttentionOptions chunked{AttentionBackend::kChunked};
    chunked.chunk_size = s.chunk;
    auto a = wan::attention(q, k, v, exact);
    auto b = wan::attention(q, k, v, chunked);
    ASSERT_EQ(b.sizes(), q.sizes());
    // Both are fp32 roundings of the same float64 value, summed in orders that the BLAS picks per GEMM
    // shape and per CPU (a chunk is another shape), so neither may be compared bit for bit. The bound
    // for each against float64: scores |q·k|/sqrt(d) up to ~30 carry fp32 rounding of ~1e-6 relative
    // through exp(); measured max 1.0e-5 (AMD EPYC and Intel Xeon AVX-512, LibTorch 1.13 and 2.11).
    // Chunked vs exact then differs by at most the sum of the two bounds (1.01e-5 seen on the Xeon).
    const auto f64 = reference_f64(q, k, v);
    EXPECT_TRUE(all_close(a, f64, 2e-5)) << "exact, shape " << s.q_len << "x" << s.k_len;
    EXPECT_TRUE(all_close(b, f64, 2e-5)) << "chunked, shape " << s.q_len << "x" << s.k_len << " chunk " << s.chunk;
    EXPECT_TRUE(all_close(b, a, 4e-5)) << "shape " << s.q_len << "x" << s.k_len << " chunk " << s.chunk;
  }
}

TEST(Attention, ChunkSizeFromBudget) {
  torch::manual_seed(3);
  auto q = torch::randn({1, 333, 2, 32}), k = torch::randn({1, 333, 2, 32}), v = torch::randn({1, 333, 2, 32});
  AttentionOptions budget{AttentionBackend::kChunked};
  budget.score_budget_bytes = 4 * 2 * 333 * 10;  // 10 query rows per chunk
  EXPECT_TRUE(all_close(wan::attention(q, k, v, budget), reference_f64(q, k, v), 2e-6));
}

TEST(Attention, AutoPicksChunkedForLongCpuSequences) {
  AttentionOptions options;
  EXPECT_EQ(wan::resolve_attention_backend(options, torch::kCPU, 1, 12, 1560, 1560), AttentionBackend::kExact);
  // 480p × 81 frames: 32760 tokens, 12 heads -> 51 GB of fp32 scores at once.
  EXPECT_EQ(wan::resolve_attention_backend(options, torch::kCPU, 1, 12, 32760, 32760), AttentionBackend::kChunked);
  options.backend = AttentionBackend::kExact;
  EXPECT_EQ(wan::resolve_attention_backend(options, torch::kCPU, 1, 12, 32760, 32760), AttentionBackend::kExact);
}

TEST(Attention, Bf16InputsKeepDtypeAndAgree) {
  torch::manual_seed(5);
  auto q = torch::randn({1, 50, 2, 32}), k = torch::randn({1, 50, 2, 32}), v = torch::randn({1, 50, 2, 32});
  AttentionOptions chunked{AttentionBackend::kChunked};
  chunked.chunk_size = 16;
  torch::Tensor out;
  try {
    // q/k fp32 (after RoPE) and v bf16, as in the DiT's bf16 path: q and k follow v's dtype.
    out = wan::attention(q, k, v.to(torch::kBFloat16), chunked);
  } catch (const c10::Error& e) {
    GTEST_SKIP() << "no bf16 CPU matmul: " << e.what_without_backtrace();
  }
  EXPECT_EQ(out.scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(all_close(out, reference_f64(q, k, v), 3e-2));
}

TEST(Attention, SdpaMatchesExactWhenAvailable) {
  if (!wan::sdpa_available()) {
    EXPECT_THROW(wan::parse_attention_backend("sdpa"), UsageError);
    GTEST_SKIP() << "LibTorch < 2: no at::scaled_dot_product_attention";
  }
  torch::manual_seed(11);
  auto q = torch::randn({2, 45, 3, 64}), k = torch::randn({2, 20, 3, 64}), v = torch::randn({2, 20, 3, 64});
  AttentionOptions sdpa{AttentionBackend::kSDPA};
  EXPECT_TRUE(all_close(wan::attention(q, k, v, sdpa), reference_f64(q, k, v), 1e-5));
}

TEST(Attention, ParseBackendNames) {
  EXPECT_EQ(wan::parse_attention_backend("chunked"), AttentionBackend::kChunked);
  EXPECT_EQ(wan::parse_attention_backend("exact"), AttentionBackend::kExact);
  EXPECT_EQ(wan::parse_attention_backend("auto"), AttentionBackend::kAuto);
  EXPECT_THROW(wan::parse_attention_backend("flash"), UsageError);
}

}  // namespace
}  // namespace t2v::test
