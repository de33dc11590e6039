// Attention and transformer block of the Wan DiT under diffusers' names (DF transformer_wan.py
// WanAttention, WanTransformerBlock). Math mirrors W21 wan/modules/model.py WanSelfAttention,
// WanT2VCrossAttention and WanAttentionBlock.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <utility>

#include "ops.h"
#include "rope.h"
#include "t2v/models/layers.h"
#include "t2v/models/wan/attention.h"
#include "t2v/models/wan/config.h"

namespace t2v::wan {

// Keys and values of one cross-attention's context, [B, Lc, heads, head_dim] in the weights' dtype.
struct CrossKV {
  torch::Tensor k, v;
  torch::Tensor k_img, v_img;  // image-to-video DiTs: the image tokens' keys/values (else undefined)
};

// `attn1` (self) / `attn2` (cross): to_q, to_k, to_v, to_out.0, norm_q, norm_k (RMSNorm over the
// whole dim, fp32 weights). I2V extras add_k_proj / add_v_proj / norm_added_k when added_kv_dim > 0.
class WanAttentionImpl : public torch::nn::Module {
 public:
  WanAttentionImpl(int64_t dim, int64_t heads, double eps, int64_t added_kv_dim, const WanParamOptions& options);
  // x [B, L, dim] -> [B, L, dim]: q/k normed, RoPE on q and k, attention over all tokens.
  torch::Tensor self_attention(const torch::Tensor& x, const RopeTable& rope, const AttentionOptions& attn);
  // Keys/values of a context [B, Lc, dim] (no RoPE); reusable for every step of a sampling run.
  CrossKV context_kv(const torch::Tensor& context);
  // Image tokens [B, N, dim] -> k = norm_added_k(add_k_proj(.)), v = add_v_proj(.) (W21 model.py
  // WanI2VCrossAttention k_img / v_img / norm_k_img), returned in k / v.
  CrossKV image_kv(const torch::Tensor& image);
  // x [B, L, dim] attends the context (no mask, no gate) -> [B, L, dim].
  torch::Tensor cross_attention(const torch::Tensor& x, const CrossKV& kv, const AttentionOptions& attn);

  nn::Linear to_q{nullptr}, to_k{nullptr}, to_v{nullptr};
  torch::nn::ModuleList to_out{nullptr};  // [0] = output Linear (diffusers keeps a dropout at [1])
  nn::NormWeight norm_q{nullptr}, norm_k{nullptr};
  nn::Linear add_k_proj{nullptr}, add_v_proj{nullptr};
  nn::NormWeight norm_added_k{nullptr};

 private:
  torch::Tensor heads_view(const torch::Tensor& x) const;  // [B, L, dim] -> [B, L, H, D]
  torch::Tensor output(const torch::Tensor& attended);      // [B, L, H, D] -> [B, L, dim]
  int64_t heads_, head_dim_;
  double eps_;
  nn::Linear out_{nullptr};
};
TORCH_MODULE(WanAttention);

// One DiT block: `scale_shift_table` [1, 6, dim] (official `modulation`), attn1, norm2 (affine
// LayerNorm before cross-attention = official norm3), attn2, ffn.
class WanTransformerBlockImpl : public torch::nn::Module {
 public:
  WanTransformerBlockImpl(const WanTransformerConfig& config, const WanParamOptions& options);
  // x [B, L, dim] (weights' dtype before the first block, fp32 after), e0 [B, 6, dim] or
  // [B, L, 6, dim] fp32 -> [B, L, dim] fp32 (the residual stream is fp32 from here on).
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& e0, const RopeTable& rope, const CrossKV& context,
                        const AttentionOptions& attn);

  torch::Tensor scale_shift_table;
  WanAttention attn1{nullptr}, attn2{nullptr};
  nn::NormWeight norm2{nullptr};  // undefined when cross_attn_norm is false
  WanFeedForward ffn{nullptr};

 private:
  double eps_;
};
TORCH_MODULE(WanTransformerBlock);

}  // namespace t2v::wan
