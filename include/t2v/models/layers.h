// Minimal parameter-holding layers for checkpoint-loaded models. Unlike torch::nn's layers they
// (a) create parameters directly in the requested dtype/device (a 5.7B-parameter umT5-XXL must be
// built in bf16 on a 24 GB machine, never in fp32 first) and (b) skip random initialisation
// (weights always come from a checkpoint, or from an explicit randomize call in benchmarks).
// Parameter names match torch.nn ("weight", "bias") so checkpoint keys line up.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <vector>

namespace t2v::nn {

class LinearImpl : public torch::nn::Module {
 public:
  LinearImpl(int64_t in, int64_t out, bool bias, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;  // [out, in]
  torch::Tensor bias;    // [out] or undefined
};
TORCH_MODULE(Linear);

// Conv over the last `kernel.size()` dims (2 -> Conv2d, 3 -> Conv3d), explicit zero padding only.
// conv2d / conv3d (by the weight's rank) of x with the given weight; CPU fp32 inference goes to oneDNN.
torch::Tensor conv_forward(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                           c10::IntArrayRef stride, c10::IntArrayRef padding);

class ConvNdImpl : public torch::nn::Module {
 public:
  ConvNdImpl(int64_t in, int64_t out, std::vector<int64_t> kernel, std::vector<int64_t> stride,
             std::vector<int64_t> padding, bool bias, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;  // [out, in, k...]
  torch::Tensor bias;    // [out] or undefined
  std::vector<int64_t> stride, padding;
};
TORCH_MODULE(ConvNd);

class EmbeddingImpl : public torch::nn::Module {
 public:
  EmbeddingImpl(int64_t num, int64_t dim, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& ids);
  torch::Tensor weight;  // [num, dim]
};
TORCH_MODULE(Embedding);

// A module with a single weight vector (RMSNorm / LayerNorm gains); the math lives with the model.
class NormWeightImpl : public torch::nn::Module {
 public:
  NormWeightImpl(std::vector<int64_t> shape, bool bias, const torch::TensorOptions& options,
                 const char* weight_name = "weight");
  torch::Tensor weight;
  torch::Tensor bias;
};
TORCH_MODULE(NormWeight);

// Fills every parameter with N(0, std) (benchmarks of real-size configs without real weights),
// norm-like 1-D parameters with 1 + N(0, std).
void randomize_parameters(torch::nn::Module& module, uint64_t seed, double std = 0.02);
// PyTorch's default initialisation of Linear/Conv layers (weights and biases uniform in
// +-1/sqrt(fan_in)), 1-D non-bias parameters (norm gains) set to one: what the official code's
// modules hold before a checkpoint loads, so side-by-side benchmarks see the same activations.
void init_parameters_like_pytorch(torch::nn::Module& module, uint64_t seed);

}  // namespace t2v::nn
