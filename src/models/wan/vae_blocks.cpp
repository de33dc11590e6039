// Wan2.1 VAE building blocks. Mirrors W21 wan/modules/vae.py: CausalConv3d, RMS_norm, Resample,
// ResidualBlock, AttentionBlock and the cached-conv pattern of their forward(feat_cache, feat_idx);
// names from DF autoencoder_kl_wan.py (WanCausalConv3d, WanResidualBlock, WanMidBlock, ...).
// Differences: the cache is an explicit CausalCache (not a list + index in module attributes);
// spatial zero padding is the conv's own padding (same values as the reference's F.pad).
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <cmath>

#include "t2v/models/wan/vae.h"

namespace t2v::wan::vae {

namespace {
// Last min(T, n) frames of x as a tensor that owns its memory (so x can be freed).
torch::Tensor last_frames(const torch::Tensor& x, int64_t n) {
  const int64_t t = x.size(2);
  const int64_t k = std::min(t, n);
  return x.narrow(2, t - k, k).clone();
}
}  // namespace

// ------------------------------------------------------------------------------- CausalCache

CausalCache::Slot& CausalCache::next() {
  if (index_ == slots_.size()) slots_.emplace_back();
  return slots_[index_++];
}

int64_t CausalCache::bytes() const {
  int64_t total = 0;
  for (const auto& s : slots_) {
    if (s.frames.defined()) total += s.frames.numel() * static_cast<int64_t>(s.frames.element_size());
  }
  return total;
}

// ------------------------------------------------------------------------------ CausalConv3d

CausalConv3dImpl::CausalConv3dImpl(int64_t in, int64_t out, std::vector<int64_t> kernel,
                                   std::vector<int64_t> stride, std::vector<int64_t> padding,
                                   const torch::TensorOptions& options)
    // Time padding is applied by hand (causal, in front); the conv pads only H and W.
    : ConvNdImpl(in, out, kernel, stride, {0, padding.at(1), padding.at(2)}, /*bias=*/true, options),
      time_pad_(2 * padding.at(0)) {}

torch::Tensor CausalConv3dImpl::forward(const torch::Tensor& x, const torch::Tensor& cache) {
  if (time_pad_ == 0) return ConvNdImpl::forward(x);
  const int64_t cached = cache.defined() ? cache.size(2) : 0;
  const int64_t zeros = time_pad_ - cached;
  TORCH_CHECK(zeros >= 0, "CausalConv3d: cache of ", cached, " frames exceeds the temporal padding ", time_pad_);
  const int64_t kt = weight.size(2);
  if (cached == 0 && zeros == kt - 1 && stride[0] == 1 && !(torch::GradMode::is_enabled() && x.requires_grad())) {
    // A video's first chunk: the causal zero frames add exact zeros, so output frame t < kt-1 is the
    // conv of input frames 0..t with the last t+1 temporal taps only (kt times fewer FLOPs for the
    // decoder's 1-frame first chunk, which otherwise convolves two frames of zeros at every layer).
    const int64_t frames = x.size(2);
    std::vector<torch::Tensor> outs;
    for (int64_t t = 0; t < std::min(zeros, frames); ++t) {
      outs.push_back(t2v::nn::conv_forward(x.narrow(2, 0, t + 1), weight.narrow(2, zeros - t, t + 1), bias, stride,
                                           padding));  // [B, out, 1, H', W'] (padding: H and W only)
    }
    if (frames > zeros) outs.push_back(t2v::nn::conv_forward(x, weight, bias, stride, padding));  // [B, out, T - zeros, H', W']
    return outs.size() == 1 ? outs[0] : torch::cat(outs, 2);                              // [B, out, T, H', W']
  }
  std::vector<torch::Tensor> parts;
  parts.reserve(3);
  if (zeros > 0) parts.push_back(torch::zeros({x.size(0), x.size(1), zeros, x.size(3), x.size(4)}, x.options()));
  if (cached > 0) parts.push_back(cache.to(x.device()));
  parts.push_back(x);
  return ConvNdImpl::forward(torch::cat(parts, 2));  // [B, C, zeros + cached + T, H, W] -> [B, out, T, H, W]
}

torch::Tensor CausalConv3dImpl::forward_cached(const torch::Tensor& x, CausalCache& cache) {
  auto& slot = cache.next();
  // The cache keeps the last 2 input frames; a 1-frame chunk borrows the previous chunk's last one.
  torch::Tensor keep = last_frames(x, kCacheFrames);
  if (keep.size(2) < kCacheFrames && slot.state == CausalCache::State::kFrames) {
    keep = torch::cat({slot.frames.narrow(2, slot.frames.size(2) - 1, 1), keep}, 2);
  }
  auto out = forward(x, slot.state == CausalCache::State::kFrames ? slot.frames : torch::Tensor());
  slot.frames = std::move(keep);
  slot.state = CausalCache::State::kFrames;
  return out;
}

// ---------------------------------------------------------------------------------- RMS_norm

namespace {
// The same normalisation in two passes over contiguous fp32 x [B, C, ...] (the tensor form takes five:
// norm, div and two products, with a strided reduction over C): per position, the channels' sum of
// squares in double; then x · sqrt(C)·gamma_c / max(||x||, 1e-12). The order of roundings differs from
// F.normalize's by an ulp or two.
torch::Tensor rms_norm_cpu_fp32(const torch::Tensor& x_in, const torch::Tensor& gamma) {
  const auto x = x_in.contiguous();
  const int64_t batch = x.size(0), channels = x.size(1), positions = x.numel() / std::max<int64_t>(1, batch * channels);
  auto out = torch::empty_like(x);
  const auto g = gamma.to(torch::kFloat64).contiguous().view({-1});
  TORCH_CHECK(g.numel() == channels, "rms_norm: gamma has ", g.numel(), " values for ", channels, " channels");
  const float* xp = x.data_ptr<float>();
  float* op = out.data_ptr<float>();
  const double* gp = g.data_ptr<double>();
  const double root_c = std::sqrt(static_cast<double>(channels));
  constexpr int64_t kBlock = 512;  // positions per task: C rows of 2 KiB stay in cache between the passes
  const int64_t blocks = (positions + kBlock - 1) / kBlock;
  at::parallel_for(0, batch * blocks, 1, [&](int64_t begin, int64_t end) {
    double inv[kBlock];
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / blocks, p0 = (task % blocks) * kBlock, n = std::min(kBlock, positions - p0);
      const float* xb = xp + b * channels * positions + p0;
      float* ob = op + b * channels * positions + p0;
      for (int64_t i = 0; i < n; ++i) inv[i] = 0.0;
      for (int64_t c = 0; c < channels; ++c) {
        const float* row = xb + c * positions;
        for (int64_t i = 0; i < n; ++i) inv[i] += static_cast<double>(row[i]) * row[i];
      }
      for (int64_t i = 0; i < n; ++i) inv[i] = 1.0 / std::max(std::sqrt(inv[i]), 1e-12);
      for (int64_t c = 0; c < channels; ++c) {
        const float* row = xb + c * positions;
        float* orow = ob + c * positions;
        const double k = root_c * gp[c];
        for (int64_t i = 0; i < n; ++i) orow[i] = static_cast<float>(row[i] * (inv[i] * k));
      }
    }
  });
  return out;
}
}  // namespace

torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& gamma) {
  if (x.device().is_cpu() && x.scalar_type() == torch::kFloat && x.dim() >= 3 &&
      !(torch::GradMode::is_enabled() && (x.requires_grad() || gamma.requires_grad()))) {
    return rms_norm_cpu_fp32(x, gamma);
  }
  // F.normalize(x, dim=1): x / max(||x||_2, 1e-12) over channels; then * sqrt(C) * gamma.
  auto denom = x.norm(2, {1}, /*keepdim=*/true).clamp_min(1e-12);  // [B, 1, ...]
  return x.div(denom).mul_(std::sqrt(static_cast<double>(x.size(1)))).mul_(gamma);
}

torch::Tensor rms_norm_silu(const torch::Tensor& x, const torch::Tensor& gamma) {
  auto y = rms_norm(x, gamma);
  torch::silu_(y);
  return y;
}

// ----------------------------------------------------------------------------- ResidualBlock

ResidualBlockImpl::ResidualBlockImpl(int64_t in, int64_t out, const torch::TensorOptions& options) {
  norm1_ = register_module("norm1", t2v::nn::NormWeight(std::vector<int64_t>{in, 1, 1, 1}, false, options, "gamma"));
  conv1_ = register_module("conv1", CausalConv3d(in, out, std::vector<int64_t>{3, 3, 3}, std::vector<int64_t>{1, 1, 1},
                                                 std::vector<int64_t>{1, 1, 1}, options));
  norm2_ = register_module("norm2", t2v::nn::NormWeight(std::vector<int64_t>{out, 1, 1, 1}, false, options, "gamma"));
  conv2_ = register_module("conv2", CausalConv3d(out, out, std::vector<int64_t>{3, 3, 3}, std::vector<int64_t>{1, 1, 1},
                                                 std::vector<int64_t>{1, 1, 1}, options));
  if (in != out) {
    conv_shortcut_ = register_module("conv_shortcut", CausalConv3d(in, out, std::vector<int64_t>{1, 1, 1},
                                                                   std::vector<int64_t>{1, 1, 1},
                                                                   std::vector<int64_t>{0, 0, 0}, options));
  }
}

torch::Tensor ResidualBlockImpl::forward(const torch::Tensor& x, CausalCache& cache) {
  torch::Tensor h = conv_shortcut_.is_empty() ? x : conv_shortcut_->forward(x);
  // Dropout is 0 at inference; the cached frames are the conv inputs (after norm + SiLU).
  auto y = rms_norm_silu(x, norm1_->weight);
  y = conv1_->forward_cached(y, cache);  // [B, out, T, H, W]
  y = rms_norm_silu(y, norm2_->weight);
  y = conv2_->forward_cached(y, cache);
  return y.add_(h);
}

// ---------------------------------------------------------------------------- AttentionBlock

AttentionBlockImpl::AttentionBlockImpl(int64_t dim, const torch::TensorOptions& options) {
  norm_ = register_module("norm", t2v::nn::NormWeight(std::vector<int64_t>{dim, 1, 1}, false, options, "gamma"));
  to_qkv_ = register_module("to_qkv", t2v::nn::ConvNd(dim, 3 * dim, std::vector<int64_t>{1, 1},
                                                      std::vector<int64_t>{1, 1}, std::vector<int64_t>{0, 0}, true,
                                                      options));
  proj_ = register_module("proj", t2v::nn::ConvNd(dim, dim, std::vector<int64_t>{1, 1}, std::vector<int64_t>{1, 1},
                                                  std::vector<int64_t>{0, 0}, true, options));
}

torch::Tensor AttentionBlockImpl::forward(const torch::Tensor& x) {
  const int64_t b = x.size(0), c = x.size(1), t = x.size(2), h = x.size(3), w = x.size(4);
  // Frames are independent: fold time into the batch.
  auto y = x.transpose(1, 2).reshape({b * t, c, h, w});                     // [(B T), C, H, W]
  y = rms_norm(y, norm_->weight);
  auto qkv = to_qkv_->forward(y).reshape({b * t, 3 * c, h * w}).transpose(1, 2);  // [(B T), HW, 3C]
  auto q = qkv.narrow(2, 0, c), k = qkv.narrow(2, c, c), v = qkv.narrow(2, 2 * c, c);
  // Single head, scale 1/sqrt(C) (F.scaled_dot_product_attention defaults).
  auto attn = torch::matmul(q, k.transpose(1, 2)).mul_(1.0 / std::sqrt(static_cast<double>(c))).softmax(-1);  // [(B T), HW, HW]
  y = torch::matmul(attn, v);                                                // [(B T), HW, C]
  attn = torch::Tensor();
  y = proj_->forward(y.transpose(1, 2).reshape({b * t, c, h, w}));           // [(B T), C, H, W]
  return y.reshape({b, t, c, h, w}).transpose(1, 2).add(x);                 // [B, C, T, H, W]
}

// ---------------------------------------------------------------------------------- Resample

ResampleImpl::ResampleImpl(int64_t dim, Mode mode, const torch::TensorOptions& options, bool keep_channels)
    : mode_(mode) {
  const bool up = mode == Mode::kUpsample2d || mode == Mode::kUpsample3d;
  // `resample` is a Sequential whose index 0 (Upsample / ZeroPad2d) has no parameters.
  auto seq = register_module("resample", torch::nn::ModuleList());
  seq->push_back(torch::nn::Identity());
  if (up) {
    conv_ = t2v::nn::ConvNd(dim, keep_channels ? dim : dim / 2, std::vector<int64_t>{3, 3}, std::vector<int64_t>{1, 1},
                            std::vector<int64_t>{1, 1}, true, options);
  } else {
    conv_ = t2v::nn::ConvNd(dim, dim, std::vector<int64_t>{3, 3}, std::vector<int64_t>{2, 2},
                            std::vector<int64_t>{0, 0}, true, options);
  }
  seq->push_back(conv_);
  if (mode == Mode::kUpsample3d) {
    time_conv_ = register_module("time_conv", CausalConv3d(dim, 2 * dim, std::vector<int64_t>{3, 1, 1},
                                                           std::vector<int64_t>{1, 1, 1},
                                                           std::vector<int64_t>{1, 0, 0}, options));
  } else if (mode == Mode::kDownsample3d) {
    time_conv_ = register_module("time_conv", CausalConv3d(dim, dim, std::vector<int64_t>{3, 1, 1},
                                                           std::vector<int64_t>{2, 1, 1},
                                                           std::vector<int64_t>{0, 0, 0}, options));
  }
}

torch::Tensor ResampleImpl::spatial(const torch::Tensor& x) {
  const int64_t b = x.size(0), c = x.size(1), t = x.size(2), h = x.size(3), w = x.size(4);
  auto y = x.transpose(1, 2).reshape({b * t, c, h, w});  // [(B T), C, H, W]
  if (mode_ == Mode::kUpsample2d || mode_ == Mode::kUpsample3d) {
    // nearest-exact x2 == each pixel repeated 2x2 (exact copy; the reference upsamples in fp32).
    y = y.unsqueeze(3).unsqueeze(5).expand({b * t, c, h, 2, w, 2}).reshape({b * t, c, 2 * h, 2 * w});
  } else {
    y = torch::constant_pad_nd(y, {0, 1, 0, 1}, 0);  // ZeroPad2d((0, 1, 0, 1)): right and bottom
  }
  y = conv_->forward(y);  // [(B T), C', H', W']
  return y.reshape({b, t, y.size(1), y.size(2), y.size(3)}).transpose(1, 2).contiguous();  // [B, C', T, H', W']
}

torch::Tensor ResampleImpl::forward(const torch::Tensor& x_in, CausalCache& cache) {
  torch::Tensor x = x_in;
  if (mode_ == Mode::kUpsample3d) {
    auto& slot = cache.next();
    if (slot.state == CausalCache::State::kEmpty) {
      // First chunk: no temporal upsampling at all; later chunks must not see its frames ("Rep").
      slot.state = CausalCache::State::kRep;
    } else {
      const int64_t b = x.size(0), c = x.size(1), t = x.size(2), h = x.size(3), w = x.size(4);
      torch::Tensor keep = last_frames(x, kCacheFrames);
      if (keep.size(2) < kCacheFrames) {
        // After "Rep" the missing frame is a zero frame, otherwise the previous chunk's last frame.
        auto before = slot.state == CausalCache::State::kRep ? torch::zeros_like(keep)
                                                              : slot.frames.narrow(2, slot.frames.size(2) - 1, 1);
        keep = torch::cat({before, keep}, 2);
      }
      auto y = time_conv_->forward(x, slot.state == CausalCache::State::kRep ? torch::Tensor() : slot.frames);
      slot.frames = std::move(keep);
      slot.state = CausalCache::State::kFrames;
      // Channels [0:C] -> frame 2i, [C:2C] -> frame 2i+1.
      x = y.view({b, 2, c, t, h, w}).permute({0, 2, 3, 1, 4, 5}).reshape({b, c, 2 * t, h, w});  // [B, C, 2T, H, W]
    }
  }
  x = spatial(x);
  if (mode_ == Mode::kDownsample3d) {
    auto& slot = cache.next();
    torch::Tensor keep = last_frames(x, 1);
    if (slot.state != CausalCache::State::kEmpty) {
      // Stride-2 time conv over [previous chunk's last frame, this chunk] (no padding).
      x = time_conv_->forward(torch::cat({slot.frames, x}, 2));  // [B, C, (1 + T - 3) / 2 + 1, H, W]
    }  // else: first chunk passes without temporal downsampling
    slot.frames = std::move(keep);
    slot.state = CausalCache::State::kFrames;
  }
  return x;
}

// --------------------------------------------------------------- Wan2.2 shortcuts, patchify

torch::Tensor avg_down_3d(const torch::Tensor& x_in, int64_t out, int64_t ft, int64_t fs) {
  const int64_t pad_t = (ft - x_in.size(2) % ft) % ft;
  auto x = pad_t ? torch::constant_pad_nd(x_in, {0, 0, 0, 0, pad_t, 0}, 0) : x_in;  // zeros in front
  const int64_t b = x.size(0), c = x.size(1), t = x.size(2) / ft, h = x.size(3) / fs, w = x.size(4) / fs;
  const int64_t group = c * ft * fs * fs / out;
  x = x.reshape({b, c, t, ft, h, fs, w, fs}).permute({0, 1, 3, 5, 7, 2, 4, 6});  // [B, C, ft, fs, fs, t, h, w]
  return x.reshape({b, out, group, t, h, w}).mean(2);                            // [B, out, t, h, w]
}

torch::Tensor dup_up_3d(const torch::Tensor& x_in, int64_t out, int64_t ft, int64_t fs, bool first_chunk) {
  const int64_t b = x_in.size(0), c = x_in.size(1), t = x_in.size(2), h = x_in.size(3), w = x_in.size(4);
  auto x = x_in.repeat_interleave(out * ft * fs * fs / c, 1);  // [B, out*ft*fs*fs, T, H, W]
  x = x.view({b, out, ft, fs, fs, t, h, w}).permute({0, 1, 5, 2, 6, 3, 7, 4});  // [B, out, T, ft, H, fs, W, fs]
  x = x.reshape({b, out, t * ft, h * fs, w * fs});
  return first_chunk ? x.narrow(2, ft - 1, t * ft - (ft - 1)) : x;
}

torch::Tensor patchify(const torch::Tensor& x, int64_t p) {
  if (p <= 1) return x;
  const int64_t b = x.size(0), c = x.size(1), f = x.size(2), h = x.size(3) / p, w = x.size(4) / p;
  // [B, C, F, h, q, w, r] -> [B, C, r, q, F, h, w]
  return x.reshape({b, c, f, h, p, w, p}).permute({0, 1, 6, 4, 2, 3, 5}).reshape({b, c * p * p, f, h, w});
}

torch::Tensor unpatchify(const torch::Tensor& x, int64_t p) {
  if (p <= 1) return x;
  const int64_t b = x.size(0), c = x.size(1) / (p * p), f = x.size(2), h = x.size(3), w = x.size(4);
  // [B, C, r, q, F, h, w] -> [B, C, F, h, q, w, r]
  return x.reshape({b, c, p, p, f, h, w}).permute({0, 1, 4, 5, 3, 6, 2}).reshape({b, c, f, h * p, w * p});
}

// ---------------------------------------------------------------------------------- MidBlock

MidBlockImpl::MidBlockImpl(int64_t dim, const torch::TensorOptions& options) {
  auto resnets = register_module("resnets", torch::nn::ModuleList());
  auto attentions = register_module("attentions", torch::nn::ModuleList());
  resnet0_ = ResidualBlock(dim, dim, options);
  attention_ = AttentionBlock(dim, options);
  resnet1_ = ResidualBlock(dim, dim, options);
  resnets->push_back(resnet0_);
  resnets->push_back(resnet1_);
  attentions->push_back(attention_);
}

torch::Tensor MidBlockImpl::forward(const torch::Tensor& x, CausalCache& cache) {
  auto y = resnet0_->forward(x, cache);
  y = attention_->forward(y);
  return resnet1_->forward(y, cache);
}

}  // namespace t2v::wan::vae
