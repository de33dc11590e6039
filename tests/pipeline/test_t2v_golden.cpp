// The whole text-to-video pipeline against the official WanT2V.generate run on the tiny model
// (cases/t2v_w96h64f9.safetensors): every saved intermediate, from the diffusers folder and from
// the ComfyUI single files, within tolerances.json; frames_u8 within ±1 on at most 0.5% of values.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include "support/golden.h"
#include "t2v/error.h"
#include "t2v/io/safetensors.h"
#include "t2v/io/video_writer.h"
#include "t2v/models/wan/family.h"
#include "t2v/pipeline/pipeline.h"

namespace fs = std::filesystem;
using namespace t2v;

namespace {
const char* kCase = "t2v_w96h64f9.safetensors";

class T2VGolden : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("t2v_golden_" + std::to_string(::getpid()) + "_" + GetParam());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

wan::WanModelSource open_source(const std::string& layout) {
  if (layout == "diffusers") return wan::open_diffusers_folder(test::tiny_model_dir());
  const fs::path d = test::tiny_comfy_dir();
  return wan::open_single_files({d / "wan2.1_t2v_tiny_bf16.safetensors", d / "umt5_tiny_bf16.safetensors",
                                 d / "wan_2.1_vae_tiny_bf16.safetensors", {}});
}

TEST_P(T2VGolden, MatchesOfficialPipeline) {
  auto fixture = io::SafetensorsFile::open(test::case_path(kCase));
  const auto& meta = fixture->metadata();
  pipeline::Pipeline pipe(wan::make_model(open_source(GetParam())));
  pipeline::GenerationSettings s;
  s.prompt = meta.at("prompt");
  s.negative_prompt = wan::kDefaultNegativePrompt;
  ASSERT_EQ(s.negative_prompt, meta.at("negative_prompt"));
  pipeline::GridRequest g;
  g.width = std::stoi(meta.at("width"));
  g.height = std::stoi(meta.at("height"));
  g.frames = std::stoi(meta.at("frame_num"));
  s.grid = pipeline::resolve_grid(g, pipe.grid_limits());
  s.steps = std::stoi(meta.at("steps"));
  s.shift = std::stod(meta.at("shift"));
  s.guidance = std::stod(meta.at("guide"));
  s.seed = std::stoull(meta.at("seed"));
  s.output = dir_ / "out.mp4";
  s.save_intermediates = dir_ / "intermediates.safetensors";
  auto result = pipe.generate(s);
  ASSERT_TRUE(fs::exists(s.output));
  EXPECT_EQ(result.frames, 9);

  auto got = io::SafetensorsFile::open(s.save_intermediates);
  std::vector<std::string> names = {"context", "context_null", "noise", "timesteps", "sigmas", "latent_final", "video"};
  for (int i = 0; i < s.steps; ++i) {
    for (const char* n : {"latent_in", "noise_pred_cond", "noise_pred_uncond", "noise_pred", "x0_pred", "latent_out"}) {
      names.push_back("step" + std::to_string(i) + "." + n);
    }
  }
  for (const auto& name : names) {
    ASSERT_TRUE(got->contains(name)) << name;
    EXPECT_TRUE(test::matches_golden(got->view(name), kCase, name)) << name;
  }
  // uint8 frames: the conversion truncates, so sub-1e-5 noise may flip values on an integer edge.
  auto frames = got->view("frames_u8").to(torch::kInt32);
  auto expected = test::load_case_tensor(kCase, "frames_u8").to(torch::kInt32);
  ASSERT_EQ(frames.sizes(), expected.sizes());
  auto diff = (frames - expected).abs();
  const double fraction = diff.gt(0).sum().item<double>() / diff.numel();
  EXPECT_LE(diff.max().item<int>(), 1);
  EXPECT_LE(fraction, 0.005) << "fraction of differing uint8 values: " << fraction;

  // The video on disk holds the same frames. Lossy H.264 with 4:2:0 chroma on what is per-pixel
  // noise (random weights) caps PSNR near 21 dB; a wrong frame order or colour mapping gives < 12.
  auto video = io::read_video(s.output);
  ASSERT_EQ(video.frames.size(0), 9);
  auto mse = (video.frames.to(torch::kFloat64) - expected.to(torch::kFloat64)).pow(2).mean().item<double>();
  EXPECT_GT(10 * std::log10(255.0 * 255.0 / std::max(mse, 1e-12)), 18.0);
  EXPECT_EQ(video.metadata["title"], s.prompt);
}

INSTANTIATE_TEST_SUITE_P(Layouts, T2VGolden, ::testing::Values("diffusers", "comfy"));

TEST(LatentGrid, RoundsAndValidates) {
  pipeline::GridLimits lim;
  pipeline::GridRequest r;
  r.width = 100;
  r.height = 70;
  r.frames = 10;
  auto g = pipeline::resolve_grid(r, lim);
  EXPECT_EQ(g.width, 96);
  EXPECT_EQ(g.height, 64);
  EXPECT_EQ(g.frames, 9);  // nearest 4k+1
  EXPECT_EQ(g.latent_frames, 3);
  EXPECT_EQ(g.latent_height, 8);
  EXPECT_FALSE(g.notices.empty());
  pipeline::GridRequest res;
  res.resolution = "480p";
  res.aspect = "9:16";
  res.duration = 5.0;
  auto g2 = pipeline::resolve_grid(res, lim);
  EXPECT_EQ(g2.width, 480);
  EXPECT_EQ(g2.height, 832);
  EXPECT_EQ(g2.frames, 81);  // 5 s x 16 fps = 80 -> 81
  pipeline::GridRequest sq;
  sq.resolution = "720p";
  sq.aspect = "1:1";
  auto g3 = pipeline::resolve_grid(sq, lim);
  EXPECT_EQ(g3.width % 16, 0);
  EXPECT_EQ(g3.width, g3.height);
  EXPECT_NEAR(static_cast<double>(g3.width) * g3.height, 1280.0 * 720, 0.05 * 1280 * 720);
  pipeline::GridRequest img;
  img.frames = 1;
  EXPECT_EQ(pipeline::resolve_grid(img, lim).latent_frames, 1);
  pipeline::GridRequest huge;
  huge.width = 20000;
  huge.height = 480;
  EXPECT_THROW(pipeline::resolve_grid(huge, lim), UsageError);
  EXPECT_THROW(pipeline::parse_size("832by480"), UsageError);
  EXPECT_EQ(pipeline::parse_size("832x480"), std::make_pair(832, 480));
}

TEST(Noise, SeededCpuGeneratorMatchesOfficial) {
  auto noise = pipeline::draw_noise({16, 3, 8, 12}, 42, torch::kCPU);
  EXPECT_TRUE(test::matches_golden(noise, kCase, "noise"));
}

}  // namespace
