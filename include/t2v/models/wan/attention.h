// Scaled dot-product attention for the Wan DiT, one entry point with interchangeable backends.
// Mirrors W21 wan/modules/attention.py (flash_attention / attention): softmax(q·kᵀ/sqrt(d))·v over
// all keys, no mask (single-device Wan never pads the token sequence, and cross-attention attends
// the zero-padded text rows on purpose), q cast to v's dtype as the reference does.
//
// Backends:
//   kExact   - matmul / softmax / matmul, the full [Lq, Lk] score matrix per head. Reference math.
//   kChunked - the same math over query chunks sized so one chunk's scores stay under a byte
//              budget; never materialises the full L×L matrix (480p×81 frames: L = 32760, the
//              full fp32 matrix of one head alone is 4.3 GB). Bit-identical to kExact per row.
//   kSDPA    - at::scaled_dot_product_attention (LibTorch ≥ 2: flash / memory-efficient kernels on
//              CUDA, a fused kernel on CPU). Not available with LibTorch 1.x.
//   kAuto    - CUDA with LibTorch ≥ 2: kSDPA. Otherwise (CPU, or CUDA on LibTorch 1.x): kExact while
//              the whole score tensor fits the budget, kChunked beyond (exact, deterministic numerics
//              on every LibTorch version).
#pragma once

#include <torch/types.h>

#include <string>

namespace t2v::wan {

enum class AttentionBackend { kAuto, kExact, kChunked, kSDPA };

struct AttentionOptions {
  AttentionBackend backend = AttentionBackend::kAuto;
  // Upper bound for the fp32 score bytes materialised at once (kAuto threshold, kChunked chunks).
  int64_t score_budget_bytes = int64_t{256} << 20;
  // Fixed query-chunk length for kChunked; 0 = derived from score_budget_bytes.
  int64_t chunk_size = 0;
};

// Parses "auto" | "exact" | "chunked" | "sdpa" (UsageError otherwise; "sdpa" needs LibTorch ≥ 2).
AttentionBackend parse_attention_backend(const std::string& name);
const char* attention_backend_name(AttentionBackend backend);
// True when this build has at::scaled_dot_product_attention.
bool sdpa_available();

// The backend kAuto resolves to for these sizes (exposed for logging and tests).
AttentionBackend resolve_attention_backend(const AttentionOptions& options, const torch::Device& device,
                                           int64_t batch, int64_t heads, int64_t q_len, int64_t k_len);

// q [B, Lq, H, D], k/v [B, Lk, H, D] -> [B, Lq, H, D] in v's dtype. Softmax scale 1/sqrt(D).
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const AttentionOptions& options = {});

}  // namespace t2v::wan
