#include "t2v/models/layers.h"

#include <ATen/Context.h>
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

torch::Tensor conv_forward(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                           c10::IntArrayRef stride, c10::IntArrayRef padding) {
  // ATen routes a CPU fp32 conv to oneDNN only when N*C*D*H (N*C*H*W in 2D) of the input exceeds 20480
  // or its kernel is large (ConvParams::use_mkldnn); below that it takes the im2col path ("slow_conv3d"),
  // 2-3x slower at the VAE's 384-channel stages (a 16x28 latent: 384*3*16 = 18432). The official code
  // pads H and W in the input (F.pad), which happens to push those convs over the threshold; passing the
  // padding to the conv (no padded copy) must choose oneDNN itself. Inference only: training keeps ATen's
  // choice and its autograd formulas.
  if (x.device().is_cpu() && x.scalar_type() == torch::kFloat32 && !torch::GradMode::is_enabled() &&
      at::globalContext().userEnabledMkldnn() && at::hasMKLDNN()) {
    const std::vector<int64_t> dilation(stride.size(), 1);
    return at::mkldnn_convolution(x.contiguous(), weight.contiguous(), bias, padding, stride, dilation, /*groups=*/1);
  }
  if (weight.dim() == 5) return torch::conv3d(x, weight, bias, stride, padding);
  return torch::conv2d(x, weight, bias, stride, padding);
}

torch::Tensor ConvNdImpl::forward(const torch::Tensor& x) { return conv_forward(x, weight, bias, stride, padding); }

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
    if (name.size() >= 5 && name.compare(name.size() - 5, 5, "gamma") == 0) {
      p.fill_(1.0);  // RMS_norm.gamma ([C, 1, 1, 1] in the VAE) starts at one
      continue;
    }
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
