// Wan DiT attention and block. Mirrors W21 wan/modules/model.py WanSelfAttention,
// WanT2VCrossAttention, WanAttentionBlock (forward incl. its autocast(float32) regions); names follow
// DF transformer_wan.py WanAttention / WanTransformerBlock. Deliberate difference: cross-attention
// keys/values can be computed once per context (context_kv) instead of in every call.
#include "transformer_block.h"

#include <torch/torch.h>

namespace t2v::wan {

WanAttentionImpl::WanAttentionImpl(int64_t dim, int64_t heads, double eps, int64_t added_kv_dim,
                                   const WanParamOptions& options)
    : heads_(heads), head_dim_(dim / heads), eps_(eps) {
  to_q = register_module("to_q", nn::Linear(dim, dim, true, options.weights));
  to_k = register_module("to_k", nn::Linear(dim, dim, true, options.weights));
  to_v = register_module("to_v", nn::Linear(dim, dim, true, options.weights));
  out_ = nn::Linear(dim, dim, true, options.weights);
  to_out = register_module("to_out", torch::nn::ModuleList(out_));
  // RMSNorm gains are fp32 in the reference (module weights stay fp32, autocast does not touch them).
  norm_q = register_module("norm_q", nn::NormWeight(std::vector<int64_t>{dim}, false, options.fp32));
  norm_k = register_module("norm_k", nn::NormWeight(std::vector<int64_t>{dim}, false, options.fp32));
  if (added_kv_dim > 0) {
    add_k_proj = register_module("add_k_proj", nn::Linear(added_kv_dim, dim, true, options.weights));
    add_v_proj = register_module("add_v_proj", nn::Linear(added_kv_dim, dim, true, options.weights));
    norm_added_k = register_module("norm_added_k", nn::NormWeight(std::vector<int64_t>{dim}, false, options.fp32));
  }
}

torch::Tensor WanAttentionImpl::heads_view(const torch::Tensor& x) const {
  return x.view({x.size(0), x.size(1), heads_, head_dim_});  // [B, L, H, D]
}

torch::Tensor WanAttentionImpl::output(const torch::Tensor& attended) {
  auto merged = attended.reshape({attended.size(0), attended.size(1), heads_ * head_dim_});  // [B, L, dim]
  return project(*out_, merged);
}

torch::Tensor WanAttentionImpl::self_attention(const torch::Tensor& x, const RopeTable& rope,
                                               const AttentionOptions& attn) {
  auto q = rms_norm(project(*to_q, x), norm_q->weight, eps_);  // [B, L, dim]
  auto k = rms_norm(project(*to_k, x), norm_k->weight, eps_);  // [B, L, dim]
  auto v = project(*to_v, x);                                  // [B, L, dim]
  // RoPE in float64 -> fp32; attention() then casts q and k to v's dtype like flash_attention.
  auto q_rot = apply_rope(heads_view(q), rope);  // [B, L, H, D] fp32
  auto k_rot = apply_rope(heads_view(k), rope);  // [B, L, H, D] fp32
  return output(attention(q_rot, k_rot, heads_view(v), attn));
}

CrossKV WanAttentionImpl::context_kv(const torch::Tensor& context) {
  const auto dtype = to_v->weight.scalar_type();
  CrossKV kv;
  kv.k = heads_view(rms_norm(project(*to_k, context), norm_k->weight, eps_)).to(dtype);  // [B, Lc, H, D]
  kv.v = heads_view(project(*to_v, context));                                            // [B, Lc, H, D]
  return kv;
}

CrossKV WanAttentionImpl::image_kv(const torch::Tensor& image) {
  TORCH_CHECK(add_k_proj, "image_kv on an attention without added key/value projections");
  const auto dtype = to_v->weight.scalar_type();
  CrossKV kv;
  kv.k = heads_view(rms_norm(project(*add_k_proj, image), norm_added_k->weight, eps_)).to(dtype);  // [B, N, H, D]
  kv.v = heads_view(project(*add_v_proj, image));                                                  // [B, N, H, D]
  return kv;
}

torch::Tensor WanAttentionImpl::cross_attention(const torch::Tensor& x, const CrossKV& kv,
                                                const AttentionOptions& attn) {
  auto q = heads_view(rms_norm(project(*to_q, x), norm_q->weight, eps_));  // [B, L, H, D]
  auto out = attention(q, kv.k, kv.v, attn);                              // [B, L, H, D]
  // W21 WanI2VCrossAttention: the text and image attentions share q; their outputs are summed.
  if (kv.k_img.defined()) out = out + attention(q, kv.k_img, kv.v_img, attn);
  return output(out);
}

WanTransformerBlockImpl::WanTransformerBlockImpl(const WanTransformerConfig& config, const WanParamOptions& options)
    : eps_(config.eps) {
  const int64_t dim = config.dim();
  scale_shift_table = register_parameter("scale_shift_table", torch::empty({1, 6, dim}, options.fp32), false);
  attn1 = register_module("attn1", WanAttention(dim, config.num_heads, config.eps, 0, options));
  if (config.cross_attn_norm) norm2 = register_module("norm2", nn::NormWeight(std::vector<int64_t>{dim}, true, options.fp32));
  attn2 = register_module("attn2", WanAttention(dim, config.num_heads, config.eps, config.added_kv_proj_dim, options));
  ffn = register_module("ffn", WanFeedForward(dim, config.ffn_dim, dim, /*tanh_gelu=*/true, options.weights));
}

namespace {
// x + y·gate in fp32 (reference: autocast(float32) around the gated adds). In place once x is fp32;
// the first block's x is still in the weights' dtype and is promoted here. Out of place when x is
// part of an autograd graph (training): the LayerNorm before it saved x for its backward.
torch::Tensor gated_residual(torch::Tensor x, const torch::Tensor& y, const torch::Tensor& gate) {
  if (x.scalar_type() == torch::kFloat && !x.requires_grad()) return x.add_(y * gate);
  return x + y * gate;
}
}  // namespace

torch::Tensor WanTransformerBlockImpl::forward(torch::Tensor x, const torch::Tensor& e0, const RopeTable& rope,
                                               const CrossKV& context, const AttentionOptions& attn) {
  // shift_sa, scale_sa, gate_sa, shift_ffn, scale_ffn, gate_ffn: fp32 [B, 1, dim] (or [B, L, dim]).
  auto m = modulation(scale_shift_table, e0);

  // `norm1(x).float() * (1 + scale) + shift`: the norm is rounded to x's dtype first, as in the reference.
  auto h = layer_norm_fp32(x, eps_).to(torch::kFloat) * (1 + m[1]) + m[0];  // [B, L, dim] fp32
  x = gated_residual(x, attn1->self_attention(h, rope, attn), m[2]);        // fp32 from here on

  // Cross-attention: affine LayerNorm (official norm3), no modulation, no gate.
  auto c = norm2 ? layer_norm_fp32(x, eps_, norm2->weight, norm2->bias) : x;
  auto cross = attn2->cross_attention(c, context, attn);
  x = x.requires_grad() ? x + cross : x.add_(cross);  // in place only outside autograd (see gated_residual)

  h = layer_norm_fp32(x, eps_).to(torch::kFloat) * (1 + m[4]) + m[3];
  return gated_residual(x, ffn->forward(h), m[5]);
}

}  // namespace t2v::wan
