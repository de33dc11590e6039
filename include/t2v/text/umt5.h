// umT5 encoder (the text encoder of Wan 2.1/2.2). Mirrors W21 wan/modules/t5.py T5Encoder with
// shared_pos=False (T5SelfAttention, T5Attention, T5FeedForward, T5LayerNorm, T5RelativeEmbedding),
// but registers its parameters under the HF UMT5EncoderModel names (spec §1.5 b), so the strict
// loader fills it from diffusers/ComfyUI checkpoints directly:
//   shared.weight
//   encoder.block.N.layer.0.{layer_norm, SelfAttention.{q,k,v,o,relative_attention_bias}}.weight
//   encoder.block.N.layer.1.{layer_norm, DenseReluDense.{wi_0,wi_1,wo}}.weight
//   encoder.final_layer_norm.weight
// Deliberate differences:
// * `compute_dtype` may differ from the storage dtype: the model then behaves exactly as if it
//   had been loaded in compute_dtype, converting each weight just before use (bf16 storage with
//   fp32 compute keeps memory at bf16 size where the CPU has no fast bf16 matmul).
// * Relative-position buckets are always computed on the CPU in fp32 (the reference computes them
//   on the weights' device); see relative_position_bucket.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <vector>

#include "t2v/models/layers.h"
#include "t2v/models/wan/config.h"

namespace t2v::text {

struct UMT5Options {
  torch::Dtype dtype = torch::kFloat32;          // storage dtype of the weights
  torch::Device device = torch::kCPU;
  c10::optional<torch::Dtype> compute_dtype;     // unset: same as dtype
  torch::Dtype math_dtype() const { return compute_dtype.value_or(dtype); }
};

// T5 bidirectional bucket of each relative position (key index - query index), as W21
// T5RelativeEmbedding._relative_position_bucket computes it: int64 -> fp32 log ratio -> truncation.
// `rel`: int64 tensor of any shape (CPU). Returns int64 buckets of the same shape.
torch::Tensor relative_position_bucket(const torch::Tensor& rel, int64_t num_buckets, int64_t max_distance);
// Buckets of the [lq, lk] relative-position matrix.
torch::Tensor relative_position_buckets(int64_t lq, int64_t lk, int64_t num_buckets, int64_t max_distance);

// T5LayerNorm: w * cast(x * rsqrt(mean(x.float()^2) + eps)); the cast to the weight dtype happens
// before the multiply when the weight is fp16/bf16 (W21 T5LayerNorm; HF UMT5LayerNorm).
torch::Tensor t5_rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps);
// W21 fp16_clamp: clamps to +-(fp16 max - 1000) when x is fp16 and holds an inf; other dtypes pass.
torch::Tensor fp16_clamp(torch::Tensor x);
// Tanh GELU written out as W21 t5.py GELU does (same op order, so bf16 rounding matches).
torch::Tensor gelu_tanh(const torch::Tensor& x);

// W21 T5Attention + T5RelativeEmbedding (HF UMT5Attention).
class UMT5AttentionImpl : public torch::nn::Module {
 public:
  UMT5AttentionImpl(const wan::UMT5Config& config, const UMT5Options& options);
  // x: [B, L, d_model] in the compute dtype; key_mask: [B, L] (0 = padded key).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& key_mask, const torch::Tensor& buckets);
  // This layer's bias [1, heads, Lq, Lk] for the given bucket matrix, in `dtype`.
  torch::Tensor position_bias(const torch::Tensor& buckets, torch::Dtype dtype);

  nn::Linear q{nullptr}, k{nullptr}, v{nullptr}, o{nullptr};
  nn::Embedding relative_attention_bias{nullptr};  // [num_buckets, heads]

 private:
  int64_t num_heads_, d_kv_;
};
TORCH_MODULE(UMT5Attention);

// layer.0: pre-norm self-attention (HF UMT5LayerSelfAttention; W21 norm1 + attn).
class UMT5LayerSelfAttentionImpl : public torch::nn::Module {
 public:
  UMT5LayerSelfAttentionImpl(const wan::UMT5Config& config, const UMT5Options& options);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& key_mask, const torch::Tensor& buckets);
  UMT5Attention SelfAttention{nullptr};
  nn::NormWeight layer_norm{nullptr};

 private:
  double eps_;
};
TORCH_MODULE(UMT5LayerSelfAttention);

// Gated-GELU FFN: wo(gelu_tanh(wi_0 x) * wi_1 x) (W21 T5FeedForward: gate.0 = wi_0, fc1 = wi_1,
// fc2 = wo).
class UMT5DenseGatedActDenseImpl : public torch::nn::Module {
 public:
  UMT5DenseGatedActDenseImpl(const wan::UMT5Config& config, const UMT5Options& options);
  torch::Tensor forward(const torch::Tensor& x);
  nn::Linear wi_0{nullptr}, wi_1{nullptr}, wo{nullptr};
};
TORCH_MODULE(UMT5DenseGatedActDense);

// layer.1: pre-norm FFN (HF UMT5LayerFF; W21 norm2 + ffn).
class UMT5LayerFFImpl : public torch::nn::Module {
 public:
  UMT5LayerFFImpl(const wan::UMT5Config& config, const UMT5Options& options);
  torch::Tensor forward(const torch::Tensor& x);
  UMT5DenseGatedActDense DenseReluDense{nullptr};
  nn::NormWeight layer_norm{nullptr};

 private:
  double eps_;
};
TORCH_MODULE(UMT5LayerFF);

// One encoder block (W21 T5SelfAttention with its own pos_embedding; HF UMT5Block).
class UMT5BlockImpl : public torch::nn::Module {
 public:
  UMT5BlockImpl(const wan::UMT5Config& config, const UMT5Options& options);
  // Residual adds with fp16_clamp (only acts on fp16 activations, as in the reference).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& key_mask, const torch::Tensor& buckets);
  torch::nn::ModuleList layer;  // [0] self-attention, [1] feed-forward
  UMT5LayerSelfAttention self_attention{nullptr};
  UMT5LayerFF feed_forward{nullptr};
};
TORCH_MODULE(UMT5Block);

// HF UMT5Stack (encoder part) without the embedding: blocks + final norm.
class UMT5StackImpl : public torch::nn::Module {
 public:
  UMT5StackImpl(const wan::UMT5Config& config, const UMT5Options& options);
  torch::nn::ModuleList block;
  std::vector<UMT5Block> blocks;  // typed view of `block`
  nn::NormWeight final_layer_norm{nullptr};
};
TORCH_MODULE(UMT5Stack);

// Named intermediates for debugging against the reference (fixtures' debug.* tensors).
struct UMT5Debug {
  std::vector<torch::Tensor> layer_outputs;  // each block's output [B, L, d_model], before the final norm
};

class UMT5EncoderModelImpl : public torch::nn::Module {
 public:
  UMT5EncoderModelImpl(const wan::UMT5Config& config, const UMT5Options& options = {});
  // ids, mask: int64 [B, L] (any device). Returns last_hidden_state [B, L, d_model] in the compute
  // dtype on the model's device. Positions with mask 0 are computed too (they attend to the valid
  // keys only); Wan discards them.
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& mask, UMT5Debug* debug = nullptr);

  const wan::UMT5Config& config() const { return config_; }
  const UMT5Options& options() const { return options_; }
  // Changes the math dtype without touching the stored weights (unset: storage dtype).
  void set_compute_dtype(c10::optional<torch::Dtype> dtype);

  nn::Embedding shared{nullptr};  // [vocab_size, d_model]
  UMT5Stack encoder{nullptr};

 private:
  wan::UMT5Config config_;
  UMT5Options options_;
};
TORCH_MODULE(UMT5EncoderModel);

// Weight with the compute dtype applied (a converted copy when storage and compute dtypes differ).
torch::Tensor weight_as(const torch::Tensor& weight, torch::Dtype dtype);

}  // namespace t2v::text
