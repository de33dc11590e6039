// Small numeric helpers shared by the Wan DiT modules. Each one reproduces how the reference
// (W21 wan/modules/model.py) mixes dtypes under autocast, so the modules can run with bf16 weights
// and still keep the official fp32 islands.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "t2v/models/layers.h"

namespace t2v::wan {

// Dtypes of a DiT's parameters: `weights` for the bulk (Linear/Conv), `fp32` for the islands.
struct WanParamOptions {
  torch::TensorOptions weights;
  torch::TensorOptions fp32;
};

// A Linear applied the way autocast does: the input is cast to the weight's dtype.
inline torch::Tensor project(nn::LinearImpl& linear, const torch::Tensor& x) {
  return linear.forward(x.to(linear.weight.scalar_type()));
}

// WanLayerNorm: computed in fp32 (weights, if any, are fp32), result cast back to x's dtype.
inline torch::Tensor layer_norm_fp32(const torch::Tensor& x, double eps, const torch::Tensor& weight = {},
                                     const torch::Tensor& bias = {}) {
  return torch::layer_norm(x.to(torch::kFloat), {x.size(-1)}, weight, bias, eps).to(x.scalar_type());
}

// WanRMSNorm over the last dim (all heads together): normalised in fp32, rounded to x's dtype,
// then times the fp32 weight (so a bf16 input gives an fp32 result, as in the reference).
inline torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  auto xf = x.to(torch::kFloat);
  auto normed = xf * torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return normed.to(x.scalar_type()) * weight;
}

// Modulation vectors: table [1, n, dim] + e [B, n, dim] (one timestep per sample) or
// e [B, L, n, dim] (Wan2.2 per-token timesteps), in fp32. Returns n tensors [B, 1, dim] / [B, L, dim].
inline std::vector<torch::Tensor> modulation(const torch::Tensor& table, const torch::Tensor& e) {
  const int64_t n = table.size(1);
  if (e.dim() == 3) return (table.to(torch::kFloat) + e).chunk(n, 1);  // n x [B, 1, dim]
  auto parts = (table.to(torch::kFloat).unsqueeze(0) + e).chunk(n, 2);  // n x [B, L, 1, dim]
  for (auto& p : parts) p = p.squeeze(2);                                  // [B, L, dim]
  return parts;
}

// diffusers FeedForward: net.0.proj (Linear) -> GELU -> net.1 (dropout slot, no weights) -> net.2.
// Official: nn.Sequential(Linear, GELU(approximate='tanh'), Linear) (block ffn, `ffn.0/.2`).
class WanFeedForwardImpl : public torch::nn::Module {
 public:
  WanFeedForwardImpl(int64_t dim, int64_t hidden, int64_t out, bool tanh_gelu, const torch::TensorOptions& options)
      : tanh_gelu_(tanh_gelu) {
    auto gelu_proj = std::make_shared<torch::nn::Module>();
    proj_ = gelu_proj->register_module("proj", nn::Linear(dim, hidden, true, options));
    out_ = nn::Linear(hidden, out, true, options);
    net = register_module("net", torch::nn::ModuleList(gelu_proj, torch::nn::Identity(), out_));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto h = torch::gelu(project(*proj_, x), tanh_gelu_ ? "tanh" : "none");  // [..., hidden]
    return project(*out_, h);                                                // [..., out]
  }
  torch::nn::ModuleList net{nullptr};

 private:
  bool tanh_gelu_;
  nn::Linear proj_{nullptr}, out_{nullptr};
};
TORCH_MODULE(WanFeedForward);

}  // namespace t2v::wan
