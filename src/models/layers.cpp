#include "t2v/models/layers.h"

#include <torch/torch.h>

namespace t2v::nn {

LinearImpl::LinearImpl(int64_t in, int64_t out, bool has_bias, const torch::TensorOptions& options) {
  weight = register_parameter("weight", torch::empty({out, in}, options), /*requires_grad=*/false);
  if (has_bias) bias = register_parameter("bias", torch::empty({out}, options), false);
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) { return torch::linear(x, weight, bias); }

ConvNdImpl::ConvNdImpl(int64_t in, int64_t out, std::vector<int64_t> kernel, std::vector<int64_t> stride_,
                       std::vector<int64_t> padding_, bool has_bias, const torch::TensorOptions& options)
    : stride(std::move(stride_)), padding(std::move(padding_)) {
  std::vector<int64_t> shape = {out, in};
  shape.insert(shape.end(), kernel.begin(), kernel.end());
  weight = register_parameter("weight", torch::empty(shape, options), false);
  if (has_bias) bias = register_parameter("bias", torch::empty({out}, options), false);
}

torch::Tensor ConvNdImpl::forward(const torch::Tensor& x) {
  if (weight.dim() == 5) return torch::conv3d(x, weight, bias, stride, padding);
  return torch::conv2d(x, weight, bias, stride, padding);
}

EmbeddingImpl::EmbeddingImpl(int64_t num, int64_t dim, const torch::TensorOptions& options) {
  weight = register_parameter("weight", torch::empty({num, dim}, options), false);
}

torch::Tensor EmbeddingImpl::forward(const torch::Tensor& ids) { return torch::embedding(weight, ids); }

NormWeightImpl::NormWeightImpl(std::vector<int64_t> shape, bool has_bias, const torch::TensorOptions& options,
                               const char* weight_name) {
  weight = register_parameter(weight_name, torch::empty(shape, options), false);
  if (has_bias) bias = register_parameter("bias", torch::empty({shape[0]}, options), false);
}

void randomize_parameters(torch::nn::Module& module, uint64_t seed, double std) {
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(seed);
  for (auto& item : module.named_parameters(/*recurse=*/true)) {
    auto& p = item.value();
    const std::string& name = item.key();
    const bool gain = name.find("norm") != std::string::npos || name.find("gamma") != std::string::npos;
    // Draw in fp32 on the CPU in chunks (no full-size fp32 temporary for bf16 parameters).
    auto flat = p.view({-1});
    const int64_t chunk = 1 << 24;
    for (int64_t i = 0; i < flat.numel(); i += chunk) {
      const int64_t n = std::min(chunk, flat.numel() - i);
      auto r = at::normal(0.0, std, {n}, gen, torch::TensorOptions().dtype(torch::kFloat32));
      if (gain) r.add_(1.0);
      flat.narrow(0, i, n).copy_(r);
    }
  }
}

void init_parameters_like_pytorch(torch::nn::Module& module, uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(seed);
  auto params = module.named_parameters(/*recurse=*/true);
  // kaiming_uniform_(a=sqrt(5)) of torch.nn.Linear/ConvNd.reset_parameters: bound = 1/sqrt(fan_in),
  // fan_in = in_channels x kernel volume; the bias uses the bound of its layer's weight.
  auto bound_of = [](const torch::Tensor& w) { return 1.0 / std::sqrt(static_cast<double>(w.numel() / w.size(0))); };
  for (auto& item : params) {
    auto& p = item.value();
    const std::string& name = item.key();
    double bound = 0.0;
    if (p.dim() >= 2) {
      bound = bound_of(p);
    } else if (name.size() > 4 && name.compare(name.size() - 4, 4, "bias") == 0) {
      const auto* w = params.find(name.substr(0, name.size() - 4) + "weight");
      if (w && w->dim() >= 2) bound = bound_of(*w);
    } else {
      p.fill_(1.0);  // norm gains (RMS_norm.gamma, LayerNorm.weight) start at one
      continue;
    }
    auto r = at::empty(p.sizes(), torch::TensorOptions().dtype(torch::kFloat32)).uniform_(-bound, bound, gen);
    p.copy_(r);
  }
}

}  // namespace t2v::nn
