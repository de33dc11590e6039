// Wan VAE decoder. Mirrors W21 wan/modules/vae.py Decoder3d (conv1, `middle`, flat
// `upsamples` Sequential, `head`) and W22 wan/modules/vae2_2.py Decoder3d (Up_ResidualBlocks), run
// one latent frame per call with the causal cache exactly as WanVAE_.decode does; names from DF
// autoencoder_kl_wan.py WanDecoder3d / WanUpBlock / WanResidualUpBlock: conv_in, mid_block,
// up_blocks.G.{resnets.R, upsamplers.0 | upsampler}, norm_out, conv_out. The reference hard-codes `in_dim //= 2` for levels 1..3; here (as in diffusers) every
// level after the first halves, which is the same for the 4-level configs and general otherwise.
#include <torch/torch.h>

#include "t2v/models/wan/vae.h"

namespace t2v::wan::vae {

UpBlockImpl::UpBlockImpl(int64_t in, int64_t out, int64_t num_res_blocks, std::optional<ResampleImpl::Mode> upsample,
                         const torch::TensorOptions& options, bool residual)
    : out_(out) {
  auto resnets = register_module("resnets", torch::nn::ModuleList());
  int64_t current = in;
  for (int64_t r = 0; r < num_res_blocks + 1; ++r) {
    resnets_.push_back(ResidualBlock(current, out, options));
    resnets->push_back(resnets_.back());
    current = out;
  }
  if (upsample && residual) {
    upsampler_ = register_module("upsampler", Resample(out, *upsample, options, /*keep_channels=*/true));
    // DupUp3D(in, out, factor_t = 2 if temporal, factor_s = 2) on the block input.
    shortcut_ = true;
    factor_t_ = *upsample == ResampleImpl::Mode::kUpsample3d ? 2 : 1;
  } else if (upsample) {
    auto upsamplers = register_module("upsamplers", torch::nn::ModuleList());
    upsampler_ = Resample(out, *upsample, options);
    upsamplers->push_back(upsampler_);
  }
}

torch::Tensor UpBlockImpl::forward(const torch::Tensor& x_in, CausalCache& cache) {
  torch::Tensor x = x_in;
  for (auto& r : resnets_) x = r->forward(x, cache);
  if (!upsampler_.is_empty()) x = upsampler_->forward(x, cache);  // [B, C/2 (Wan2.2: C), T or 2T, 2H, 2W]
  // The first chunk skips the temporal upsampling (its time_conv): the shortcut drops ft - 1 frames.
  if (shortcut_) x.add_(dup_up_3d(x_in, out_, factor_t_, 2, cache.first_chunk()));
  return x;
}

Decoder3dImpl::Decoder3dImpl(const WanVAEConfig& config, const torch::TensorOptions& options) {
  // dims = base_dim * ([dim_mult[-1]] + reversed(dim_mult)), e.g. [384, 384, 384, 192, 96]
  // (Wan2.2: dec_dim = decoder_base_dim, [1024, 1024, 1024, 512, 256]).
  const bool residual = config.is_residual;
  const int64_t base = residual && config.decoder_base_dim > 0 ? config.decoder_base_dim : config.base_dim;
  std::vector<int64_t> dims = {base * config.dim_mult.back()};
  for (auto it = config.dim_mult.rbegin(); it != config.dim_mult.rend(); ++it) dims.push_back(base * *it);
  const size_t levels = config.dim_mult.size();
  // temperal_upsample = reversed(temperal_downsample)
  std::vector<bool> temperal_upsample(config.temperal_downsample.rbegin(), config.temperal_downsample.rend());

  conv_in_ = register_module("conv_in", CausalConv3d(config.z_dim, dims[0], std::vector<int64_t>{3, 3, 3},
                                                     std::vector<int64_t>{1, 1, 1}, std::vector<int64_t>{1, 1, 1},
                                                     options));
  mid_block_ = register_module("mid_block", MidBlock(dims[0], options));
  auto up_blocks = register_module("up_blocks", torch::nn::ModuleList());
  int64_t out = dims[0];
  for (size_t i = 0; i < levels; ++i) {
    // Wan2.1: every level after the first follows an upsampler whose conv halved the channels.
    const int64_t in = i > 0 && !residual ? dims[i] / 2 : dims[i];
    out = dims[i + 1];
    std::optional<ResampleImpl::Mode> mode;
    if (i + 1 != levels) mode = temperal_upsample.at(i) ? ResampleImpl::Mode::kUpsample3d : ResampleImpl::Mode::kUpsample2d;
    up_blocks_.push_back(UpBlock(in, out, config.num_res_blocks, mode, options, residual));
    up_blocks->push_back(up_blocks_.back());
  }
  norm_out_ = register_module("norm_out",
                              t2v::nn::NormWeight(std::vector<int64_t>{out, 1, 1, 1}, false, options, "gamma"));
  conv_out_ = register_module("conv_out", CausalConv3d(out, config.out_channels, std::vector<int64_t>{3, 3, 3},
                                                       std::vector<int64_t>{1, 1, 1}, std::vector<int64_t>{1, 1, 1},
                                                       options));
}

torch::Tensor Decoder3dImpl::forward(const torch::Tensor& x_in, CausalCache& cache) {
  auto x = conv_in_->forward_cached(x_in, cache);  // [B, dims[0], 1, h, w]
  x = mid_block_->forward(x, cache);
  for (auto& block : up_blocks_) x = block->forward(x, cache);  // -> [B, base_dim, 1 or 4, 8h, 8w]
  x = rms_norm_silu(x, norm_out_->weight);
  return conv_out_->forward_cached(x, cache);  // [B, out_channels (Wan2.2: 12 = 3 x 2 x 2), 1 or 4, 8h, 8w]
}

}  // namespace t2v::wan::vae
