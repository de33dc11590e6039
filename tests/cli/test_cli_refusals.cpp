// Models t2v cannot run are refused when opened, before any weights load: exit 2, one line naming
// the file, what it is, and that t2v does not run it (the real fixture files of those models).
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "support/temp_dir.h"
#include "support/golden.h"
#include "support/run_binary.h"
#include "t2v/error.h"
#include "t2v/models/wan/model_source.h"
#include "t2v/models/wan/support.h"

using t2v::test::run_t2v;
namespace fs = std::filesystem;

namespace {

class Refusals : public t2v::test::TempDirTest {
 protected:

  // generate with `model_args`; expects exit 2, no output, no denoising, and returns the error line
  // (which says t2v does not run the model, unless the model runs but not the request).
  std::string refused(const std::vector<std::string>& model_args, bool unsupported_model = true) {
    std::vector<std::string> args = {"generate", "-p", "a fox", "--steps", "2", "--size", "32x32", "--frames", "5",
                                     "-o", (dir_ / "out.mp4").string()};
    args.insert(args.end(), model_args.begin(), model_args.end());
    auto r = run_t2v(args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_FALSE(fs::exists(dir_ / "out.mp4"));
    EXPECT_EQ(r.err.find("denoise"), std::string::npos) << r.err;
    const auto at = r.err.find("t2v: error: ");
    EXPECT_NE(at, std::string::npos) << r.err;
    if (at == std::string::npos) return {};
    const std::string line = r.err.substr(at);
    EXPECT_EQ(line.find('\n'), line.size() - 1) << "not one line: " << line;
    if (unsupported_model) EXPECT_NE(line.find("t2v does not run it"), std::string::npos) << line;
    return line;
  }

  fs::path folder_with_index(const nlohmann::json& changes) {
    const fs::path d = dir_ / "model";
    fs::copy(t2v::test::tiny_model_dir(), d, fs::copy_options::recursive);
    fs::permissions(d / "model_index.json", fs::perms::owner_write, fs::perm_options::add);
    auto index = nlohmann::json::parse(std::ifstream(d / "model_index.json"));
    index.merge_patch(changes);
    std::ofstream(d / "model_index.json") << index.dump(2);
    return d;
  }
};

const fs::path kGolden = t2v::test::golden_dir();

std::vector<std::string> single_files(const fs::path& dit, const fs::path& vae) {
  const fs::path c = t2v::test::tiny_comfy_dir();
  return {"--transformer", dit.string(), "--text-encoder", (c / "umt5_tiny_bf16.safetensors").string(), "--vae",
          vae.string()};
}

// A Wan2.1 I2V DiT runs with its CLIP tower only: without --image-encoder it is refused, naming both.
TEST_F(Refusals, SingleFileImageToVideoDitWithoutItsImageEncoder) {
  const fs::path dit = kGolden / "wan21-i2v-tiny-comfy" / "wan2.1_i2v_480p_tiny_bf16.safetensors";
  const auto line = refused(single_files(dit, t2v::test::tiny_comfy_dir() / "wan_2.1_vae_tiny_bf16.safetensors"),
                            /*unsupported_model=*/false);
  EXPECT_NE(line.find(dit.string()), std::string::npos) << line;
  EXPECT_NE(line.find("image encoder is missing"), std::string::npos) << line;
  EXPECT_NE(line.find("clip_vision_h"), std::string::npos) << line;
}

TEST_F(Refusals, Wan22VaeSingleFile) {
  const fs::path vae = kGolden / "wan22-ti2v-tiny-comfy" / "wan2.2_vae_tiny_bf16.safetensors";
  const auto line = refused(single_files(t2v::test::tiny_comfy_dir() / "wan2.1_t2v_tiny_bf16.safetensors", vae));
  EXPECT_NE(line.find(vae.string()), std::string::npos) << line;
  EXPECT_NE(line.find("Wan2.2 VAE"), std::string::npos) << line;
}

// Two experts run (Wan2.2 T2V-A14B); each expert is checked like a single DiT.
TEST_F(Refusals, SecondExpertThatIsAnImageToVideoDit) {
  const fs::path a14b = kGolden / "wan22-a14b-tiny-comfy";
  const fs::path i2v = kGolden / "wan21-i2v-tiny-comfy" / "wan2.1_i2v_480p_tiny_bf16.safetensors";
  auto args = single_files(a14b / "wan2.2_t2v_high_noise_tiny_bf16.safetensors", a14b / "wan_2.1_vae_tiny_bf16.safetensors");
  args.insert(args.end(), {"--transformer-2", i2v.string()});
  const auto line = refused(args);
  EXPECT_NE(line.find(i2v.string()), std::string::npos) << line;
  EXPECT_NE(line.find("image-to-video DiT"), std::string::npos) << line;
}

TEST_F(Refusals, UnknownPipelineClass) {
  const auto d = folder_with_index({{"_class_name", "FancyVideoPipeline"}});
  const auto line = refused({"-m", d.string()});
  EXPECT_NE(line.find("unknown pipeline class \"FancyVideoPipeline\""), std::string::npos) << line;
}

// A folder that declares an image encoder must hold it.
TEST_F(Refusals, ImageToVideoFolderWithoutItsImageEncoderFolder) {
  const auto d = folder_with_index(
      {{"_class_name", "WanImageToVideoPipeline"}, {"image_encoder", {"transformers", "CLIPVisionModel"}}});
  const auto line = refused({"-m", d.string()}, /*unsupported_model=*/false);
  EXPECT_NE(line.find("image_encoder"), std::string::npos) << line;
  EXPECT_NE(line.find(d.string()), std::string::npos) << line;
}

// A text-to-video request on an image-to-video model is refused before any weights load.
TEST_F(Refusals, TextOnlyRequestOnAnImageToVideoModel) {
  const auto line = refused({"-m", (kGolden / "wan22-i2v-tiny").string()}, /*unsupported_model=*/false);
  EXPECT_NE(line.find("image-to-video model"), std::string::npos) << line;
  EXPECT_NE(line.find("give an image"), std::string::npos) << line;
}

// The rule itself, on configs no fixture has: any DiT whose channels are not the VAE latent's, VACE.
TEST(SupportRule, ChannelsAndVaceAreChecked) {
  auto src = t2v::wan::open_diffusers_folder(t2v::test::tiny_model_dir());
  EXPECT_FALSE(t2v::wan::unsupported_reason(src).has_value());
  EXPECT_NO_THROW(t2v::wan::check_supported(src));
  auto wide = src;
  wide.transformer_config.in_channels = 20;
  auto why = t2v::wan::unsupported_reason(wide);
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("takes 20 input"), std::string::npos) << *why;
  EXPECT_THROW(t2v::wan::check_supported(wide), t2v::ConfigError);
  auto vae = src;
  vae.vae_config.z_dim = 48;
  vae.vae_config.is_residual = true;
  vae.vae_config.patch_size = 2;
  why = t2v::wan::unsupported_reason(vae);
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("Wan2.2 VAE (z_dim 48) with a 16-channel"), std::string::npos) << *why;
  vae.vae_config.patch_size = 0;  // neither VAE
  why = t2v::wan::unsupported_reason(vae);
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("z_dim 48, residual blocks"), std::string::npos) << *why;
  auto flf = src;
  flf.transformer_config.model_type = "flf2v";
  EXPECT_NE(t2v::wan::unsupported_reason(flf)->find("first-last-frame"), std::string::npos);
}

}  // namespace
