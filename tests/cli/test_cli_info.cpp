// End-to-end: the real t2v binary describing the fixture models, and its exit codes.
#include <gtest/gtest.h>

#include <algorithm>

#include <fstream>
#include <nlohmann/json.hpp>

#include "support/golden.h"
#include "support/run_binary.h"

using t2v::test::run_t2v;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> comfy_args() {
  const fs::path d = t2v::test::tiny_comfy_dir();
  return {"--transformer", (d / "wan2.1_t2v_tiny_bf16.safetensors").string(), "--text-encoder",
          (d / "umt5_tiny_bf16.safetensors").string(), "--vae", (d / "wan_2.1_vae_tiny_bf16.safetensors").string()};
}

TEST(CliInfo, SameParameterCountsForBothLayouts) {
  auto a = run_t2v({"info", "--json", t2v::test::tiny_model_dir().string()});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  auto args = comfy_args();
  args.insert(args.begin(), {"info", "--json"});
  auto b = run_t2v(args);
  ASSERT_EQ(b.exit_code, 0) << b.err;
  auto ja = nlohmann::json::parse(a.out);
  auto jb = nlohmann::json::parse(b.out);
  EXPECT_EQ(ja["source"], "diffusers");
  EXPECT_EQ(jb["source"], "single-file");
  for (const char* c : {"text_encoder", "transformer", "vae"}) {
    EXPECT_EQ(ja[c]["parameters"], jb[c]["parameters"]) << c;
    EXPECT_GT(ja[c]["parameters"].get<uint64_t>(), 0u) << c;
  }
  // Known sizes of the tiny fixture (sums of the checkpoint tensors' elements).
  EXPECT_EQ(ja["transformer"]["config"]["dim"], 96);
  EXPECT_EQ(ja["transformer"]["dtypes"], nlohmann::json::array({"F32"}));
  EXPECT_EQ(jb["transformer"]["dtypes"], nlohmann::json::array({"BF16"}));
  EXPECT_EQ(jb["transformer"]["layout"], "official");
  EXPECT_EQ(ja["text_len"], 16);
}

TEST(CliInfo, HumanReadable) {
  auto r = run_t2v({"info", t2v::test::tiny_model_dir().string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("WanTransformer3DModel"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("UMT5EncoderModel"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("AutoencoderKLWan"), std::string::npos) << r.out;
}

TEST(CliInfo, ExitCodes) {
  EXPECT_EQ(run_t2v({"--version"}).exit_code, 0);
  auto bad_opt = run_t2v({"info", "--no-such-flag"});
  EXPECT_EQ(bad_opt.exit_code, 2);
  EXPECT_EQ(run_t2v({}).exit_code, 2);
  // A folder that is not a model: one-line error naming it, exit 2.
  auto not_model = run_t2v({"info", t2v::test::golden_dir().string()});
  EXPECT_EQ(not_model.exit_code, 2);
  EXPECT_NE(not_model.err.find("model_index.json"), std::string::npos) << not_model.err;
  EXPECT_EQ(std::count(not_model.err.begin(), not_model.err.end(), '\n'), 1) << not_model.err;
  EXPECT_TRUE(not_model.out.empty());
}

TEST(CliInfo, MalformedWeightsFileExitsTwoNamingFile) {
  const fs::path bad = fs::temp_directory_path() / ("t2v_bad_" + std::to_string(::getpid()) + ".safetensors");
  std::ofstream(bad) << "garbage!!garbage";
  auto args = comfy_args();
  args[1] = bad.string();  // --transformer
  args.insert(args.begin(), "info");
  auto r = run_t2v(args);
  fs::remove(bad);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(bad.filename().string()), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("header length"), std::string::npos) << r.err;
}

}  // namespace

namespace {
// Wan2.2 T2V-A14B: both experts, the switch point and the official defaults, in both layouts.
// Wan2.1 I2V: the image encoder (its layout and config) and the modes, from both layouts.
TEST(CliInfo, ImageToVideoModelWithItsImageEncoder) {
  const fs::path c = t2v::test::golden_dir() / "wan21-i2v-tiny-comfy";
  const std::vector<std::vector<std::string>> layouts = {
      {(t2v::test::golden_dir() / "wan21-i2v-tiny").string()},
      {"--transformer", (c / "wan2.1_i2v_480p_tiny_bf16.safetensors").string(), "--image-encoder",
       (c / "clip_vision_h_tiny_bf16.safetensors").string(), "--text-encoder", (c / "umt5_tiny_bf16.safetensors").string(),
       "--vae", (c / "wan_2.1_vae_tiny_bf16.safetensors").string()}};
  for (const auto& layout : layouts) {
    std::vector<std::string> args = {"info", "--json"};
    args.insert(args.end(), layout.begin(), layout.end());
    auto r = run_t2v(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["family"], "wan2.1");
    EXPECT_TRUE(j["supported"].get<bool>()) << r.out;
    ASSERT_TRUE(j.contains("image_encoder")) << r.out;
    EXPECT_EQ(j["image_encoder"]["config"]["tokens"], 257);
    EXPECT_EQ(j["image_encoder"]["layout"], layout.size() == 1 ? "hf" : "open-clip");
    const auto modes = j["modes"].get<std::vector<std::string>>();
    EXPECT_EQ(std::count(modes.begin(), modes.end(), "image-to-video"), 1);
    EXPECT_EQ(std::count(modes.begin(), modes.end(), "text-to-video"), 0);
  }
  auto text = run_t2v({"info", (t2v::test::golden_dir() / "wan21-i2v-tiny").string()});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("image_encoder"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("CLIPVisionModel"), std::string::npos) << text.out;
}

TEST(CliInfo, TwoExpertModel) {
  const fs::path c = t2v::test::golden_dir() / "wan22-a14b-tiny-comfy";
  const std::vector<std::vector<std::string>> layouts = {
      {(t2v::test::golden_dir() / "wan22-a14b-tiny").string()},
      {"--high-noise", (c / "wan2.2_t2v_high_noise_tiny_bf16.safetensors").string(), "--low-noise",
       (c / "wan2.2_t2v_low_noise_tiny_bf16.safetensors").string(), "--text-encoder",
       (c / "umt5_tiny_bf16.safetensors").string(), "--vae", (c / "wan_2.1_vae_tiny_bf16.safetensors").string()}};
  for (const auto& layout : layouts) {
    std::vector<std::string> args = {"info", "--json"};
    args.insert(args.end(), layout.begin(), layout.end());
    auto r = run_t2v(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["family"], "wan2.2");
    EXPECT_TRUE(j["supported"].get<bool>());
    EXPECT_DOUBLE_EQ(j["boundary_ratio"].get<double>(), 0.875);
    EXPECT_EQ(j["transformer"]["parameters"], j["transformer_2"]["parameters"]);
    EXPECT_EQ(j["defaults"]["steps"], 40);
    EXPECT_DOUBLE_EQ(j["defaults"]["shift"].get<double>(), 12.0);
    EXPECT_DOUBLE_EQ(j["defaults"]["guidance"].get<double>(), 4.0);
    EXPECT_DOUBLE_EQ(j["defaults"]["guidance_2"].get<double>(), 3.0);
  }
  auto text = run_t2v({"info", (t2v::test::golden_dir() / "wan22-a14b-tiny").string()});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("transformer_2"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("t >= 875"), std::string::npos) << text.out;
}
}  // namespace
