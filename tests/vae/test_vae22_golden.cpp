// The Wan2.2 VAE (z_dim 48, 2x2 patchify, residual blocks with AvgDown3D / DupUp3D shortcuts)
// against the official Wan2_2_VAE (W22 wan/modules/vae2_2.py) on the tiny model: decode and encode
// fixtures of cases-wan22-ti2v/, from the diffusers folder (AutoencoderKLWan, is_residual) and from
// the ComfyUI-style single file with official names, config from its metadata and from its shapes.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "support/golden.h"
#include "t2v/io/json_file.h"
#include "t2v/io/state_dict_loader.h"
#include "t2v/models/wan/model_source.h"
#include "t2v/models/wan/vae.h"

namespace t2v::test {
namespace {
const std::string kCases = "cases-wan22-ti2v/";

wan::WanVAE load_vae(const std::string& layout) {
  wan::WanModelSource src;
  if (layout == "diffusers") {
    const auto dir = golden_dir() / "wan22-ti2v-tiny" / "vae";
    src.vae_config = wan::WanVAEConfig::from_diffusers_json(io::read_json_file(dir / "config.json"), "config.json");
    src.vae = wan::canonical_component("vae", io::TensorStore::open(dir), &src.vae_config);
  } else {
    auto raw = io::TensorStore::open(golden_dir() / "wan22-ti2v-tiny-comfy" / "wan2.2_vae_tiny_bf16.safetensors");
    if (layout == "comfy-metadata") {
      const auto cfg = raw.metadata().at("wan_vae_config");
      src.vae_config = wan::WanVAEConfig::from_wan_json(io::parse_json_text(cfg, "metadata"), "metadata");
    } else {
      src.vae_config = wan::WanVAEConfig::wan22_from_official_tensors(raw);  // as a real file, no config
    }
    src.vae = wan::canonical_component("vae", std::move(raw), &src.vae_config);
  }
  EXPECT_TRUE(src.vae_config.is_residual);
  EXPECT_EQ(src.vae_config.z_dim, 48);
  return wan::load_wan_vae(src, torch::kCPU);
}

class Vae22Golden : public ::testing::TestWithParam<std::string> {};

TEST_P(Vae22Golden, ConfigFromShapesEqualsTheFolderConfig) {
  const auto dir = golden_dir() / "wan22-ti2v-tiny" / "vae";
  const auto a = wan::WanVAEConfig::from_diffusers_json(io::read_json_file(dir / "config.json"), "config.json");
  auto vae = load_vae(GetParam());
  const auto& b = vae->config();
  EXPECT_EQ(a.base_dim, b.base_dim);
  EXPECT_EQ(a.decoder_base_dim, b.decoder_base_dim);
  EXPECT_EQ(a.dim_mult, b.dim_mult);
  EXPECT_EQ(a.num_res_blocks, b.num_res_blocks);
  EXPECT_EQ(a.temperal_downsample, b.temperal_downsample);
  EXPECT_EQ(a.latents_mean, b.latents_mean);
  EXPECT_EQ(a.latents_std, b.latents_std);
  EXPECT_EQ(vae->spatial_factor(), 16);
}

TEST_P(Vae22Golden, DecodeMatchesOfficial) {
  auto vae = load_vae(GetParam());
  torch::NoGradGuard no_grad;
  for (const char* name : {"vae22_decode_t2h3w4.safetensors", "vae22_decode_t3h2w3.safetensors"}) {
    const std::string f = kCases + name;
    const auto z = load_case_tensor(f, "z");
    wan::VAEDecodeOptions raw;
    raw.clamp = false;
    auto r = matches_golden(vae->decode(z, raw), f, "debug.video_unclamped");
    EXPECT_TRUE(r) << GetParam() << " " << name << " unclamped: " << r.message();
    // Streaming: chunks of 1, then 4 frames, whose concatenation is the video.
    std::vector<int64_t> sizes;
    std::vector<torch::Tensor> chunks;
    vae->decode_stream(z, [&](const torch::Tensor& c) { sizes.push_back(c.size(1)); chunks.push_back(c); });
    ASSERT_EQ(sizes.size(), static_cast<size_t>(z.size(1)));
    EXPECT_EQ(sizes[0], 1);
    for (size_t i = 1; i < sizes.size(); ++i) EXPECT_EQ(sizes[i], 4);
    r = matches_golden(torch::cat(chunks, 1), f, "video");
    EXPECT_TRUE(r) << GetParam() << " " << name << ": " << r.message();
  }
}

TEST_P(Vae22Golden, EncodeMatchesOfficial) {
  auto vae = load_vae(GetParam());
  torch::NoGradGuard no_grad;
  for (const char* name : {"vae22_encode_f1h32w48.safetensors", "vae22_encode_f5h64w96.safetensors"}) {
    const std::string f = kCases + name;
    auto r = matches_golden(vae->encode(load_case_tensor(f, "video")), f, "latent");
    EXPECT_TRUE(r) << GetParam() << " " << name << ": " << r.message();
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, Vae22Golden, ::testing::Values("diffusers", "comfy-metadata", "comfy-shapes"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (auto& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

}  // namespace
}  // namespace t2v::test
