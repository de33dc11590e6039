// Wan VAE encoder. Mirrors W21 wan/modules/vae.py Encoder3d (flat `downsamples` Sequential of
// ResidualBlocks and Resamples, `middle`, `head`) and W22 wan/modules/vae2_2.py Encoder3d
// (Down_ResidualBlocks); names from DF autoencoder_kl_wan.py WanEncoder3d: conv_in, down_blocks.K
// (is_residual: down_blocks.K.{resnets.R, downsampler}), mid_block, norm_out, conv_out.
// Deliberate difference: attention at `attn_scales` is not supported (empty in every released
// config; the ConfigError is raised by WanVAEImpl).
#include <torch/torch.h>

#include "t2v/models/wan/vae.h"

namespace t2v::wan::vae {

DownBlockImpl::DownBlockImpl(int64_t in, int64_t out, int64_t num_res_blocks, bool temporal, bool down,
                             const torch::TensorOptions& options)
    : out_(out), factor_t_(temporal ? 2 : 1), factor_s_(down ? 2 : 1) {
  auto resnets = register_module("resnets", torch::nn::ModuleList());
  for (int64_t r = 0; r < num_res_blocks; ++r, in = out) {
    resnets_.push_back(ResidualBlock(in, out, options));
    resnets->push_back(resnets_.back());
  }
  if (down) {
    const auto mode = temporal ? ResampleImpl::Mode::kDownsample3d : ResampleImpl::Mode::kDownsample2d;
    downsampler_ = register_module("downsampler", Resample(out, mode, options));
  }
}

torch::Tensor DownBlockImpl::forward(const torch::Tensor& x_in, CausalCache& cache) {
  torch::Tensor x = x_in;
  for (auto& r : resnets_) x = r->forward(x, cache);
  if (!downsampler_.is_empty()) x = downsampler_->forward(x, cache);  // [B, out, T', H/2, W/2]
  // AvgDown3D of the block input (a 1-frame first chunk is averaged with a zero frame in front).
  return x + avg_down_3d(x_in, out_, factor_t_, factor_s_);
}

Encoder3dImpl::Encoder3dImpl(const WanVAEConfig& config, const torch::TensorOptions& options) {
  // dims = base_dim * [1] + dim_mult, e.g. [96, 96, 192, 384, 384]
  std::vector<int64_t> dims = {config.base_dim};
  for (int64_t m : config.dim_mult) dims.push_back(config.base_dim * m);
  const size_t levels = config.dim_mult.size();

  conv_in_ = register_module("conv_in", CausalConv3d(config.in_channels, dims[0], std::vector<int64_t>{3, 3, 3},
                                                     std::vector<int64_t>{1, 1, 1}, std::vector<int64_t>{1, 1, 1},
                                                     options));
  down_blocks_ = register_module("down_blocks", torch::nn::ModuleList());
  int64_t out = dims[0];
  for (size_t i = 0; config.is_residual && i < levels; ++i) {
    out = dims[i + 1];
    const bool temporal = i < config.temperal_downsample.size() && config.temperal_downsample[i];
    residual_blocks_.push_back(DownBlock(dims[i], out, config.num_res_blocks, temporal, i + 1 != levels, options));
    down_blocks_->push_back(residual_blocks_.back());
  }
  for (size_t i = 0; !config.is_residual && i < levels; ++i) {
    int64_t in = dims[i];
    out = dims[i + 1];
    for (int64_t r = 0; r < config.num_res_blocks; ++r) {
      ResidualBlock block(in, out, options);
      down_blocks_->push_back(block);
      resnets_.push_back(block);
      resamples_.push_back(nullptr);
      in = out;
    }
    if (i + 1 != levels) {
      const auto mode = config.temperal_downsample.at(i) ? ResampleImpl::Mode::kDownsample3d
                                                         : ResampleImpl::Mode::kDownsample2d;
      Resample resample(out, mode, options);
      down_blocks_->push_back(resample);
      resnets_.push_back(nullptr);
      resamples_.push_back(resample);
    }
  }
  mid_block_ = register_module("mid_block", MidBlock(out, options));
  norm_out_ = register_module("norm_out",
                              t2v::nn::NormWeight(std::vector<int64_t>{out, 1, 1, 1}, false, options, "gamma"));
  conv_out_ = register_module("conv_out", CausalConv3d(out, 2 * config.z_dim, std::vector<int64_t>{3, 3, 3},
                                                       std::vector<int64_t>{1, 1, 1}, std::vector<int64_t>{1, 1, 1},
                                                       options));
}

torch::Tensor Encoder3dImpl::forward(const torch::Tensor& x_in, CausalCache& cache) {
  auto x = conv_in_->forward_cached(x_in, cache);  // [B, dims[0], T, H, W]
  for (auto& block : residual_blocks_) x = block->forward(x, cache);  // Wan2.2
  for (size_t i = 0; i < resnets_.size(); ++i) {
    // A Resample halves H, W (and, for downsample3d after the first chunk, T).
    x = resnets_[i].is_empty() ? resamples_[i]->forward(x, cache) : resnets_[i]->forward(x, cache);
  }
  x = mid_block_->forward(x, cache);
  x = rms_norm_silu(x, norm_out_->weight);
  return conv_out_->forward_cached(x, cache);  // [B, 2z, t, h, w]
}

}  // namespace t2v::wan::vae
