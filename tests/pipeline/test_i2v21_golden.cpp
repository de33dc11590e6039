// Wan2.1 I2V-14B and FLF2V-14B against the official Wan2.1 code on the tiny models
// (cases-wan21-i2v/, made by W21 wan/modules/clip.py CLIPModel.visual, wan/modules/model.py
// WanModel.forward with clip_fea and y, wan/image2video.py WanI2V.generate and
// wan/first_last_frame2video.py WanFLF2V.generate): the CLIP features, the DiT with image context,
// and the whole --image (--last-image) requests planned and run as the CLI does, from the diffusers
// folders (image_encoder/ in transformers names) and from ComfyUI's single files (open-clip names).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "support/golden.h"
#include "support/temp_dir.h"
#include "t2v/error.h"
#include "t2v/io/safetensors.h"
#include "t2v/io/video_writer.h"
#include "t2v/models/wan/clip.h"
#include "t2v/models/wan/family.h"
#include "t2v/models/wan/model_source.h"
#include "t2v/models/wan/transformer.h"
#include "t2v/pipeline/conditions.h"
#include "t2v/pipeline/pipeline.h"

namespace fs = std::filesystem;
using namespace t2v;

namespace {
const std::string kCases = "cases-wan21-i2v/";

wan::WanModelSource open_layout(const std::string& layout, bool flf2v) {
  if (layout == "diffusers") return wan::open_diffusers_folder(test::golden_dir() / (flf2v ? "wan21-flf2v-tiny" : "wan21-i2v-tiny"));
  const fs::path c = test::golden_dir() / "wan21-i2v-tiny-comfy";
  wan::SingleFilePaths p;
  p.transformer = c / (flf2v ? "wan2.1_flf2v_720p_tiny_bf16.safetensors" : "wan2.1_i2v_480p_tiny_bf16.safetensors");
  p.text_encoder = c / "umt5_tiny_bf16.safetensors";
  p.vae = c / "wan_2.1_vae_tiny_bf16.safetensors";
  p.image_encoder = c / "clip_vision_h_tiny_bf16.safetensors";
  return wan::open_single_files(p);
}

torch::Tensor to_unit(const torch::Tensor& u8) {  // [H, W, 3] uint8 -> [3, H, W] in [-1, 1]
  return u8.permute({2, 0, 1}).to(torch::kFloat32).div(255).sub(0.5).div(0.5);
}

class I2v21 : public test::TempDirTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(I2v21, OpensWithItsImageEncoderAndTheOfficialDefaults) {
  for (const bool flf2v : {false, true}) {
    const auto src = open_layout(GetParam(), flf2v);
    ASSERT_TRUE(src.has_image_encoder);
    EXPECT_EQ(src.image_encoder.layout, GetParam() == "diffusers" ? "hf" : "open-clip");
    EXPECT_EQ(src.image_encoder_config.hidden_size, 32);
    EXPECT_EQ(src.image_encoder_config.num_layers, 3);
    EXPECT_EQ(src.image_encoder_config.tokens(), 257);
    EXPECT_EQ(src.transformer_config.model_type, flf2v ? "flf2v" : "i2v");
    auto model = wan::make_model(open_layout(GetParam(), flf2v));
    EXPECT_EQ(model->family(), "wan2.1");
    EXPECT_FALSE(model->unsupported_reason().has_value()) << *model->unsupported_reason();
    const auto lim = model->grid_limits();
    EXPECT_EQ(lim.known_frames, models::GridLimits::KnownFrames::kMaskChannels);
    EXPECT_EQ(lim.image_context_images, flf2v ? 2 : 1);
    // W21 configs + generate.py: i2v 40 steps, shift 3 at 480p (5 at 720p); flf2v 50 steps, shift 16.
    const auto d = model->defaults();
    EXPECT_EQ(d.steps, flf2v ? 50 : 40);
    const bool p480 = GetParam() == "comfy" && !flf2v;  // wan2.1_i2v_480p_* names the 480P checkpoint
    EXPECT_DOUBLE_EQ(d.shift, flf2v ? 16.0 : p480 ? 3.0 : 5.0);
    EXPECT_EQ(lim.default_width * lim.default_height, p480 ? 832 * 480 : 1280 * 720);
    EXPECT_EQ(d.negative_prompt.rfind(flf2v ? "镜头切换，镜头晃动，" : "镜头晃动，", 0), 0u);
    EXPECT_TRUE(model->describe().contains("image_encoder"));
  }
}

// CLIPModel.visual: squashed bicubic resize to 224, CLIP normalisation, the second-to-last block.
TEST_P(I2v21, ClipFeaturesMatchTheOfficialVisualTower) {
  const auto src = open_layout(GetParam(), false);
  auto clip = wan::load_clip_vision(src.image_encoder_config, src.image_encoder.store, torch::kFloat32, torch::kCPU);
  torch::NoGradGuard no_grad;
  for (const std::string name : {"clip_visual_img100x60.safetensors", "clip_visual_two_img64x64_48x80.safetensors"}) {
    const std::string f = kCases + name;
    auto fixture = io::SafetensorsFile::open(test::case_path(f));
    std::vector<torch::Tensor> images;
    for (int k = 0; fixture->contains("image" + std::to_string(k) + "_u8"); ++k) {
      images.push_back(to_unit(test::load_case_tensor(f, "image" + std::to_string(k) + "_u8")));
      auto r = test::matches_golden(images.back(), f, "image_in" + std::to_string(k));
      EXPECT_TRUE(r) << name << " image_in" << k << ": " << r.message();
    }
    const auto pixels = clip->preprocess(images);
    if (fixture->contains("debug.pixel_values")) {
      auto r = test::all_close(pixels, test::load_case_tensor(f, "debug.pixel_values"), 1e-5);
      EXPECT_TRUE(r) << name << " pixel_values: " << r.message();
    }
    auto r = test::matches_golden(clip->forward(pixels), f, "features");
    EXPECT_TRUE(r) << GetParam() << " " << name << ": " << r.message();
  }
}

// WanModel.forward with clip_fea (img_emb, image tokens before the text) and y (36 channels).
TEST_P(I2v21, DitWithImageContextMatchesOfficialWanModel) {
  const auto src = open_layout(GetParam(), false);
  auto dit = wan::load_wan_transformer(src.transformer_config, src.transformer.store, torch::kFloat32, torch::kCPU,
                                       src.transformer.layout);
  const std::string f = kCases + "dit_i2v_f3h4w6.safetensors";
  torch::NoGradGuard no_grad;
  const auto x = torch::cat({test::load_case_tensor(f, "x"), test::load_case_tensor(f, "y")}, 1);  // [1, 36, F, H, W]
  wan::DebugTensors debug;
  auto out = dit->forward(x, test::load_case_tensor(f, "t"), test::load_case_tensor(f, "context"),
                          test::load_case_tensor(f, "clip_fea"), &debug);
  auto r = test::matches_golden(debug.at("img_emb"), f, "debug.img_emb");
  EXPECT_TRUE(r) << GetParam() << " img_emb: " << r.message();
  r = test::matches_golden(out, f, "out");
  EXPECT_TRUE(r) << GetParam() << ": " << r.message();
  // Without its image context the DiT refuses to run.
  EXPECT_THROW(dit->forward(x, test::load_case_tensor(f, "t"), test::load_case_tensor(f, "context")), InputError);
}

// The whole request as `t2v generate --image IMG [--last-image IMG] --max-area A --frames F` runs it.
void run_case(const std::string& layout, const std::string& file, const fs::path& dir) {
  const std::string f = kCases + file;
  auto fixture = io::SafetensorsFile::open(test::case_path(f));
  const auto c = nlohmann::json::parse(fixture->metadata().at("case"));
  const bool flf2v = c.contains("first");
  pipeline::Pipeline pipe(wan::make_model(open_layout(layout, flf2v)));
  pipeline::ConditionsRequest cr;
  for (const auto& [name, field, frame] : {std::tuple<std::string, std::string, int>{flf2v ? "first_u8" : "image_u8", "image", 0},
                                           {"last_u8", "last_image", -1}}) {
    if (!fixture->contains(name)) continue;
    const fs::path png = dir / (name + ".png");
    test::write_png(test::load_case_tensor(f, name), png);
    cr.conditions.push_back({png, frame, 1.0, field});
  }
  cr.max_area = c.at("max_area").get<int64_t>();
  pipeline::GridRequest g;
  g.frames = c.at("frame_num").get<int>();
  auto planned = pipeline::plan_generation(cr, g, pipe.grid_limits());

  pipeline::GenerationSettings s;
  s.prompt = c.at("prompt").get<std::string>();
  s.negative_prompt = pipe.model().defaults().negative_prompt;  // n_prompt='' -> sample_neg_prompt
  ASSERT_EQ(s.negative_prompt, fixture->metadata().at("negative_prompt"));
  s.grid = planned.grid;
  s.conditions = std::move(planned.plan);
  s.steps = c.at("steps").get<int>();
  s.shift = c.at("shift").get<double>();
  s.guidance = c.at("guide").get<double>();
  s.seed = c.at("seed").get<uint64_t>();
  s.output = dir / "out.mp4";
  s.save_intermediates = dir / "intermediates.safetensors";
  (void)pipe.generate(s);

  auto got = io::SafetensorsFile::open(s.save_intermediates);
  std::vector<std::string> names = {"context", "context_null", "clip_fea", "y", "noise", "sigmas", "timesteps",
                                    "latent_final", "video", "frames_u8"};
  for (const char* n : {"image_in", "image_resized"}) {
    if (flf2v) {
      names.push_back(std::string(n) + ".first");
      names.push_back(std::string(n) + ".last");
    } else {
      names.push_back(n);
    }
  }
  for (const auto& n : test::step_tensor_names(s.steps)) names.push_back(n);
  for (const auto& name : names) {
    ASSERT_TRUE(got->contains(name)) << name;
    auto r = test::matches_golden(got->view(name), f, name);
    EXPECT_TRUE(r) << layout << " " << file << " " << name << ": " << r.message();
  }
}

TEST_P(I2v21, ImageToVideoThroughThePipeline) { run_case(GetParam(), "i2v_img100x60_area6144_f9.safetensors", dir_); }

TEST_P(I2v21, FirstLastFrameThroughThePipeline) {
  run_case(GetParam(), "flf2v_img48x48_area1024_f81.safetensors", dir_);
}

INSTANTIATE_TEST_SUITE_P(Layouts, I2v21, ::testing::Values("diffusers", "comfy"));

// A first-last-frame model's image context is both frames: one known frame is refused at planning.
class Flf2vPlanning : public test::TempDirTest {};

TEST_F(Flf2vPlanning, NeedsAFirstAndALastFrame) {
  auto model = wan::make_model(open_layout("diffusers", true));
  const fs::path png = dir_ / "a.png";
  test::write_png(torch::full({32, 32, 3}, 100, torch::kUInt8), png);
  pipeline::ConditionsRequest r;
  r.conditions.push_back({png, 0, 1.0, "image"});
  pipeline::GridRequest g;
  g.width = 32;
  g.height = 32;
  g.frames = 9;
  try {
    pipeline::plan_generation(r, g, model->grid_limits());
    FAIL() << "one frame planned on a first-last-frame model";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("first-last-frame model"), std::string::npos) << e.what();
  }
}

// Without its CLIP tower an I2V DiT is refused when opened, naming the DiT and what is missing.
TEST(I2v21Support, MissingImageEncoderIsRefused) {
  auto p = wan::SingleFilePaths();
  const fs::path c = test::golden_dir() / "wan21-i2v-tiny-comfy";
  p.transformer = c / "wan2.1_i2v_480p_tiny_bf16.safetensors";
  p.text_encoder = c / "umt5_tiny_bf16.safetensors";
  p.vae = c / "wan_2.1_vae_tiny_bf16.safetensors";
  const auto src = wan::open_single_files(p);
  const auto why = wan::make_model(src)->unsupported_reason();
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("image encoder is missing"), std::string::npos) << *why;
  EXPECT_NE(why->find(p.transformer.string()), std::string::npos) << *why;
}

// The open-clip fused qkv is split into row blocks that are the transformers q/k/v tensors.
TEST(I2v21Support, OpenClipQkvSplitsIntoTheTransformersProjections) {
  const auto folder = open_layout("diffusers", false).image_encoder.store;
  const auto comfy = open_layout("comfy", false).image_encoder.store;
  for (const char* key : {"vision_model.encoder.layers.1.self_attn.q_proj.weight",
                          "vision_model.encoder.layers.1.self_attn.k_proj.bias",
                          "vision_model.encoder.layers.2.self_attn.v_proj.weight"}) {
    ASSERT_TRUE(comfy.contains(key)) << key;
    EXPECT_EQ(comfy.info(key).shape, folder.info(key).shape) << key;
    EXPECT_TRUE(torch::equal(comfy.load(key, torch::kFloat32), folder.load(key, torch::kFloat32))) << key;
  }
}

}  // namespace
