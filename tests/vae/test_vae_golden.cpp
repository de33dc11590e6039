// Golden tests of the Wan2.1 VAE against fixtures made by the official W21 wan/modules/vae.py
// (WanVAE.decode / WanVAE.encode, fp32 CPU) on the tiny random-weight VAE, loaded from both the
// diffusers folder (fp32) and the ComfyUI-style single file (official names, bf16; values are
// bf16-representable, so both must give the same result). Tolerances come from tolerances.json
// (vae_decode 5e-5, vae_encode 1e-5: >= 10x the fp64-shadow noise of the reference).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <iostream>
#include <set>

#include "support/golden.h"
#include "t2v/models/wan/model_source.h"
#include "t2v/models/wan/vae.h"

namespace t2v::test {
namespace {

const wan::WanModelSource& source(const std::string& layout) {
  static const wan::WanModelSource diffusers = wan::open_diffusers_folder(tiny_model_dir());
  static const wan::WanModelSource comfy = wan::open_single_files(
      {tiny_comfy_dir() / "wan2.1_t2v_tiny_bf16.safetensors", tiny_comfy_dir() / "umt5_tiny_bf16.safetensors",
       tiny_comfy_dir() / "wan_2.1_vae_tiny_bf16.safetensors", {}});
  return layout == "diffusers" ? diffusers : comfy;
}

wan::WanVAE& vae(const std::string& layout) {
  static wan::WanVAE diffusers = wan::load_wan_vae(source("diffusers"), torch::kCPU);
  static wan::WanVAE comfy = wan::load_wan_vae(source("comfy"), torch::kCPU);
  return layout == "diffusers" ? diffusers : comfy;
}

// Asserts and prints the max error (the report quotes it).
void expect_golden(const torch::Tensor& got, const std::string& file, const std::string& tensor) {
  const auto r = matches_golden(got, file, tensor);
  EXPECT_TRUE(r) << file << " " << tensor;
  std::cout << "[ golden   ] " << file << " " << tensor << ": " << r.message() << "\n";
}

class VAEGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(VAEGolden, LayoutAndConfig) {
  const auto& src = source(GetParam());
  EXPECT_EQ(src.vae.layout, GetParam() == "diffusers" ? "diffusers" : "official");
  EXPECT_EQ(src.vae_config.base_dim, 8);
  EXPECT_EQ(src.vae_config.z_dim, 16);
  EXPECT_EQ(src.vae_config.num_res_blocks, 2);
  EXPECT_EQ(src.vae_config.dim_mult, (std::vector<int64_t>{1, 2, 4, 4}));
}

// Registered names and shapes are exactly the checkpoint's (diffusers names after renaming).
TEST_P(VAEGolden, NamedParametersEqualCheckpointKeys) {
  const auto& store = source(GetParam()).vae.store;
  auto params = vae(GetParam())->named_parameters(/*recurse=*/true);
  std::set<std::string> module_keys;
  for (const auto& p : params) {
    module_keys.insert(p.key());
    ASSERT_TRUE(store.contains(p.key())) << p.key();
    EXPECT_EQ(p.value().sizes(), torch::IntArrayRef(store.info(p.key()).shape)) << p.key();
    EXPECT_EQ(p.value().scalar_type(), torch::kFloat32) << p.key();
  }
  const auto keys = store.keys();
  EXPECT_EQ(module_keys, std::set<std::string>(keys.begin(), keys.end()));
  EXPECT_EQ(module_keys.size(), params.size());
  // Spot checks of the diffusers names (spec §3.3).
  for (const char* k : {"encoder.conv_in.weight", "encoder.down_blocks.2.resample.1.weight",
                        "encoder.down_blocks.5.time_conv.weight", "encoder.down_blocks.3.conv_shortcut.weight",
                        "encoder.mid_block.attentions.0.to_qkv.weight", "encoder.norm_out.gamma", "quant_conv.bias",
                        "post_quant_conv.weight", "decoder.up_blocks.1.resnets.0.conv_shortcut.weight",
                        "decoder.up_blocks.0.upsamplers.0.time_conv.weight",
                        "decoder.up_blocks.2.upsamplers.0.resample.1.weight", "decoder.norm_out.gamma"}) {
    EXPECT_TRUE(module_keys.count(k)) << k;
  }
  EXPECT_FALSE(module_keys.count("decoder.up_blocks.2.upsamplers.0.time_conv.weight"));  // upsample2d
}

void check_decode(const std::string& layout, const std::string& file, int64_t frames) {
  auto z = load_case_tensor(file, "z");
  auto video = vae(layout)->decode(z);
  EXPECT_EQ(video.size(1), frames);
  EXPECT_EQ(video.size(1), 1 + 4 * (z.size(1) - 1));
  expect_golden(video, file, "video");
  wan::VAEDecodeOptions raw;
  raw.clamp = false;
  expect_golden(vae(layout)->decode(z, raw), file, "debug.video_unclamped");
}

TEST_P(VAEGolden, DecodeT2H4W6) { check_decode(GetParam(), "vae_decode_t2h4w6.safetensors", 5); }
TEST_P(VAEGolden, DecodeT4H3W5) { check_decode(GetParam(), "vae_decode_t4h3w5.safetensors", 13); }

TEST_P(VAEGolden, EncodeF9H32W48) {
  const std::string file = "vae_encode_f9h32w48.safetensors";
  auto latent = vae(GetParam())->encode(load_case_tensor(file, "video"));
  expect_golden(latent, file, "latent");
}

INSTANTIATE_TEST_SUITE_P(Layouts, VAEGolden, ::testing::Values("diffusers", "comfy"));

}  // namespace
}  // namespace t2v::test
