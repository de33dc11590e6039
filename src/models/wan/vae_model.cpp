// Wan VAE top level: latent (de)normalisation, chunked causal encode/decode, spatial tiling,
// loading. Mirrors W21 wan/modules/vae.py WanVAE_ (encode/decode chunk loops, conv1/conv2) and
// WanVAE (scale = [mean, 1/std], clamp), and W22 wan/modules/vae2_2.py WanVAE_ (patchify before
// the encoder, unpatchify after the decoder) / Wan2_2_VAE; names from DF AutoencoderKLWan
// (quant_conv, post_quant_conv). Tiling follows DF AutoencoderKLWan.tiled_decode (linear blend of the
// overlapping bands, then crop to the tile stride) but runs per latent frame so that it streams.
#include "t2v/log.h"
#include <torch/torch.h>

#include <chrono>
#include <sstream>

#include "t2v/error.h"
#include "t2v/io/state_dict_loader.h"
#include "t2v/models/wan/vae.h"

namespace t2v::wan {

namespace {

void validate(const WanVAEConfig& c) {
  const std::string what = "Wan VAE config: ";
  if (c.z_dim <= 0) throw ConfigError(what + "z_dim must be positive");
  if (!c.is_residual && c.decoder_base_dim != 0 && c.decoder_base_dim != c.base_dim) {
    throw ConfigError(what + "decoder_base_dim " + std::to_string(c.decoder_base_dim) + " differs from base_dim " +
                      std::to_string(c.base_dim) + " without is_residual (only the Wan2.2 VAE has its own decoder width)");
  }
  if (c.patch_size < 0 || c.patch_size > 4) throw ConfigError(what + "patch_size must be 0..4");
  // The encoder sees (and the decoder makes) 3 x p x p channels: RGB folded by the patchify.
  const int64_t p = std::max<int64_t>(c.patch_size, 1);
  if (c.in_channels != 3 * p * p || c.out_channels != 3 * p * p) {
    throw ConfigError(what + "in/out_channels must be " + std::to_string(3 * p * p) + " (3 x patch_size^2; got " +
                      std::to_string(c.in_channels) + "/" + std::to_string(c.out_channels) + ")");
  }
  if (!c.attn_scales.empty()) {
    throw ConfigError(what + "attn_scales must be empty (attention outside the middle blocks is not supported)");
  }
  if (c.base_dim <= 0 || c.num_res_blocks < 0 || c.dim_mult.empty()) {
    throw ConfigError(what + "base_dim > 0, num_res_blocks >= 0 and a non-empty dim_mult are required");
  }
  if (c.temperal_downsample.size() + 1 != c.dim_mult.size()) {
    throw ConfigError(what + "temperal_downsample needs " + std::to_string(c.dim_mult.size() - 1) + " entries, got " +
                      std::to_string(c.temperal_downsample.size()));
  }
  if (static_cast<int64_t>(c.latents_mean.size()) != c.z_dim || static_cast<int64_t>(c.latents_std.size()) != c.z_dim) {
    throw ConfigError(what + "latents_mean/latents_std need " + std::to_string(c.z_dim) + " values, got " +
                      std::to_string(c.latents_mean.size()) + "/" + std::to_string(c.latents_std.size()));
  }
}

// [z] -> [1, z, 1, 1, 1] fp32 on `device`.
torch::Tensor channel_constants(const std::vector<float>& v, const torch::Device& device) {
  return torch::tensor(v, torch::kFloat32).view({1, -1, 1, 1, 1}).to(device);
}

// Normalised latent [B, z, T, h, w] -> the VAE's latent space. Official: z / (1/std) + mean, with
// 1/std rounded to fp32 (not z * std).
torch::Tensor denormalise_latent(const torch::Tensor& z, const WanVAEConfig& c, const torch::Device& device) {
  auto inv_std = torch::reciprocal(channel_constants(c.latents_std, device));
  return z.to(device, torch::kFloat32).div(inv_std).add(channel_constants(c.latents_mean, device));
}

// diffusers blend_v / blend_h on dim -2 / -1: b's first `extent` rows fade in over a's last ones.
void blend(const torch::Tensor& a, torch::Tensor& b, int64_t extent, int64_t dim) {
  extent = std::min({a.size(dim), b.size(dim), extent});
  if (extent <= 0) return;
  std::vector<int64_t> shape(b.dim(), 1);
  shape[b.dim() + dim] = extent;
  auto ramp = torch::arange(extent, b.options()).div_(static_cast<double>(extent)).view(shape);  // y / extent
  auto head = b.narrow(dim, 0, extent);
  auto mixed = a.narrow(dim, a.size(dim) - extent, extent) * torch::rsub(ramp, 1.0) + head * ramp;
  head.copy_(mixed);
}

}  // namespace

WanVAEImpl::WanVAEImpl(const WanVAEConfig& config, const torch::TensorOptions& options) : config_(config) {
  validate(config_);
  patch_ = std::max<int64_t>(config_.patch_size, 1);
  spatial_factor_ = (int64_t{1} << (config_.dim_mult.size() - 1)) * patch_;
  encoder_ = register_module("encoder", vae::Encoder3d(config_, options));
  const int64_t z = config_.z_dim;
  const std::vector<int64_t> one = {1, 1, 1}, none = {0, 0, 0};
  quant_conv_ = register_module("quant_conv", vae::CausalConv3d(2 * z, 2 * z, one, one, none, options));
  post_quant_conv_ = register_module("post_quant_conv", vae::CausalConv3d(z, z, one, one, none, options));
  decoder_ = register_module("decoder", vae::Decoder3d(config_, options));
}

torch::Tensor WanVAEImpl::finish(torch::Tensor frames, const VAEDecodeOptions& options) const {
  frames = frames.squeeze(0);  // [3, n, H, W]
  return options.clamp ? frames.clamp_(-1.0, 1.0) : frames;
}

void WanVAEImpl::decode_stream(const torch::Tensor& z, const FrameSink& sink, const VAEDecodeOptions& options) {
  if (z.dim() != 4 || z.size(0) != config_.z_dim || z.size(1) < 1) {
    std::ostringstream os;
    os << "VAE decode: latent must be [" << config_.z_dim << ", T>=1, h, w], got " << z.sizes();
    throw InputError(os.str());
  }
  // No NoGradGuard here: the parameters do not require grad unless a trainer (tools/train_demo)
  // turns it on, so inference records no graph; callers that want certainty use their own guard.
  auto x = post_quant_conv_->forward(denormalise_latent(z.unsqueeze(0), config_, device()));  // [1, z, T, h, w]

  const int64_t h = x.size(3), w = x.size(4);
  if (options.tile_size > 0) {
    const int64_t sf = spatial_factor_;
    if (options.tile_size % sf != 0 || options.overlap % sf != 0 || options.overlap < 0 ||
        options.overlap >= options.tile_size) {
      throw UsageError("VAE tiling: tile_size (" + std::to_string(options.tile_size) + ") and overlap (" +
                       std::to_string(options.overlap) + ") must be multiples of " + std::to_string(sf) +
                       " with 0 <= overlap < tile_size");
    }
    if (h * sf > options.tile_size || w * sf > options.tile_size) return decode_tiled(x, sink, options);
  }
  vae::CausalCache cache;
  for (int64_t t = 0; t < x.size(2); ++t) {
    cache.rewind();
    sink(finish(decode_frame(x.narrow(2, t, 1), cache), options));  // [3, 1 or 4, 8h, 8w]
  }
}

torch::Tensor WanVAEImpl::decode_frame(const torch::Tensor& x, vae::CausalCache& cache) {
  // unpatchify is spatial and per frame, so per chunk equals the reference's once-at-the-end.
  return vae::unpatchify(decoder_->forward(x, cache), patch_);  // [B, 3, 1 or 4, H, W]
}

void WanVAEImpl::decode_tiled(const torch::Tensor& x, const FrameSink& sink, const VAEDecodeOptions& options) {
  const int64_t sf = spatial_factor_;
  const int64_t h = x.size(3), w = x.size(4);
  const int64_t tile_latent = options.tile_size / sf;
  const int64_t stride_latent = (options.tile_size - options.overlap) / sf;
  const int64_t stride_px = options.tile_size - options.overlap;
  std::vector<int64_t> rows, cols;  // tile origins in latent pixels
  for (int64_t i = 0; i < h; i += stride_latent) rows.push_back(i);
  for (int64_t j = 0; j < w; j += stride_latent) cols.push_back(j);
  // Each tile is its own causal stream.
  std::vector<std::vector<vae::CausalCache>> caches(rows.size(), std::vector<vae::CausalCache>(cols.size()));

  for (int64_t t = 0; t < x.size(2); ++t) {
    auto frame = x.narrow(2, t, 1);  // [1, z, 1, h, w]
    std::vector<std::vector<torch::Tensor>> tiles(rows.size(), std::vector<torch::Tensor>(cols.size()));
    for (size_t r = 0; r < rows.size(); ++r) {
      for (size_t c = 0; c < cols.size(); ++c) {
        auto& cache = caches[r][c];
        cache.rewind();
        auto tile = frame.narrow(3, rows[r], std::min(tile_latent, h - rows[r]))
                        .narrow(4, cols[c], std::min(tile_latent, w - cols[c]));  // [1, z, 1, th, tw]
        tiles[r][c] = decode_frame(tile, cache);                                 // [1, 3, n, 8th, 8tw]
      }
    }
    // Blend in place in diffusers' order (a tile blended with its upper/left neighbours is what
    // its lower/right neighbours blend with), then keep each tile's first stride_px rows/cols.
    std::vector<torch::Tensor> out_rows;
    for (size_t r = 0; r < rows.size(); ++r) {
      std::vector<torch::Tensor> out_row;
      for (size_t c = 0; c < cols.size(); ++c) {
        auto& tile = tiles[r][c];
        if (r > 0) blend(tiles[r - 1][c], tile, options.overlap, -2);
        if (c > 0) blend(tiles[r][c - 1], tile, options.overlap, -1);
        out_row.push_back(tile.narrow(3, 0, std::min(stride_px, tile.size(3))).narrow(4, 0, std::min(stride_px, tile.size(4))));
      }
      out_rows.push_back(torch::cat(out_row, 4));  // [1, 3, n, rows, W']
    }
    auto frames = torch::cat(out_rows, 3).narrow(3, 0, h * sf).narrow(4, 0, w * sf);  // [1, 3, n, 8h, 8w]
    tiles.clear();
    out_rows.clear();
    sink(finish(frames.contiguous(), options));
  }
}

torch::Tensor WanVAEImpl::decode(const torch::Tensor& z, const VAEDecodeOptions& options) {
  std::vector<torch::Tensor> chunks;
  decode_stream(z, [&](const torch::Tensor& frames) { chunks.push_back(frames); }, options);
  return torch::cat(chunks, 1);  // [3, 1 + 4(T-1), 8h, 8w]
}

torch::Tensor WanVAEImpl::encode(const torch::Tensor& video) {
  if (video.dim() != 4 || video.size(0) != 3 || video.size(1) < 1) {
    std::ostringstream os;
    os << "VAE encode: video must be [3, F>=1, H, W], got " << video.sizes();
    throw InputError(os.str());
  }
  return encode_batch(video.unsqueeze(0)).squeeze(0);  // [z, t, h, w]
}

torch::Tensor WanVAEImpl::encode_batch(const torch::Tensor& video) {
  if (video.dim() != 5 || video.size(1) != 3 || video.size(2) < 1 || video.size(3) % patch_ || video.size(4) % patch_) {
    std::ostringstream os;
    os << "VAE encode: video batch must be [B, 3, F>=1, H, W] with H, W multiples of " << patch_ << ", got "
       << video.sizes();
    throw InputError(os.str());
  }
  // No NoGradGuard: differentiable for training (see decode_stream).
  const auto dev = device();
  auto x = vae::patchify(video.to(dev, torch::kFloat32), patch_);  // [B, 3 p p, F, H / p, W / p]
  // Chunks of frames [0:1], [1:5], [5:9], ...; trailing frames that do not fill a chunk are dropped.
  const int64_t chunks = 1 + (x.size(2) - 1) / 4;
  vae::CausalCache cache;
  std::vector<torch::Tensor> outs;
  for (int64_t i = 0; i < chunks; ++i) {
    cache.rewind();
    auto chunk = i == 0 ? x.narrow(2, 0, 1) : x.narrow(2, 1 + 4 * (i - 1), 4);
    outs.push_back(encoder_->forward(chunk, cache));  // [B, 2z, 1, H/8, W/8]
  }
  auto enc = quant_conv_->forward(torch::cat(outs, 2));  // [B, 2z, t, h, w]
  outs.clear();
  auto mu = enc.narrow(1, 0, config_.z_dim);              // the posterior mean; log_var is unused
  auto inv_std = torch::reciprocal(channel_constants(config_.latents_std, dev));
  mu = (mu - channel_constants(config_.latents_mean, dev)) * inv_std;
  return mu.contiguous();  // [B, z, t, h, w]
}

torch::Tensor WanVAEImpl::decode_batch(const torch::Tensor& z, const VAEDecodeOptions& options) {
  if (z.dim() != 5 || z.size(1) != config_.z_dim || z.size(2) < 1) {
    std::ostringstream os;
    os << "VAE decode: latent batch must be [B, " << config_.z_dim << ", T>=1, h, w], got " << z.sizes();
    throw InputError(os.str());
  }
  if (options.tile_size > 0) throw UsageError("VAE decode_batch: tiling is only available in decode_stream");
  auto x = post_quant_conv_->forward(denormalise_latent(z, config_, device()));  // [B, z, T, h, w]
  vae::CausalCache cache;
  std::vector<torch::Tensor> chunks;
  for (int64_t t = 0; t < x.size(2); ++t) {
    cache.rewind();
    auto out = decode_frame(x.narrow(2, t, 1), cache);  // [B, 3, 1 or 4, 8h, 8w]
    chunks.push_back(options.clamp ? out.clamp(-1.0, 1.0) : out);
  }
  return torch::cat(chunks, 2);  // [B, 3, 1 + 4(T-1), 8h, 8w]
}

WanVAE make_wan_vae(const WanVAEConfig& config, const torch::Device& device) {
  return WanVAE(config, torch::TensorOptions().dtype(torch::kFloat32).device(device));
}

WanVAE load_wan_vae(const WanModelSource& source, const torch::Device& device) {
  const auto start = std::chrono::steady_clock::now();
  auto vae = make_wan_vae(source.vae_config, device);
  const auto report = io::load_state_dict(*vae, source.vae.store, {"vae", {}});
  std::string stored = "F32";
  if (!report.conversions.empty()) {
    stored.clear();
    for (const auto& [conv, n] : report.conversions) stored += (stored.empty() ? "" : ", ") + conv;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  t2v::logger().info("VAE: AutoencoderKLWan from {} ({} layout, {}), {:.2f} M params in fp32 on {}, {:.2f} s",
               source.vae.store.source().string(), source.vae.layout, stored, report.parameters / 1e6,
               device.str(), seconds);
  return vae;
}

}  // namespace t2v::wan
