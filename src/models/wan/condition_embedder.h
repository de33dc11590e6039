// Timestep, text (and I2V image) embedders of the Wan DiT, under diffusers' names
// (`condition_embedder.*`, DF transformer_wan.py WanTimeTextImageEmbedding). Math mirrors
// W21 wan/modules/model.py: sinusoidal_embedding_1d, time_embedding, time_projection,
// text_embedding, MLPProj.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <utility>

#include "ops.h"
#include "t2v/models/layers.h"
#include "t2v/models/wan/config.h"

namespace t2v::wan {

// [cos(t·ω), sin(t·ω)] (cos first), ω_k = 10000^(−k/half), computed in float64 from the integer
// timesteps and cast to float32. t [...] -> [..., dim].
torch::Tensor timestep_sinusoid(const torch::Tensor& t, int64_t dim);

// Linear -> act -> Linear with diffusers' `linear_1` / `linear_2` names.
class WanTwoLayerMLPImpl : public torch::nn::Module {
 public:
  enum class Act { kSiLU, kGELUTanh };
  WanTwoLayerMLPImpl(int64_t in, int64_t hidden, Act act, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  nn::Linear linear_1{nullptr}, linear_2{nullptr};

 private:
  Act act_;
};
TORCH_MODULE(WanTwoLayerMLP);

// I2V CLIP-feature projection (official img_emb: LayerNorm -> Linear -> GELU -> Linear -> LayerNorm).
// Declared so I2V checkpoints load; the T2V forward never calls it.
class WanImageEmbedderImpl : public torch::nn::Module {
 public:
  WanImageEmbedderImpl(int64_t image_dim, int64_t dim, int64_t pos_embed_seq_len, const WanParamOptions& options);
  torch::Tensor forward(const torch::Tensor& clip_features);
  nn::NormWeight norm1{nullptr}, norm2{nullptr};
  WanFeedForward ff{nullptr};             // exact-erf GELU
  torch::Tensor pos_embed;                // [1, pos_embed_seq_len, image_dim] or undefined
};
TORCH_MODULE(WanImageEmbedder);

class WanConditionEmbedderImpl : public torch::nn::Module {
 public:
  WanConditionEmbedderImpl(const WanTransformerConfig& config, const WanParamOptions& options);
  // t [B] or [B, L] int64 -> (e [B(, L), dim], e0 [B(, L), 6, dim]), both fp32.
  std::pair<torch::Tensor, torch::Tensor> time(const torch::Tensor& t);
  // Zero-padded context [B, text_len, text_dim] -> [B, text_len, dim] in the weights' dtype.
  torch::Tensor text(const torch::Tensor& context);

  WanTwoLayerMLP time_embedder{nullptr};  // fp32 island
  nn::Linear time_proj{nullptr};          // fp32 island
  WanTwoLayerMLP text_embedder{nullptr};
  WanImageEmbedder image_embedder{nullptr};

 private:
  int64_t dim_, freq_dim_;
};
TORCH_MODULE(WanConditionEmbedder);

}  // namespace t2v::wan
