// Attention backends for the Wan DiT. Mirrors W21 wan/modules/attention.py (flash_attention, and
// attention()'s scaled_dot_product_attention fallback). Deliberate difference: no k_lens masking;
// the DiT never pads its token sequence on one device, so the reference masks nothing either.
#include "t2v/models/wan/attention.h"

#include <torch/torch.h>
#include <torch/version.h>

#include <cmath>

#include "t2v/error.h"

namespace t2v::wan {

bool sdpa_available() {
#if TORCH_VERSION_MAJOR >= 2
  return true;
#else
  return false;
#endif
}

AttentionBackend parse_attention_backend(const std::string& name) {
  if (name == "auto") return AttentionBackend::kAuto;
  if (name == "exact") return AttentionBackend::kExact;
  if (name == "chunked") return AttentionBackend::kChunked;
  if (name == "sdpa") {
    if (!sdpa_available()) {
      throw UsageError("attention backend \"sdpa\" needs LibTorch >= 2.0 (this build has " +
                       std::string(TORCH_VERSION) + "); use auto, exact or chunked");
    }
    return AttentionBackend::kSDPA;
  }
  throw UsageError("unknown attention backend \"" + name + "\" (expected auto, exact, chunked or sdpa)");
}

const char* attention_backend_name(AttentionBackend backend) {
  switch (backend) {
    case AttentionBackend::kAuto: return "auto";
    case AttentionBackend::kExact: return "exact";
    case AttentionBackend::kChunked: return "chunked";
    case AttentionBackend::kSDPA: return "sdpa";
  }
  return "?";
}

AttentionBackend resolve_attention_backend(const AttentionOptions& options, const torch::Device& device,
                                           int64_t batch, int64_t heads, int64_t q_len, int64_t k_len) {
  if (options.backend != AttentionBackend::kAuto) return options.backend;
  if (device.is_cuda() && sdpa_available()) return AttentionBackend::kSDPA;
  // Score bytes of the whole [B, H, Lq, Lk] fp32 matrix (softmax always runs in fp32).
  const double bytes = 4.0 * static_cast<double>(batch) * heads * q_len * k_len;
  return bytes <= static_cast<double>(options.score_budget_bytes) ? AttentionBackend::kExact
                                                                   : AttentionBackend::kChunked;
}

namespace {

// softmax(q·kᵀ·scale)·v for one block of query rows. q [B, H, n, D], kt [B, H, D, Lk], v [B, H, Lk, D].
torch::Tensor attend_rows(const torch::Tensor& q, const torch::Tensor& kt, const torch::Tensor& v, double scale) {
  auto scores = torch::matmul(q, kt);  // [B, H, n, Lk]
  // Softmax in fp32 even for bf16/fp16 inputs (flash-attention keeps its softmax statistics in fp32).
  if (scores.scalar_type() != torch::kFloat && scores.scalar_type() != torch::kDouble) {
    scores = scores.to(torch::kFloat);
  }
  scores.mul_(scale);
  auto probs = scores.softmax(-1);
  return torch::matmul(probs.to(v.scalar_type()), v);  // [B, H, n, D]
}

}  // namespace

torch::Tensor attention(const torch::Tensor& q_in, const torch::Tensor& k_in, const torch::Tensor& v_in,
                        const AttentionOptions& options) {
  TORCH_CHECK(q_in.dim() == 4 && k_in.dim() == 4 && v_in.dim() == 4, "attention expects [B, L, H, D] tensors");
  TORCH_CHECK(q_in.size(0) == k_in.size(0) && k_in.sizes() == v_in.sizes() && q_in.size(2) == k_in.size(2) &&
                  q_in.size(3) == k_in.size(3),
              "attention: incompatible q ", q_in.sizes(), ", k ", k_in.sizes(), ", v ", v_in.sizes());
  const auto dtype = v_in.scalar_type();
  const int64_t batch = q_in.size(0), q_len = q_in.size(1), heads = q_in.size(2), head_dim = q_in.size(3);
  const int64_t k_len = k_in.size(1);
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  // The reference casts q and k to v's dtype before the kernel (flash_attention: q.to(v.dtype)).
  auto q = q_in.to(dtype).transpose(1, 2);  // [B, H, Lq, D]
  auto k = k_in.to(dtype).transpose(1, 2);  // [B, H, Lk, D]
  auto v = v_in.transpose(1, 2);            // [B, H, Lk, D]

  switch (resolve_attention_backend(options, q_in.device(), batch, heads, q_len, k_len)) {
    case AttentionBackend::kSDPA: {
#if TORCH_VERSION_MAJOR >= 2
      // Default scale is 1/sqrt(D); not passed explicitly so that LibTorch 2.0 (no `scale`) builds.
      return at::scaled_dot_product_attention(q, k, v).transpose(1, 2);  // [B, Lq, H, D]
#else
      throw UsageError("attention backend \"sdpa\" needs LibTorch >= 2.0");
#endif
    }
    case AttentionBackend::kChunked: {
      int64_t chunk = options.chunk_size;
      if (chunk <= 0) {
        const int64_t row_bytes = 4 * batch * heads * k_len;  // fp32 scores of one query row
        chunk = std::max<int64_t>(1, options.score_budget_bytes / std::max<int64_t>(1, row_bytes));
      }
      if (chunk >= q_len) return attend_rows(q, k.transpose(2, 3), v, scale).transpose(1, 2);
      auto kt = k.transpose(2, 3).contiguous();  // [B, H, D, Lk], reused by every chunk
      auto vc = v.contiguous();
      auto out = torch::empty({batch, q_len, heads, head_dim}, v_in.options());  // [B, Lq, H, D]
      for (int64_t start = 0; start < q_len; start += chunk) {
        const int64_t n = std::min(chunk, q_len - start);
        auto rows = attend_rows(q.narrow(2, start, n), kt, vc, scale);  // [B, H, n, D]
        out.narrow(1, start, n).copy_(rows.transpose(1, 2));
      }
      return out;
    }
    case AttentionBackend::kExact:
    case AttentionBackend::kAuto:
      break;
  }
  return attend_rows(q, k.transpose(2, 3), v, scale).transpose(1, 2);  // [B, Lq, H, D]
}

}  // namespace t2v::wan
