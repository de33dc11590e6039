// umT5 encoder. Reference: W21 wan/modules/t5.py (T5Encoder, T5SelfAttention, T5Attention,
// T5FeedForward, T5LayerNorm, T5RelativeEmbedding, fp16_clamp); names: HF modeling_umt5.py.
// Differences from the reference are listed in t2v/text/umt5.h.
#include "t2v/text/umt5.h"

#include <torch/torch.h>
#include <torch/version.h>

#include <cmath>
#include <limits>

#include "t2v/error.h"

namespace t2v::text {

namespace {

void validate(const wan::UMT5Config& c) {
  auto require = [&](bool ok, const std::string& what, int64_t got) {
    if (!ok) throw ConfigError("umT5 config: " + what + ", got " + std::to_string(got));
  };
  require(c.vocab_size > 0, "vocab_size must be > 0", c.vocab_size);
  require(c.d_model > 0, "d_model must be > 0", c.d_model);
  require(c.d_kv > 0, "d_kv must be > 0", c.d_kv);
  require(c.num_heads > 0, "num_heads must be > 0", c.num_heads);
  require(c.d_ff > 0, "d_ff must be > 0", c.d_ff);
  require(c.num_layers > 0, "num_layers must be > 0", c.num_layers);
  // Bidirectional buckets: half per direction, half of those exact, so num_buckets/4 >= 1.
  require(c.num_buckets >= 4 && c.num_buckets % 2 == 0, "relative_attention_num_buckets must be even and >= 4",
          c.num_buckets);
  require(c.max_distance > c.num_buckets / 4, "relative_attention_max_distance must exceed num_buckets/4",
          c.max_distance);
}

// torch.finfo(dtype).min: the reference fills masked keys with it.
double lowest(torch::Dtype dtype) {
  switch (dtype) {
    case torch::kFloat32: return std::numeric_limits<float>::lowest();
    case torch::kFloat64: return std::numeric_limits<double>::lowest();
    case torch::kBFloat16: return static_cast<float>(std::numeric_limits<c10::BFloat16>::lowest());
    case torch::kFloat16: return static_cast<float>(std::numeric_limits<c10::Half>::lowest());
    default: throw ConfigError(std::string("umT5: unsupported activation dtype ") + c10::toString(dtype));
  }
}

torch::Tensor linear(const torch::Tensor& x, const nn::Linear& layer) {
  return torch::linear(x, weight_as(layer->weight, x.scalar_type()));
}

void check_math_dtype(const UMT5Options& options) {
  const auto dtype = options.math_dtype();
  if (dtype != torch::kFloat32 && dtype != torch::kBFloat16 && dtype != torch::kFloat16 && dtype != torch::kFloat64) {
    throw ConfigError(std::string("umT5: unsupported dtype ") + c10::toString(dtype) + " (fp32, bf16 or fp16)");
  }
#if TORCH_VERSION_MAJOR < 2
  // LibTorch 1.x has no fp16 matmul on the CPU ("addmm_impl_cpu_" not implemented for 'Half').
  if (options.device.is_cpu() && dtype == torch::kFloat16) {
    throw ConfigError("umT5: fp16 math is not supported on the CPU by LibTorch " TORCH_VERSION
                      "; use bf16 or fp32 math (fp16 storage with compute dtype fp32 works)");
  }
#endif
}

}  // namespace

torch::Tensor fp16_clamp(torch::Tensor x) {
  if (x.scalar_type() == torch::kFloat16 && torch::isinf(x).any().item<bool>()) {
    const double clamp = static_cast<float>(std::numeric_limits<c10::Half>::max()) - 1000.0;  // finfo.max - 1000
    // Clamped in fp32 (LibTorch 1.x has no CPU clamp for Half); rounding the bound back to fp16
    // gives the same value (64512) as the reference's fp16 clamp.
    x = torch::clamp(x.to(torch::kFloat32), -clamp, clamp).to(torch::kFloat16);
  }
  return x;
}

torch::Tensor weight_as(const torch::Tensor& weight, torch::Dtype dtype) {
  return weight.scalar_type() == dtype ? weight : weight.to(dtype);
}

torch::Tensor relative_position_bucket(const torch::Tensor& rel, int64_t num_buckets, int64_t max_distance) {
  // Same tensor ops as the reference (fp32 log ratio, .long() truncation), so the boundaries that
  // fall exactly on integers (|rel| = 16, 32, 64 for 32/128) land where the reference puts them.
  const int64_t half = num_buckets / 2;  // buckets per direction
  auto buckets = (rel > 0).to(torch::kInt64) * half;
  auto a = torch::abs(rel);
  const int64_t max_exact = half / 2;
  auto large = (torch::log(a.to(torch::kFloat32) / max_exact) /
                std::log(static_cast<double>(max_distance) / static_cast<double>(max_exact)) * (half - max_exact))
                   .to(torch::kInt64) +
               max_exact;
  large = torch::min(large, torch::full_like(large, half - 1));
  return buckets + torch::where(a < max_exact, a, large);
}

torch::Tensor relative_position_buckets(int64_t lq, int64_t lk, int64_t num_buckets, int64_t max_distance) {
  auto rel = torch::arange(lk, torch::kInt64).unsqueeze(0) - torch::arange(lq, torch::kInt64).unsqueeze(1);  // [Lq, Lk]
  return relative_position_bucket(rel, num_buckets, max_distance);
}

torch::Tensor t5_rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  // The product with the fp32 rsqrt promotes x to fp32 (as in the reference).
  auto y = x * torch::rsqrt(x.to(torch::kFloat32).pow(2).mean(-1, /*keepdim=*/true) + eps);
  if (weight.scalar_type() == torch::kFloat16 || weight.scalar_type() == torch::kBFloat16) {
    y = y.to(weight.scalar_type());  // cast before the multiply: bf16 x bf16 as in the reference
  }
  return weight * y;
}

torch::Tensor gelu_tanh(const torch::Tensor& x) {
  // 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3))), evaluated left to right like Python.
  auto inner = (x + torch::pow(x, 3.0) * 0.044715) * std::sqrt(2.0 / M_PI);
  return (x * 0.5) * (torch::tanh(inner) + 1.0);
}

// ---------------------------------------------------------------------------------------------
UMT5AttentionImpl::UMT5AttentionImpl(const wan::UMT5Config& config, const UMT5Options& options)
    : num_heads_(config.num_heads), d_kv_(config.d_kv) {
  const auto opts = torch::TensorOptions().dtype(options.dtype).device(options.device);
  const int64_t inner = config.inner_dim();
  q = register_module("q", nn::Linear(config.d_model, inner, false, opts));
  k = register_module("k", nn::Linear(config.d_model, inner, false, opts));
  v = register_module("v", nn::Linear(config.d_model, inner, false, opts));
  o = register_module("o", nn::Linear(inner, config.d_model, false, opts));
  relative_attention_bias =
      register_module("relative_attention_bias", nn::Embedding(config.num_buckets, config.num_heads, opts));
}

torch::Tensor UMT5AttentionImpl::position_bias(const torch::Tensor& buckets, torch::Dtype dtype) {
  auto table = weight_as(relative_attention_bias->weight, dtype);
  auto bias = torch::embedding(table, buckets.to(table.device()));  // [Lq, Lk, heads]
  return bias.permute({2, 0, 1}).unsqueeze(0).contiguous();          // [1, heads, Lq, Lk]
}

torch::Tensor UMT5AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& key_mask,
                                         const torch::Tensor& buckets) {
  const int64_t b = x.size(0), l = x.size(1);
  auto q_ = linear(x, q).view({b, l, num_heads_, d_kv_}).transpose(1, 2);  // [B, heads, L, d_kv]
  auto k_ = linear(x, k).view({b, l, num_heads_, d_kv_}).transpose(1, 2);  // [B, heads, L, d_kv]
  auto v_ = linear(x, v).view({b, l, num_heads_, d_kv_}).transpose(1, 2);  // [B, heads, L, d_kv]

  // Bias in the activation dtype: position bias, then padded KEYS set to finfo(dtype).min.
  const auto dtype = x.scalar_type();
  auto bias = position_bias(buckets, dtype).expand({b, num_heads_, l, l});  // [B, heads, Lq, Lk]
  bias = bias.masked_fill(key_mask.view({b, 1, 1, l}).eq(0), lowest(dtype));

  // T5 does not scale the scores by 1/sqrt(d_kv) (folded into the initialisation).
  auto scores = torch::matmul(q_, k_.transpose(-1, -2)) + bias;                   // [B, heads, Lq, Lk]
  auto attn = torch::softmax(scores.to(torch::kFloat32), -1).to(dtype);           // fp32 softmax
  auto out = torch::matmul(attn, v_).transpose(1, 2).reshape({b, l, num_heads_ * d_kv_});  // [B, L, inner]
  return linear(out, o);                                                                  // [B, L, d_model]
}

UMT5LayerSelfAttentionImpl::UMT5LayerSelfAttentionImpl(const wan::UMT5Config& config, const UMT5Options& options)
    : eps_(config.eps) {
  const auto opts = torch::TensorOptions().dtype(options.dtype).device(options.device);
  SelfAttention = register_module("SelfAttention", UMT5Attention(config, options));
  layer_norm = register_module("layer_norm", nn::NormWeight(std::vector<int64_t>{config.d_model}, false, opts));
}

torch::Tensor UMT5LayerSelfAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& key_mask,
                                                  const torch::Tensor& buckets) {
  return SelfAttention->forward(t5_rms_norm(x, weight_as(layer_norm->weight, x.scalar_type()), eps_), key_mask,
                                buckets);
}

UMT5DenseGatedActDenseImpl::UMT5DenseGatedActDenseImpl(const wan::UMT5Config& config, const UMT5Options& options) {
  const auto opts = torch::TensorOptions().dtype(options.dtype).device(options.device);
  wi_0 = register_module("wi_0", nn::Linear(config.d_model, config.d_ff, false, opts));
  wi_1 = register_module("wi_1", nn::Linear(config.d_model, config.d_ff, false, opts));
  wo = register_module("wo", nn::Linear(config.d_ff, config.d_model, false, opts));
}

torch::Tensor UMT5DenseGatedActDenseImpl::forward(const torch::Tensor& x) {
  // W21: fc2(fc1(x) * gate(x)); wi_0 (= gate.0) carries the GELU.
  auto h = linear(x, wi_1) * gelu_tanh(linear(x, wi_0));  // [B, L, d_ff]
  return linear(h, wo);                                     // [B, L, d_model]
}

UMT5LayerFFImpl::UMT5LayerFFImpl(const wan::UMT5Config& config, const UMT5Options& options) : eps_(config.eps) {
  const auto opts = torch::TensorOptions().dtype(options.dtype).device(options.device);
  DenseReluDense = register_module("DenseReluDense", UMT5DenseGatedActDense(config, options));
  layer_norm = register_module("layer_norm", nn::NormWeight(std::vector<int64_t>{config.d_model}, false, opts));
}

torch::Tensor UMT5LayerFFImpl::forward(const torch::Tensor& x) {
  return DenseReluDense->forward(t5_rms_norm(x, weight_as(layer_norm->weight, x.scalar_type()), eps_));
}

UMT5BlockImpl::UMT5BlockImpl(const wan::UMT5Config& config, const UMT5Options& options) {
  self_attention = UMT5LayerSelfAttention(config, options);
  feed_forward = UMT5LayerFF(config, options);
  layer->push_back(self_attention);  // layer.0
  layer->push_back(feed_forward);    // layer.1
  register_module("layer", layer);
}

torch::Tensor UMT5BlockImpl::forward(const torch::Tensor& x_in, const torch::Tensor& key_mask,
                                     const torch::Tensor& buckets) {
  auto x = fp16_clamp(x_in + self_attention->forward(x_in, key_mask, buckets));
  return fp16_clamp(x + feed_forward->forward(x));
}

UMT5StackImpl::UMT5StackImpl(const wan::UMT5Config& config, const UMT5Options& options) {
  const auto opts = torch::TensorOptions().dtype(options.dtype).device(options.device);
  for (int64_t i = 0; i < config.num_layers; ++i) {
    blocks.emplace_back(config, options);
    block->push_back(blocks.back());
  }
  register_module("block", block);
  final_layer_norm =
      register_module("final_layer_norm", nn::NormWeight(std::vector<int64_t>{config.d_model}, false, opts));
}

UMT5EncoderModelImpl::UMT5EncoderModelImpl(const wan::UMT5Config& config, const UMT5Options& options)
    : config_(config), options_(options) {
  validate(config_);
  check_math_dtype(options_);
  const auto opts = torch::TensorOptions().dtype(options.dtype).device(options.device);
  shared = register_module("shared", nn::Embedding(config.vocab_size, config.d_model, opts));
  encoder = register_module("encoder", UMT5Stack(config, options));
}

void UMT5EncoderModelImpl::set_compute_dtype(c10::optional<torch::Dtype> dtype) {
  UMT5Options updated = options_;
  updated.compute_dtype = dtype;
  check_math_dtype(updated);
  options_ = updated;
}

torch::Tensor UMT5EncoderModelImpl::forward(const torch::Tensor& ids, const torch::Tensor& mask, UMT5Debug* debug) {
  // No NoGradGuard here (like the DiT and VAE): loaded parameters do not require grad, so
  // inference records nothing, and the demo trainer (tools/train_demo) can fine-tune the encoder.
  if (ids.dim() != 2 || mask.sizes() != ids.sizes()) {
    throw InputError("umT5: ids and mask must both be [B, L]; got ids " + c10::str(ids.sizes()) + ", mask " +
                     c10::str(mask.sizes()));
  }
  const auto device = shared->weight.device();
  const auto dtype = options_.math_dtype();
  const auto ids_d = ids.to(device, torch::kInt64);
  const auto mask_d = mask.to(device, torch::kInt64);
  if (ids_d.numel() > 0 && (ids_d.min().item<int64_t>() < 0 || ids_d.max().item<int64_t>() >= config_.vocab_size)) {
    throw InputError("umT5: token id out of range [0, " + std::to_string(config_.vocab_size) + ")");
  }
  const int64_t l = ids.size(1);
  const auto buckets = relative_position_buckets(l, l, config_.num_buckets, config_.max_distance).to(device);

  auto x = torch::embedding(shared->weight, ids_d).to(dtype);  // [B, L, d_model]; no sqrt(d) scaling
  if (debug) debug->layer_outputs.clear();
  for (auto& blk : encoder->blocks) {
    x = blk->forward(x, mask_d, buckets);
    if (debug) debug->layer_outputs.push_back(x);
  }
  return t5_rms_norm(x, weight_as(encoder->final_layer_norm->weight, dtype), config_.eps);
}

}  // namespace t2v::text
