// Wan video VAEs with diffusers AutoencoderKLWan key names: the Wan2.1 VAE (z_dim 16, spatial 8x,
// temporal 4x; W21 wan/modules/vae.py CausalConv3d, RMS_norm, Resample, ResidualBlock,
// AttentionBlock, Encoder3d, Decoder3d, WanVAE_, WanVAE) and the Wan2.2 VAE (z_dim 48, 2x2
// patchify, spatial 16x; W22 wan/modules/vae2_2.py Down_ResidualBlock / Up_ResidualBlock with the
// parameter-free AvgDown3D / DupUp3D shortcuts, Wan2_2_VAE). Module names follow DF
// autoencoder_kl_wan.py (conv_in, down_blocks, mid_block, up_blocks.G.resnets.R, upsamplers.0 /
// is_residual: down_blocks.G.{resnets.R, downsampler}, up_blocks.G.{resnets.R, upsampler},
// norm_out, conv_out, quant_conv, post_quant_conv).
//
// Deliberate differences from the reference:
// * The causal feature cache lives in a CausalCache value owned by the caller of each
//   encode/decode (the reference keeps it in module attributes), so tiles and concurrent streams
//   each have their own state.
// * Decoding streams: each latent frame's video frames (1, then 4 per latent frame) go to a sink as
//   soon as they are made; the full video tensor never exists unless the caller builds it.
// * Spatial zero padding is done by the convolution itself (same values; the reference pads
//   explicitly with F.pad and runs an unpadded conv). Temporal padding is causal, as the reference.
// * Optional spatial tiling of the decode (diffusers tiled_decode blending, done per latent frame).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "t2v/models/layers.h"
#include "t2v/models/wan/config.h"
#include "t2v/models/wan/model_source.h"

namespace t2v::wan {

namespace vae {

// Official CACHE_T: how many trailing input frames each cached causal conv keeps.
constexpr int64_t kCacheFrames = 2;

// Per-stream causal state (official feat_cache + feat_idx). One slot per cached conv, consumed in
// the same traversal order on every chunk; slots are created on the first chunk.
class CausalCache {
 public:
  enum class State { kEmpty, kRep, kFrames };
  struct Slot {
    State state = State::kEmpty;
    torch::Tensor frames;  // [B, C, <=2, H, W] when state == kFrames
  };
  // Call at the start of every chunk (official `feat_idx = [0]`).
  void rewind() {
    index_ = 0;
    ++chunks_;
  }
  // True during the first chunk of a stream (W22 Decoder3d's first_chunk).
  bool first_chunk() const { return chunks_ <= 1; }
  Slot& next();
  size_t size() const { return slots_.size(); }
  // Bytes held by the cached frames (for diagnostics).
  int64_t bytes() const;

 private:
  std::vector<Slot> slots_;
  size_t index_ = 0;
  int64_t chunks_ = 0;
};

// W22 AvgDown3D (encoder shortcut): front zero-pad T to a multiple of ft, fold (t, h, w) sub-positions
// into channels (c*ft*fs*fs + t*fs*fs + h*fs + w), average groups of C*ft*fs*fs/out consecutive ones.
// x [B, C, T, H, W] -> [B, out, ceil(T/ft), H/fs, W/fs].
torch::Tensor avg_down_3d(const torch::Tensor& x, int64_t out, int64_t ft, int64_t fs);
// W22 DupUp3D (decoder shortcut): each channel repeated out*ft*fs*fs/C times, unfolded into
// (t, h, w) sub-positions; `first_chunk` drops the first ft - 1 frames.
// x [B, C, T, H, W] -> [B, out, T*ft (- ft + 1), H*fs, W*fs].
torch::Tensor dup_up_3d(const torch::Tensor& x, int64_t out, int64_t ft, int64_t fs, bool first_chunk);
// W22 patchify / unpatchify (einops "b c f (h q) (w r) <-> b (c r q) f h w"): [B, C, F, pH, pW] <->
// [B, C*p*p, F, H, W], channel c*p*p + r*p + q (r = column offset, q = row offset).
torch::Tensor patchify(const torch::Tensor& x, int64_t p);
torch::Tensor unpatchify(const torch::Tensor& x, int64_t p);

// W21 CausalConv3d: time padded only in front (2*pt frames: cached frames first, zeros for the
// rest); space padded symmetrically by the conv.
class CausalConv3dImpl : public t2v::nn::ConvNdImpl {
 public:
  CausalConv3dImpl(int64_t in, int64_t out, std::vector<int64_t> kernel, std::vector<int64_t> stride,
                   std::vector<int64_t> padding, const torch::TensorOptions& options);
  // x [B, C, T, H, W]; cache: previous input frames [B, C, n, H, W] or undefined.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cache = {});
  // Official cached call: runs with the slot's frames in front, then stores the last 2 input frames.
  torch::Tensor forward_cached(const torch::Tensor& x, CausalCache& cache);
  int64_t time_pad() const { return time_pad_; }

 private:
  int64_t time_pad_ = 0;
};
TORCH_MODULE(CausalConv3d);

// RMS_norm (channel-first): F.normalize(x, dim=1) * sqrt(C) * gamma; gamma [C,1,1,1] or [C,1,1].
torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& gamma);
// SiLU(rms_norm(x)) without a second full-size temporary (the pre-conv pattern of every block).
torch::Tensor rms_norm_silu(const torch::Tensor& x, const torch::Tensor& gamma);

// W21 ResidualBlock / DF WanResidualBlock: norm1, conv1, norm2, conv2, conv_shortcut (in != out).
class ResidualBlockImpl : public torch::nn::Module {
 public:
  ResidualBlockImpl(int64_t in, int64_t out, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x, CausalCache& cache);

 private:
  t2v::nn::NormWeight norm1_{nullptr}, norm2_{nullptr};
  CausalConv3d conv1_{nullptr}, conv2_{nullptr}, conv_shortcut_{nullptr};
};
TORCH_MODULE(ResidualBlock);

// W21 AttentionBlock / DF WanAttentionBlock: single-head attention over h*w, per frame.
class AttentionBlockImpl : public torch::nn::Module {
 public:
  AttentionBlockImpl(int64_t dim, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  t2v::nn::NormWeight norm_{nullptr};
  t2v::nn::ConvNd to_qkv_{nullptr}, proj_{nullptr};
};
TORCH_MODULE(AttentionBlock);

// W21 Resample / DF WanResample. `resample.1` is the 2-D conv; `time_conv` for the 3-D modes.
class ResampleImpl : public torch::nn::Module {
 public:
  enum class Mode { kUpsample2d, kUpsample3d, kDownsample2d, kDownsample3d };
  // keep_channels: the upsampling conv keeps the channel count (Wan2.2); Wan2.1's halves it.
  ResampleImpl(int64_t dim, Mode mode, const torch::TensorOptions& options, bool keep_channels = false);
  torch::Tensor forward(const torch::Tensor& x, CausalCache& cache);
  Mode mode() const { return mode_; }

 private:
  torch::Tensor spatial(const torch::Tensor& x);
  Mode mode_;
  t2v::nn::ConvNd conv_{nullptr};
  CausalConv3d time_conv_{nullptr};
};
TORCH_MODULE(Resample);

// DF WanMidBlock (W21 `middle`): resnets.0, attentions.0, resnets.1.
class MidBlockImpl : public torch::nn::Module {
 public:
  MidBlockImpl(int64_t dim, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x, CausalCache& cache);

 private:
  ResidualBlock resnet0_{nullptr}, resnet1_{nullptr};
  AttentionBlock attention_{nullptr};
};
TORCH_MODULE(MidBlock);

// W22 Down_ResidualBlock / DF WanResidualDownBlock: resnets, an optional downsampler, and the
// AvgDown3D shortcut of the block input added after them.
class DownBlockImpl : public torch::nn::Module {
 public:
  DownBlockImpl(int64_t in, int64_t out, int64_t num_res_blocks, bool temporal, bool down,
                const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x, CausalCache& cache);

 private:
  std::vector<ResidualBlock> resnets_;
  Resample downsampler_{nullptr};
  int64_t out_, factor_t_, factor_s_;
};
TORCH_MODULE(DownBlock);

// W21 Encoder3d / DF WanEncoder3d: conv_in, down_blocks (Wan2.1: flat resnets and Resamples;
// Wan2.2: DownBlocks), mid_block, norm_out, conv_out -> 2*z_dim channels.
class Encoder3dImpl : public torch::nn::Module {
 public:
  Encoder3dImpl(const WanVAEConfig& config, const torch::TensorOptions& options);
  // One chunk of frames (1, then 4 at a time) -> [B, 2z, t, h, w].
  torch::Tensor forward(const torch::Tensor& x, CausalCache& cache);

 private:
  CausalConv3d conv_in_{nullptr}, conv_out_{nullptr};
  torch::nn::ModuleList down_blocks_{nullptr};
  std::vector<ResidualBlock> resnets_;  // typed views of down_blocks_ (null where a Resample sits)
  std::vector<Resample> resamples_;
  std::vector<DownBlock> residual_blocks_;  // Wan2.2
  MidBlock mid_block_{nullptr};
  t2v::nn::NormWeight norm_out_{nullptr};
};
TORCH_MODULE(Encoder3d);

// DF WanUpBlock (W21 flat `upsamples`): resnets.0..num_res_blocks, optional upsamplers.0; or, with
// `residual` (W22 Up_ResidualBlock / DF WanResidualUpBlock), resnets, an optional `upsampler` that
// keeps the channels, and the DupUp3D shortcut of the block input when it upsamples.
class UpBlockImpl : public torch::nn::Module {
 public:
  // upsample: the level's Resample mode, or nullopt for the last level (no upsampler).
  UpBlockImpl(int64_t in, int64_t out, int64_t num_res_blocks, std::optional<ResampleImpl::Mode> upsample,
              const torch::TensorOptions& options, bool residual = false);
  torch::Tensor forward(const torch::Tensor& x, CausalCache& cache);

 private:
  std::vector<ResidualBlock> resnets_;
  Resample upsampler_{nullptr};
  bool shortcut_ = false;
  int64_t out_ = 0, factor_t_ = 1;
};
TORCH_MODULE(UpBlock);

// W21 Decoder3d / DF WanDecoder3d (non-residual).
class Decoder3dImpl : public torch::nn::Module {
 public:
  Decoder3dImpl(const WanVAEConfig& config, const torch::TensorOptions& options);
  // One latent frame [B, z, 1, h, w] -> [B, 3, 1 (first chunk) or 4, 8h, 8w] (unclamped).
  torch::Tensor forward(const torch::Tensor& x, CausalCache& cache);

 private:
  CausalConv3d conv_in_{nullptr}, conv_out_{nullptr};
  MidBlock mid_block_{nullptr};
  std::vector<UpBlock> up_blocks_;
  t2v::nn::NormWeight norm_out_{nullptr};
};
TORCH_MODULE(Decoder3d);

}  // namespace vae

// Spatial tiling of the decode, in output pixels. tile_size 0 = no tiling. Tiles of tile_size
// pixels start every tile_size - overlap pixels; each has its own causal cache; overlapping
// bands are blended linearly (diffusers AutoencoderKLWan.tiled_decode). Both must be multiples
// of the spatial factor (8), 0 <= overlap < tile_size.
struct VAEDecodeOptions {
  int64_t tile_size = 0;
  int64_t overlap = 0;
  bool clamp = true;  // false only for debugging (fixture `debug.video_unclamped`)
};

// Receives decoded frames [3, n, H, W] (fp32, on the VAE's device, in [-1, 1]) in order: n = 1
// for latent frame 0, then 4 per latent frame. The tensor is not kept by the decoder.
using FrameSink = std::function<void(const torch::Tensor& frames)>;

// W21 WanVAE_ + WanVAE (latent normalisation) / DF AutoencoderKLWan.
class WanVAEImpl : public torch::nn::Module {
 public:
  // Throws ConfigError for configs this implementation does not support (Wan2.2 VAE, attention
  // at other scales, other channel counts).
  WanVAEImpl(const WanVAEConfig& config, const torch::TensorOptions& options);

  // z [z_dim, T, h, w] normalised latent -> sink gets 1 + 4(T-1) frames, [3, n, sh, sw] per call
  // (s = spatial_factor(): 8 for Wan2.1, 16 for Wan2.2).
  void decode_stream(const torch::Tensor& z, const FrameSink& sink, const VAEDecodeOptions& options = {});
  // Convenience (tests, short clips): the whole video [3, 1 + 4(T-1), 8h, 8w].
  torch::Tensor decode(const torch::Tensor& z, const VAEDecodeOptions& options = {});
  // video [3, F, H, W] in [-1, 1] -> normalised posterior mean [16, 1 + (F-1)/4, H/8, W/8].
  // Frames past the last full chunk of 4 are ignored, as in the reference.
  torch::Tensor encode(const torch::Tensor& video);
  // Batched forms (training, tests): video [B, 3, F, H, W] -> [B, 16, t, h, w]; z [B, 16, T, h, w]
  // -> [B, 3, 1 + 4(T-1), 8h, 8w]. One pass over the batch costs far fewer ops than B passes.
  torch::Tensor encode_batch(const torch::Tensor& video);
  torch::Tensor decode_batch(const torch::Tensor& z, const VAEDecodeOptions& options = {});

  const WanVAEConfig& config() const { return config_; }
  int64_t spatial_factor() const { return spatial_factor_; }
  torch::Device device() const { return post_quant_conv_->weight.device(); }

 private:
  void decode_tiled(const torch::Tensor& x, const FrameSink& sink, const VAEDecodeOptions& options);
  // One latent frame through the decoder (and unpatchify): [B, 3, 1 or 4, H, W], unclamped.
  torch::Tensor decode_frame(const torch::Tensor& x, vae::CausalCache& cache);
  torch::Tensor finish(torch::Tensor frames, const VAEDecodeOptions& options) const;

  WanVAEConfig config_;
  int64_t spatial_factor_ = 8;  // decoder upsampling x patch size
  int64_t patch_ = 1;
  vae::Encoder3d encoder_{nullptr};
  vae::CausalConv3d quant_conv_{nullptr}, post_quant_conv_{nullptr};
  vae::Decoder3d decoder_{nullptr};
};
TORCH_MODULE(WanVAE);

// Builds the VAE in fp32 (the reference runs the VAE in fp32) on `device`, parameters
// uninitialised.
WanVAE make_wan_vae(const WanVAEConfig& config, const torch::Device& device);
// Builds and strictly loads the VAE of a model source; logs one summary line.
WanVAE load_wan_vae(const WanModelSource& source, const torch::Device& device);

}  // namespace t2v::wan
