// Condition embedders of the Wan DiT. Mirrors W21 wan/modules/model.py: sinusoidal_embedding_1d,
// WanModel.time_embedding / time_projection / text_embedding, MLPProj (I2V); names follow DF
// transformer_wan.py WanTimeTextImageEmbedding. Deliberate difference from diffusers: the sinusoid
// is float64 and time_proj runs in fp32 (official numerics; diffusers computes both in lower precision).
#include "condition_embedder.h"

#include <torch/torch.h>

namespace t2v::wan {

torch::Tensor timestep_sinusoid(const torch::Tensor& t, int64_t dim) {
  TORCH_CHECK(dim % 2 == 0, "sinusoid dim must be even");
  const int64_t half = dim / 2;
  auto pos = t.to(torch::kFloat64);
  auto f64 = pos.options();
  auto freqs = torch::pow(10000.0, -torch::arange(half, f64).div(half));    // [half]
  auto angles = pos.unsqueeze(-1) * freqs;                                   // [..., half]
  return torch::cat({angles.cos(), angles.sin()}, -1).to(torch::kFloat);     // [..., dim]
}

WanTwoLayerMLPImpl::WanTwoLayerMLPImpl(int64_t in, int64_t hidden, Act act, const torch::TensorOptions& options)
    : act_(act) {
  linear_1 = register_module("linear_1", nn::Linear(in, hidden, true, options));
  linear_2 = register_module("linear_2", nn::Linear(hidden, hidden, true, options));
}

torch::Tensor WanTwoLayerMLPImpl::forward(const torch::Tensor& x) {
  auto h = project(*linear_1, x);
  h = act_ == Act::kSiLU ? torch::silu(h) : torch::gelu(h, "tanh");
  return project(*linear_2, h);
}

WanImageEmbedderImpl::WanImageEmbedderImpl(int64_t image_dim, int64_t dim, int64_t pos_embed_seq_len,
                                           const WanParamOptions& options) {
  norm1 = register_module("norm1", nn::NormWeight(std::vector<int64_t>{image_dim}, true, options.fp32));
  ff = register_module("ff", WanFeedForward(image_dim, image_dim, dim, /*tanh_gelu=*/false, options.weights));
  norm2 = register_module("norm2", nn::NormWeight(std::vector<int64_t>{dim}, true, options.fp32));
  if (pos_embed_seq_len > 0) {
    pos_embed = register_parameter("pos_embed", torch::empty({1, pos_embed_seq_len, image_dim}, options.fp32), false);
  }
}

torch::Tensor WanImageEmbedderImpl::forward(const torch::Tensor& clip_features) {
  auto x = clip_features;  // [B, N, image_dim]
  if (pos_embed.defined()) {
    // FLF2V: first- and last-frame features side by side, then the learned position table.
    x = x.reshape({-1, pos_embed.size(1), x.size(-1)}) + pos_embed;
  }
  // nn.LayerNorm defaults (eps 1e-5, affine), computed in fp32.
  x = layer_norm_fp32(x.to(torch::kFloat), 1e-5, norm1->weight, norm1->bias);
  x = ff->forward(x);
  return layer_norm_fp32(x.to(torch::kFloat), 1e-5, norm2->weight, norm2->bias);  // [B, N, dim]
}

WanConditionEmbedderImpl::WanConditionEmbedderImpl(const WanTransformerConfig& config, const WanParamOptions& options)
    : dim_(config.dim()), freq_dim_(config.freq_dim) {
  using Act = WanTwoLayerMLPImpl::Act;
  // The time path is an fp32 island in the reference (autocast(float32)): fp32 weights here.
  time_embedder = register_module("time_embedder", WanTwoLayerMLP(freq_dim_, dim_, Act::kSiLU, options.fp32));
  time_proj = register_module("time_proj", nn::Linear(dim_, 6 * dim_, true, options.fp32));
  text_embedder = register_module("text_embedder", WanTwoLayerMLP(config.text_dim, dim_, Act::kGELUTanh,
                                                                   options.weights));
  if (config.image_dim > 0) {
    image_embedder = register_module(
        "image_embedder", WanImageEmbedder(config.image_dim, dim_, config.pos_embed_seq_len, options));
  }
}

std::pair<torch::Tensor, torch::Tensor> WanConditionEmbedderImpl::time(const torch::Tensor& t) {
  auto e = time_embedder->forward(timestep_sinusoid(t, freq_dim_));  // [B(, L), dim]
  auto e0 = project(*time_proj, torch::silu(e));                     // [B(, L), 6·dim]
  auto sizes = e.sizes().vec();
  sizes.back() = 6;
  sizes.push_back(dim_);
  return {e, e0.view(sizes)};  // e0: [B(, L), 6, dim]
}

torch::Tensor WanConditionEmbedderImpl::text(const torch::Tensor& context) {
  return text_embedder->forward(context);  // [B, text_len, dim]
}

}  // namespace t2v::wan
