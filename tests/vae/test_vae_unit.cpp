// Unit tests of the Wan2.1 VAE beyond the fixtures: streaming (1, then 4 frames per latent frame,
// identical to decode()), causality (a prefix of the latent decodes to a prefix of the video),
// spatial tiling against the untiled decode, general configs, and config/usage errors. They use
// the tiny VAE's real (random, bf16-representable) weights from the diffusers folder.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <iostream>
#include <set>

#include "support/golden.h"
#include "t2v/error.h"
#include "t2v/models/wan/model_source.h"
#include "t2v/models/wan/vae.h"

namespace t2v::test {
namespace {

wan::WanVAE& tiny_vae() {
  static wan::WanVAE vae = wan::load_wan_vae(wan::open_diffusers_folder(tiny_model_dir()), torch::kCPU);
  return vae;
}

torch::Tensor random_latent(int64_t t, int64_t h, int64_t w, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return at::normal(0.0, 1.0, {16, t, h, w}, gen, torch::TensorOptions().dtype(torch::kFloat32));
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

TEST(VAEStream, ChunksAreOneThenFourAndEqualDecode) {
  auto z = random_latent(4, 3, 4, 1);
  std::vector<int64_t> counts;
  std::vector<torch::Tensor> chunks;
  tiny_vae()->decode_stream(z, [&](const torch::Tensor& frames) {
    ASSERT_EQ(frames.dim(), 4);
    EXPECT_EQ(frames.size(0), 3);
    EXPECT_EQ(frames.size(2), 24);
    EXPECT_EQ(frames.size(3), 32);
    EXPECT_LE(frames.max().item<float>(), 1.0f);
    EXPECT_GE(frames.min().item<float>(), -1.0f);
    counts.push_back(frames.size(1));
    chunks.push_back(frames.clone());
  });
  EXPECT_EQ(counts, (std::vector<int64_t>{1, 4, 4, 4}));
  auto whole = tiny_vae()->decode(z);
  EXPECT_EQ(whole.sizes(), (std::vector<int64_t>{3, 13, 24, 32}));
  EXPECT_TRUE(torch::equal(torch::cat(chunks, 1), whole));
}

// Reorder noise of the tiny VAE's fp32 decode (outputs in [-1, 1]): the same frames decoded as part of
// inputs of other shapes run the convolutions with other BLAS/im2col blockings, whose summation order
// depends on the shape and the CPU, so equality is up to fp32 rounding only (the golden fixtures' VAE
// atol, 5e-5; a few 1e-7 measured here). Any real leak (a later latent frame or another tile reaching
// these pixels) changes them by ~0.1, three orders of magnitude more.
constexpr double kVaeReorderAtol = 5e-5;

// The decoder is causal: the first k latent frames give the first 1 + 4(k-1) frames.
TEST(VAEStream, PrefixOfLatentDecodesToPrefixOfVideo) {
  auto z = random_latent(3, 2, 3, 2);
  auto full = tiny_vae()->decode(z);
  auto prefix = tiny_vae()->decode(z.narrow(1, 0, 2).contiguous());
  ASSERT_EQ(prefix.size(1), 5);
  EXPECT_TRUE(all_close(prefix, full.narrow(1, 0, 5), kVaeReorderAtol));
  auto single = tiny_vae()->decode(z.narrow(1, 0, 1).contiguous());
  EXPECT_EQ(single.size(1), 1);
  EXPECT_TRUE(all_close(single, full.narrow(1, 0, 1), kVaeReorderAtol));
}

TEST(VAEStream, EncodeDropsTrailingFramesAndMatchesShape) {
  auto gen = at::detail::createCPUGenerator(3);
  auto video = at::rand({3, 7, 16, 24}, gen, torch::TensorOptions().dtype(torch::kFloat32)).mul_(2).sub_(1);
  auto latent = tiny_vae()->encode(video);
  EXPECT_EQ(latent.sizes(), (std::vector<int64_t>{16, 2, 2, 3}));
  // Frames 5 and 6 do not fill a chunk of 4: they are ignored, as in the reference.
  auto first5 = tiny_vae()->encode(video.narrow(1, 0, 5).contiguous());
  EXPECT_TRUE(torch::equal(latent, first5));
  // Encode is causal too: the first chunk alone gives the first latent frame (up to fp32 noise:
  // quant_conv then runs on a differently shaped input).
  auto first1 = tiny_vae()->encode(video.narrow(1, 0, 1).contiguous());
  EXPECT_TRUE(all_close(first1, latent.narrow(1, 0, 1), 1e-6));
}

// Tiled decode vs untiled on a 12x20 latent (96x160 pixels), 3 latent frames, tiles of 64 px
// with 32 px overlap (3 x 5 tiles). Measured on the tiny model: max |tiled - untiled| = 1.056,
// mean 0.076 (output std 0.51, values in [-1, 1]); without overlap: max 2.0, mean 0.197. The
// error is not confined to the seams: the middle block's attention is global over each tile's
// frame, and the tiny model's random weights (no training to make decoding local) spread
// differences over its whole receptive field, which also grows along time through the caches.
// Larger tiles shrink it (128 px / 64 px overlap: max 0.57, mean 0.034). Tolerances: max 1.2,
// mean 0.1, and the overlap blend must at least halve the mean error of abutting tiles.
TEST(VAETiling, CloseToUntiledDecode) {
  auto z = random_latent(3, 12, 20, 4);
  auto untiled = tiny_vae()->decode(z);
  wan::VAEDecodeOptions options;
  options.tile_size = 64;
  options.overlap = 32;
  std::vector<int64_t> counts;
  std::vector<torch::Tensor> chunks;
  tiny_vae()->decode_stream(z, [&](const torch::Tensor& f) {
    counts.push_back(f.size(1));
    chunks.push_back(f.clone());
  }, options);
  EXPECT_EQ(counts, (std::vector<int64_t>{1, 4, 4}));
  auto tiled = torch::cat(chunks, 1);
  ASSERT_EQ(tiled.sizes(), untiled.sizes());
  const double max_err = max_abs_diff(tiled, untiled);
  const double mean_err = (tiled - untiled).abs().mean().item<double>();
  options.overlap = 0;
  const double mean_err_abutting = (tiny_vae()->decode(z, options) - untiled).abs().mean().item<double>();
  std::cout << "[ tiling   ] 64 px tiles, 32 px overlap: max |tiled - untiled| = " << max_err << ", mean " << mean_err
            << " (no overlap: mean " << mean_err_abutting << ")\n";
  EXPECT_LE(max_err, 1.2);
  EXPECT_LE(mean_err, 0.1);
  EXPECT_LT(mean_err, 0.5 * mean_err_abutting);
}

TEST(VAETiling, SingleTileEqualsUntiledAndBadOptionsThrow) {
  auto z = random_latent(2, 4, 6, 5);
  auto untiled = tiny_vae()->decode(z);
  wan::VAEDecodeOptions big;
  big.tile_size = 64;  // 64 px >= 48 px: one tile, i.e. the untiled path
  big.overlap = 16;
  EXPECT_TRUE(torch::equal(tiny_vae()->decode(z, big), untiled));
  wan::VAEDecodeOptions bad;
  bad.tile_size = 20;  // not a multiple of 8
  EXPECT_THROW(tiny_vae()->decode(z, bad), UsageError);
  bad.tile_size = 16;
  bad.overlap = 16;  // overlap must be < tile
  EXPECT_THROW(tiny_vae()->decode(z, bad), UsageError);
}

TEST(VAETiling, ZeroOverlapTilesAreIndependentDecodes) {
  // With no overlap each output tile is the decode of its latent tile (up to reorder noise: the
  // untiled reference decodes a tile of another shape than the tiled pass's edge tiles).
  auto z = random_latent(2, 4, 6, 6);
  wan::VAEDecodeOptions options;
  options.tile_size = 24;  // 3 latent pixels
  auto tiled = tiny_vae()->decode(z, options);
  auto corner = tiny_vae()->decode(z.narrow(2, 3, 1).narrow(3, 3, 3).contiguous());  // last row, last col tile
  EXPECT_TRUE(all_close(tiled.narrow(2, 24, 8).narrow(3, 24, 24), corner, kVaeReorderAtol));
  // ...and differs from a decode that saw the neighbouring tiles (so the check above can fail).
  auto untiled = tiny_vae()->decode(z);
  EXPECT_GT(max_abs_diff(untiled.narrow(2, 24, 8).narrow(3, 24, 24), corner), 1e-3);
}

// The batched forms (training) give each clip what the single-clip forms give it.
TEST(VAEBatch, BatchedEncodeAndDecodeMatchPerClip) {
  auto gen = at::detail::createCPUGenerator(11);
  auto videos = at::rand({3, 3, 9, 16, 24}, gen, torch::TensorOptions().dtype(torch::kFloat32)).mul_(2).sub_(1);
  auto latents = tiny_vae()->encode_batch(videos);
  ASSERT_EQ(latents.sizes(), (std::vector<int64_t>{3, 16, 3, 2, 3}));
  auto decoded = tiny_vae()->decode_batch(latents);
  ASSERT_EQ(decoded.sizes(), (std::vector<int64_t>{3, 3, 9, 16, 24}));
  for (int64_t b = 0; b < 3; ++b) {
    const auto one = tiny_vae()->encode(videos[b].contiguous());
    EXPECT_LT(max_abs_diff(latents[b], one), 1e-5) << "clip " << b;
    // fp32 summation order differs between batched and single convolutions: the fixtures' VAE atol.
    EXPECT_LT(max_abs_diff(decoded[b], tiny_vae()->decode(latents[b].contiguous())), 5e-5) << "clip " << b;
  }
  EXPECT_THROW(tiny_vae()->encode_batch(videos[0]), InputError);
  EXPECT_THROW(tiny_vae()->decode_batch(latents[0]), InputError);
}

TEST(VAEInput, BadShapesThrow) {
  EXPECT_THROW(tiny_vae()->decode(torch::zeros({8, 2, 4, 4})), InputError);
  EXPECT_THROW(tiny_vae()->decode(torch::zeros({1, 16, 2, 4, 4})), InputError);
  EXPECT_THROW(tiny_vae()->encode(torch::zeros({4, 1, 16, 16})), InputError);
}

// The structure follows the config (as diffusers AutoencoderKLWan): residual blocks and other latent
// widths build; what cannot be consistent is refused: a patchify whose channels do not match,
// attention outside the middle blocks, a temporal schedule of the wrong length.
TEST(VAEConfig, InconsistentConfigsAreRejected) {
  wan::WanVAEConfig c;
  c.latents_mean = wan::wan21_latents_mean();
  c.latents_std = wan::wan21_latents_std();
  auto residual = c;
  residual.is_residual = true;
  EXPECT_NO_THROW(wan::make_wan_vae(residual, torch::kCPU));
  auto z48 = c;
  z48.z_dim = 48;
  z48.latents_mean.assign(48, 0.f);
  z48.latents_std.assign(48, 1.f);
  EXPECT_NO_THROW(wan::make_wan_vae(z48, torch::kCPU));
  auto patch = c;
  patch.patch_size = 2;  // needs 12 channels in and out
  EXPECT_THROW(wan::make_wan_vae(patch, torch::kCPU), ConfigError);
  patch.in_channels = patch.out_channels = 12;
  EXPECT_EQ(wan::make_wan_vae(patch, torch::kCPU)->spatial_factor(), 16);
  auto attn = c;
  attn.attn_scales = {0.5};
  EXPECT_THROW(wan::make_wan_vae(attn, torch::kCPU), ConfigError);
  auto td = c;
  td.temperal_downsample = {false, true};
  EXPECT_THROW(wan::make_wan_vae(td, torch::kCPU), ConfigError);
}

// A smaller, different Wan2.1-structured config: 3 levels (spatial 4x), temporal 2x only at the
// first down stage (decoder: at the last up stage), one res block per level.
TEST(VAEConfig, GeneralConfigShapes) {
  wan::WanVAEConfig c;
  c.base_dim = 4;
  c.dim_mult = {1, 2, 2};
  c.num_res_blocks = 1;
  c.temperal_downsample = {true, false};
  c.latents_mean = wan::wan21_latents_mean();
  c.latents_std = wan::wan21_latents_std();
  auto vae = wan::make_wan_vae(c, torch::kCPU);
  t2v::nn::randomize_parameters(*vae, 7, 0.1);
  EXPECT_EQ(vae->spatial_factor(), 4);
  // Decoder level 1 upsamples time (reversed temperal_downsample), level 0 only space.
  std::set<std::string> keys;
  for (const auto& p : vae->named_parameters()) keys.insert(p.key());
  EXPECT_TRUE(keys.count("decoder.up_blocks.1.upsamplers.0.time_conv.weight"));
  EXPECT_FALSE(keys.count("decoder.up_blocks.0.upsamplers.0.time_conv.weight"));
  EXPECT_FALSE(keys.count("decoder.up_blocks.2.upsamplers.0.resample.1.weight"));
  EXPECT_TRUE(keys.count("decoder.up_blocks.2.resnets.1.conv2.weight"));
  EXPECT_TRUE(keys.count("encoder.down_blocks.1.time_conv.weight"));  // [res, resample, res, resample, res]
  EXPECT_TRUE(keys.count("encoder.down_blocks.3.resample.1.weight"));

  std::vector<int64_t> counts;
  vae->decode_stream(random_latent(3, 2, 3, 8), [&](const torch::Tensor& f) {
    EXPECT_EQ(f.sizes(), (std::vector<int64_t>{3, f.size(1), 8, 12}));
    counts.push_back(f.size(1));
  });
  EXPECT_EQ(counts, (std::vector<int64_t>{1, 2, 2}));  // temporal factor 2
  // The reference always encodes in chunks of 1, 4, 4, ... frames; with one 2x temporal stage a
  // chunk of 4 gives 2 latent frames: 1 + 2 + 2.
  auto latent = vae->encode(torch::zeros({3, 9, 8, 12}));
  EXPECT_EQ(latent.sizes(), (std::vector<int64_t>{16, 5, 2, 3}));
}

}  // namespace
}  // namespace t2v::test
