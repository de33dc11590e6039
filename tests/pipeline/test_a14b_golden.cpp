// Wan2.2 T2V-A14B (two experts) against the official Wan2.2 code on the tiny model
// (cases-wan22-a14b/, made by W22 wan/text2video.py WanT2V.generate and wan/modules/model.py
// WanModel.forward): each expert's DiT forward, and the whole run from the diffusers folder
// (transformer = high noise, transformer_2 = low noise, boundary_ratio 0.875) and from ComfyUI's two
// single files: every intermediate within tolerances.json, the expert switch at t < 875.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "support/golden.h"
#include "support/temp_dir.h"
#include "t2v/error.h"
#include "t2v/io/safetensors.h"
#include "t2v/models/wan/family.h"
#include "t2v/models/wan/model_source.h"
#include "t2v/models/wan/transformer.h"
#include "t2v/pipeline/pipeline.h"

namespace fs = std::filesystem;
using namespace t2v;

namespace {
const std::string kCases = "cases-wan22-a14b/";
fs::path folder() { return test::golden_dir() / "wan22-a14b-tiny"; }
fs::path comfy() { return test::golden_dir() / "wan22-a14b-tiny-comfy"; }

wan::SingleFilePaths comfy_paths() {
  wan::SingleFilePaths p;
  p.transformer = comfy() / "wan2.2_t2v_high_noise_tiny_bf16.safetensors";
  p.transformer_2 = comfy() / "wan2.2_t2v_low_noise_tiny_bf16.safetensors";
  p.text_encoder = comfy() / "umt5_tiny_bf16.safetensors";
  p.vae = comfy() / "wan_2.1_vae_tiny_bf16.safetensors";
  return p;
}

wan::WanModelSource open_layout(const std::string& layout) {
  return layout == "diffusers" ? wan::open_diffusers_folder(folder()) : wan::open_single_files(comfy_paths());
}

class A14bLayouts : public ::testing::TestWithParam<std::string> {};

TEST_P(A14bLayouts, OpensTwoExpertsWithTheBoundary) {
  const auto src = open_layout(GetParam());
  ASSERT_TRUE(src.two_experts);
  EXPECT_DOUBLE_EQ(src.boundary_ratio, 0.875);
  EXPECT_EQ(src.transformer_2_config.num_layers, src.transformer_config.num_layers);
  auto model = wan::make_model(open_layout(GetParam()));
  EXPECT_EQ(model->family(), "wan2.2");
  EXPECT_FALSE(model->unsupported_reason().has_value()) << *model->unsupported_reason();
  // W22 wan/configs/wan_t2v_A14B.py: 40 steps, shift 12, guide (low 3.0, high 4.0).
  const auto d = model->defaults();
  EXPECT_EQ(d.steps, 40);
  EXPECT_DOUBLE_EQ(d.shift, 12.0);
  EXPECT_DOUBLE_EQ(d.guidance, 4.0);
  ASSERT_TRUE(d.guidance_2.has_value());
  EXPECT_DOUBLE_EQ(*d.guidance_2, 3.0);
}

// Each expert's forward: the high-noise one from transformer/, the low-noise one from transformer_2/.
TEST_P(A14bLayouts, EachExpertMatchesOfficialWanModel) {
  const auto src = open_layout(GetParam());
  for (const auto& [file, expert] : {std::pair<std::string, int>{"dit_high_f3h4w6.safetensors", 0},
                                     std::pair<std::string, int>{"dit_low_f2h6w4.safetensors", 1}}) {
    const auto& c = expert == 0 ? src.transformer : src.transformer_2;
    const auto& cfg = expert == 0 ? src.transformer_config : src.transformer_2_config;
    auto dit = wan::load_wan_transformer(cfg, c.store, torch::kFloat32, torch::kCPU, c.layout);
    const std::string f = kCases + file;
    torch::NoGradGuard no_grad;
    auto out = dit->forward(test::load_case_tensor(f, "x"), test::load_case_tensor(f, "t"),
                            test::load_case_tensor(f, "context"));
    auto r = test::matches_golden(out, f, "out");
    EXPECT_TRUE(r) << GetParam() << " " << file << ": " << r.message();
  }
}

class A14bPipeline : public test::TempDirTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(A14bPipeline, MatchesOfficialGenerate) {
  const std::string f = kCases + "t2v_w96h64f9.safetensors";
  auto fixture = io::SafetensorsFile::open(test::case_path(f));
  const auto c = nlohmann::json::parse(fixture->metadata().at("case"));
  pipeline::Pipeline pipe(wan::make_model(open_layout(GetParam())));
  pipeline::GenerationSettings s;
  s.prompt = c.at("prompt").get<std::string>();
  s.negative_prompt = pipe.model().defaults().negative_prompt;  // n_prompt='' -> sample_neg_prompt
  ASSERT_EQ(s.negative_prompt, fixture->metadata().at("negative_prompt"));
  pipeline::GridRequest g;
  g.width = c.at("width").get<int>();
  g.height = c.at("height").get<int>();
  g.frames = c.at("frame_num").get<int>();
  s.grid = pipeline::resolve_grid(g, pipe.grid_limits());
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
                   test::load_case_tensor(f, "boundary").item<double>());
  EXPECT_DOUBLE_EQ(result.settings.at("guidance_2").get<double>(), 3.0);

  auto got = io::SafetensorsFile::open(s.save_intermediates);
  std::vector<std::string> names = {"context", "context_null", "noise", "sigmas", "latent_final", "video"};
  for (const auto& n : test::step_tensor_names(s.steps)) names.push_back(n);
  for (const auto& name : names) {
    ASSERT_TRUE(got->contains(name)) << name;
    auto r = test::matches_golden(got->view(name), f, name);
    EXPECT_TRUE(r) << GetParam() << " " << name << ": " << r.message();
  }
  EXPECT_TRUE(test::all_equal(got->view("timesteps"), test::load_case_tensor(f, "timesteps")));
  // The expert per step follows from the timesteps: high noise iff t >= 875 (here [1, 1, 1, 0]).
  auto t = test::load_case_tensor(f, "step_timesteps");
  auto expert = test::load_case_tensor(f, "step_expert");
  for (int64_t i = 0; i < t.size(0); ++i) {
    EXPECT_EQ(t[i].item<int64_t>() >= 875, expert[i].item<int64_t>() == 1) << "step " << i;
  }
  auto frames = got->view("frames_u8").to(torch::kInt32);
  auto expected = test::load_case_tensor(f, "frames_u8").to(torch::kInt32);
  ASSERT_EQ(frames.sizes(), expected.sizes());
  auto diff = (frames - expected).abs();
  EXPECT_LE(diff.max().item<int>(), 1);
  EXPECT_LE(diff.gt(0).sum().item<double>() / diff.numel(), 0.005);
}

INSTANTIATE_TEST_SUITE_P(Layouts, A14bLayouts, ::testing::Values("diffusers", "comfy"));
INSTANTIATE_TEST_SUITE_P(Layouts, A14bPipeline, ::testing::Values("diffusers", "comfy"));

// Swapped single files would denoise with the wrong expert at every step: refused, naming both.
TEST(A14bSingleFiles, SwappedExpertsAreRefused) {
  auto p = comfy_paths();
  std::swap(p.transformer, p.transformer_2);
  try {
    wan::open_single_files(p);
    FAIL() << "swapped experts opened";
  } catch (const UsageError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("high-noise expert"), std::string::npos) << m;
    EXPECT_NE(m.find(p.transformer.string()), std::string::npos) << m;
  }
}

// guidance_2 belongs to two-expert models; a one-expert model refuses it before any work.
TEST(A14bSettings, GuidanceTwoOnAOneExpertModelIsRefused) {
  pipeline::Pipeline pipe(wan::make_model(wan::open_diffusers_folder(test::tiny_model_dir())));
  EXPECT_FALSE(pipe.model().defaults().guidance_2.has_value());
  pipeline::GenerationSettings s;
  s.prompt = "a fox";
  s.guidance_2 = 3.0;
  EXPECT_THROW(pipe.generate(s), UsageError);
}

}  // namespace
