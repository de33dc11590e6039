// Wan2.2 I2V-A14B (two experts, mask + image latent channels) against the official Wan2.2 code on
// the tiny model (cases-wan22-i2v/, made by W22 wan/image2video.py WanI2V.generate and
// wan/modules/model.py WanModel.forward with y): the high-noise expert's forward with y, and the
// whole `--image --max-area` request planned and run as the CLI does, from the diffusers folder
// (WanImageToVideoPipeline, no image encoder, boundary_ratio 0.9) and from ComfyUI's two single
// files: the preprocessed image, y, every step, the expert and guidance per step, the frames.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "support/golden.h"
#include "support/temp_dir.h"
#include "t2v/error.h"
#include "t2v/io/safetensors.h"
#include "t2v/io/video_writer.h"
#include "t2v/models/wan/family.h"
#include "t2v/models/wan/model_source.h"
#include "t2v/models/wan/transformer.h"
#include "t2v/pipeline/conditions.h"
#include "t2v/pipeline/pipeline.h"

namespace fs = std::filesystem;
using namespace t2v;

namespace {
const std::string kCases = "cases-wan22-i2v/";
const std::string kRun = kCases + "i2v_img120x72_area6144_f9.safetensors";

wan::WanModelSource open_layout(const std::string& layout) {
  if (layout == "diffusers") return wan::open_diffusers_folder(test::golden_dir() / "wan22-i2v-tiny");
  const fs::path c = test::golden_dir() / "wan22-i2v-tiny-comfy";
  wan::SingleFilePaths p;
  p.transformer = c / "wan2.2_i2v_high_noise_tiny_bf16.safetensors";
  p.transformer_2 = c / "wan2.2_i2v_low_noise_tiny_bf16.safetensors";
  p.text_encoder = c / "umt5_tiny_bf16.safetensors";
  p.vae = c / "wan_2.1_vae_tiny_bf16.safetensors";
  return wan::open_single_files(p);
}

class I2vA14b : public test::TempDirTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(I2vA14b, OpensAsAnImageToVideoModelWithTheOfficialDefaults) {
  const auto src = open_layout(GetParam());
  ASSERT_TRUE(src.two_experts);
  EXPECT_DOUBLE_EQ(src.boundary_ratio, 0.9);
  EXPECT_EQ(src.transformer_config.in_channels, 36);
  auto model = wan::make_model(open_layout(GetParam()));
  EXPECT_EQ(model->family(), "wan2.2");
  EXPECT_FALSE(model->unsupported_reason().has_value()) << *model->unsupported_reason();
  const auto lim = model->grid_limits();
  EXPECT_EQ(lim.known_frames, models::GridLimits::KnownFrames::kMaskChannels);
  EXPECT_EQ(lim.image_rule, models::GridLimits::ImageRule::kWanI2VFloat);
  EXPECT_EQ(lim.default_width * lim.default_height, 1280 * 720);  // W22 generate.py max_area for i2v-A14B
  // W22 wan/configs/wan_i2v_A14B.py: 40 steps, shift 5.0, guide (3.5, 3.5).
  const auto d = model->defaults();
  EXPECT_EQ(d.steps, 40);
  EXPECT_DOUBLE_EQ(d.shift, 5.0);
  EXPECT_DOUBLE_EQ(d.guidance, 3.5);
  ASSERT_TRUE(d.guidance_2.has_value());
  EXPECT_DOUBLE_EQ(*d.guidance_2, 3.5);
  const auto modes = model->supported_modes();
  EXPECT_EQ(std::count(modes.begin(), modes.end(), "text-to-video"), 0);
  EXPECT_EQ(std::count(modes.begin(), modes.end(), "image-to-video"), 1);
}

// The DiT input is concat(x, y) on the channel axis: 16 + 4 + 16 = in_dim 36.
TEST_P(I2vA14b, HighNoiseExpertWithYMatchesOfficialWanModel) {
  const auto src = open_layout(GetParam());
  auto dit = wan::load_wan_transformer(src.transformer_config, src.transformer.store, torch::kFloat32, torch::kCPU,
                                       src.transformer.layout);
  const std::string f = kCases + "dit_high_f3h4w6_y.safetensors";
  torch::NoGradGuard no_grad;
  const auto x = torch::cat({test::load_case_tensor(f, "x"), test::load_case_tensor(f, "y")}, 1);  // [1, 36, F, H, W]
  auto out = dit->forward(x, test::load_case_tensor(f, "t"), test::load_case_tensor(f, "context"));
  auto r = test::matches_golden(out, f, "out");
  EXPECT_TRUE(r) << GetParam() << ": " << r.message();
}

// `t2v generate --image IMG --max-area 6144 --frames 9`: the size from the image's aspect (96x48 for
// 120x72), the stretched float bicubic resize, y = mask + latent, then the run step by step.
TEST_P(I2vA14b, ImageToVideoThroughThePipeline) {
  auto fixture = io::SafetensorsFile::open(test::case_path(kRun));
  const auto c = nlohmann::json::parse(fixture->metadata().at("case"));
  const fs::path png = dir_ / "image.png";
  test::write_png(test::load_case_tensor(kRun, "image_u8"), png);

  pipeline::Pipeline pipe(wan::make_model(open_layout(GetParam())));
  pipeline::ConditionsRequest cr;
  cr.conditions.push_back({png, 0, 1.0, "image"});
  cr.max_area = c.at("max_area").get<int64_t>();
  pipeline::GridRequest g;
  g.frames = c.at("frame_num").get<int>();
  auto planned = pipeline::plan_generation(cr, g, pipe.grid_limits());
  ASSERT_EQ(planned.grid.width, 96);
  ASSERT_EQ(planned.grid.height, 48);

  pipeline::GenerationSettings s;
  s.prompt = c.at("prompt").get<std::string>();
  s.negative_prompt = pipe.model().defaults().negative_prompt;  // n_prompt='' -> sample_neg_prompt
  ASSERT_EQ(s.negative_prompt, fixture->metadata().at("negative_prompt"));
  s.grid = planned.grid;
  s.conditions = std::move(planned.plan);
  s.steps = c.at("steps").get<int>();
  s.shift = c.at("shift").get<double>();
  s.guidance = c.at("guide")[1].get<double>();    // (low, high): the high-noise expert's
  s.guidance_2 = c.at("guide")[0].get<double>();  // the low-noise expert's
  s.seed = c.at("seed").get<uint64_t>();
  s.output = dir_ / "out.mp4";
  s.save_intermediates = dir_ / "intermediates.safetensors";
  auto result = pipe.generate(s);
  EXPECT_EQ(result.frames, 9);
  EXPECT_DOUBLE_EQ(result.settings.at("boundary_timestep").get<double>(),
                   test::load_case_tensor(kRun, "boundary").item<double>());

  auto got = io::SafetensorsFile::open(s.save_intermediates);
  std::vector<std::string> names = {"context", "context_null", "image_in", "image_resized", "y", "noise", "sigmas",
                                    "timesteps", "step_expert", "step_guide", "latent_final", "video", "frames_u8"};
  for (const auto& n : test::step_tensor_names(s.steps)) names.push_back(n);
  for (const auto& name : names) {
    ASSERT_TRUE(got->contains(name)) << name;
    auto r = test::matches_golden(got->view(name), kRun, name);
    EXPECT_TRUE(r) << GetParam() << " " << name << ": " << r.message();
  }
  EXPECT_FALSE(got->contains("known_latent")) << "the latent is never re-blended on a mask-channel model";
}

INSTANTIATE_TEST_SUITE_P(Layouts, I2vA14b, ::testing::Values("diffusers", "comfy"));

// Planning on a mask-channel model: known pixel frames are marked one by one, so two conditions
// may share a latent frame; the mask is binary (strength 1); a request with no known frame is refused.
class I2vPlanning : public test::TempDirTest {
 protected:
  models::GridLimits limits() const {
    auto lim = wan::make_model(open_layout("diffusers"))->grid_limits();
    return lim;
  }
  fs::path image(const std::string& name, int value) {
    const fs::path p = dir_ / name;
    test::write_png(torch::full({48, 64, 3}, value, torch::kUInt8), p);
    return p;
  }
};

TEST_F(I2vPlanning, FramesAreMarkedOneByOne) {
  const auto lim = limits();
  pipeline::ConditionsRequest r;
  r.conditions.push_back({image("a.png", 10), 0, 1.0, "image"});
  r.conditions.push_back({image("b.png", 200), 5, 1.0, "cond"});  // latent frame 2 holds frames 5-8
  r.conditions.push_back({image("c.png", 90), 6, 1.0, "cond"});   // same latent frame, next frame
  r.conditions.push_back({image("d.png", 250), -1, 1.0, "last_image"});
  pipeline::GridRequest g;
  g.width = 64;
  g.height = 48;
  g.frames = 13;
  const auto p = pipeline::plan_generation(r, g, lim).plan;
  const std::vector<double> want = {1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1};
  EXPECT_EQ(p.frame_weight, want);
  const auto mask = pipeline::mask_channels(p.frame_weight, 4, 2, 3);  // [4, T, 2, 3]
  ASSERT_EQ(mask.sizes(), (std::vector<int64_t>{4, 4, 2, 3}));
  auto m = mask.select(3, 0).select(2, 0);  // [4, T]
  // Latent 0: frame 0 in all four channels; latent j >= 1: frames 4j-3 .. 4j in channels 0..3.
  EXPECT_TRUE(torch::equal(m, torch::tensor({1.f, 0.f, 1.f, 0.f, 1.f, 0.f, 1.f, 0.f, 1.f, 0.f, 0.f, 0.f, 1.f, 0.f, 0.f, 1.f})
                                  .view({4, 4})))
      << m;
  const auto video = p.masked_video();  // [3, 13, 48, 64]
  ASSERT_EQ(video.sizes(), (std::vector<int64_t>{3, 13, 48, 64}));
  EXPECT_NEAR(video[0][5][0][0].item<float>(), 200 / 255.0 * 2 - 1, 1e-6);
  EXPECT_NEAR(video[0][12][0][0].item<float>(), 250 / 255.0 * 2 - 1, 1e-6);
  EXPECT_EQ(video.select(1, 3).abs().max().item<float>(), 0.f);  // free frames are zeros
  EXPECT_EQ(p.fit, pipeline::Fit::Stretch);  // the official code stretches
}

TEST_F(I2vPlanning, RefusesWhatTheMaskCannotSay) {
  const auto lim = limits();
  pipeline::GridRequest g;
  g.width = 64;
  g.height = 48;
  g.frames = 9;
  pipeline::ConditionsRequest none;
  try {
    pipeline::plan_generation(none, g, lim);
    FAIL() << "a text-only request was planned";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("image-to-video model"), std::string::npos) << e.what();
  }
  pipeline::ConditionsRequest soft;
  soft.conditions.push_back({image("a.png", 10), 0, 0.5, "image"});
  try {
    pipeline::plan_generation(soft, g, lim);
    FAIL() << "a soft condition was planned";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("strength must be 1"), std::string::npos) << e.what();
  }
}

// The mask construction at other lengths: frame 0 is repeated stride times, then frames in groups.
TEST(MaskChannels, FollowsTheOfficialConstructionAtAnyLength) {
  for (int frames : {1, 5, 21, 81}) {
    std::vector<double> m(frames, 0.0);
    m[0] = 1.0;
    const auto mask = pipeline::mask_channels(m, 4, 1, 1);  // [4, T, 1, 1]
    const int64_t T = 1 + (frames - 1) / 4;
    ASSERT_EQ(mask.size(1), T);
    EXPECT_EQ(mask.select(1, 0).sum().item<float>(), 4.f) << frames;
    EXPECT_EQ(mask.sum().item<float>(), 4.f) << frames;
  }
  EXPECT_THROW(pipeline::mask_channels(std::vector<double>(8, 1.0), 4, 1, 1), Error);
}

}  // namespace
