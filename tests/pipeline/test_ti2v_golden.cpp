// Wan2.2 TI2V-5B against the official Wan2.2 code on the tiny model (cases-wan22-ti2v/, made by
// W22 wan/textimage2video.py WanTI2V.t2v / .i2v): text-to-video through the whole pipeline, and
// image-to-video's native mechanism through the one loop (the image latent imposed clean before every
// step, its tokens at t = 0), from the diffusers folder and from the ComfyUI single files. The i2v
// case starts from the official preprocessed image (`image_in`): PIL's LANCZOS resize is not done here.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "support/golden.h"
#include "support/temp_dir.h"
#include "t2v/diffusion/denoise.h"
#include "t2v/error.h"
#include "t2v/io/image_resize.h"
#include "t2v/io/safetensors.h"
#include "t2v/io/video_writer.h"
#include "t2v/pipeline/conditions.h"
#include "t2v/models/wan/family.h"
#include "t2v/models/wan/model_source.h"
#include "t2v/models/wan/transformer.h"
#include "t2v/pipeline/pipeline.h"
#include "t2v/sampling/sampler.h"

namespace fs = std::filesystem;
using namespace t2v;

namespace {
const std::string kCases = "cases-wan22-ti2v/";

wan::WanModelSource open_layout(const std::string& layout) {
  if (layout == "diffusers") return wan::open_diffusers_folder(test::golden_dir() / "wan22-ti2v-tiny");
  const fs::path c = test::golden_dir() / "wan22-ti2v-tiny-comfy";
  wan::SingleFilePaths p;
  p.transformer = c / "wan2.2_ti2v_tiny_bf16.safetensors";
  p.text_encoder = c / "umt5_tiny_bf16.safetensors";
  p.vae = c / "wan2.2_vae_tiny_bf16.safetensors";
  return wan::open_single_files(p);
}

nlohmann::json case_of(const std::string& f) {
  return nlohmann::json::parse(io::SafetensorsFile::open(test::case_path(f))->metadata().at("case"));
}

class Ti2v : public test::TempDirTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(Ti2v, OpensWithTheOfficialDefaults) {
  auto model = wan::make_model(open_layout(GetParam()));
  EXPECT_EQ(model->family(), "wan2.2");
  EXPECT_FALSE(model->unsupported_reason().has_value()) << *model->unsupported_reason();
  EXPECT_EQ(model->grid_limits().known_frames, models::GridLimits::KnownFrames::kCleanAtT0);
  EXPECT_EQ(model->latent_channels(), 48);
  // W22 wan/configs/wan_ti2v_5B.py: 1280*704, 121 frames at 24 fps, 50 steps, shift 5, guide 5.
  const auto d = model->defaults();
  EXPECT_EQ(d.fps.num, 24 * d.fps.den);
  EXPECT_EQ(d.steps, 50);
  EXPECT_DOUBLE_EQ(d.shift, 5.0);
  EXPECT_DOUBLE_EQ(d.guidance, 5.0);
  EXPECT_FALSE(d.guidance_2.has_value());
  const auto lim = model->grid_limits();
  EXPECT_EQ(lim.default_width, 1280);
  EXPECT_EQ(lim.default_height, 704);
  EXPECT_EQ(lim.default_frames, 121);
  EXPECT_EQ(lim.spatial_multiple, 32);  // VAE stride 16 x patch 2
}

TEST_P(Ti2v, TextToVideoMatchesOfficialGenerate) {
  const std::string f = kCases + "t2v_w96h64f9.safetensors";
  const auto c = case_of(f);
  pipeline::Pipeline pipe(wan::make_model(open_layout(GetParam())));
  pipeline::GenerationSettings s;
  s.prompt = c.at("prompt").get<std::string>();
  s.negative_prompt = pipe.model().defaults().negative_prompt;
  pipeline::GridRequest g;
  g.width = c.at("width").get<int>();
  g.height = c.at("height").get<int>();
  g.frames = c.at("frame_num").get<int>();
  g.fps = {24, 1};
  s.grid = pipeline::resolve_grid(g, pipe.grid_limits());
  s.fps = g.fps;
  s.steps = c.at("steps").get<int>();
  s.shift = c.at("shift").get<double>();
  s.guidance = c.at("guide").get<double>();
  s.seed = c.at("seed").get<uint64_t>();
  s.output = dir_ / "out.mp4";
  s.save_intermediates = dir_ / "intermediates.safetensors";
  (void)pipe.generate(s);
  auto got = io::SafetensorsFile::open(s.save_intermediates);
  std::vector<std::string> names = {"context", "context_null", "noise", "sigmas", "latent_final", "video"};
  for (int i = 0; i < s.steps; ++i)
    for (const char* n : {"latent_in", "noise_pred_cond", "noise_pred_uncond", "noise_pred", "x0_pred", "latent_out"})
      names.push_back("step" + std::to_string(i) + "." + n);
  for (const auto& name : names) {
    ASSERT_TRUE(got->contains(name)) << name;
    auto r = test::matches_golden(got->view(name), f, name);
    EXPECT_TRUE(r) << GetParam() << " " << name << ": " << r.message();
  }
  auto diff = (got->view("frames_u8").to(torch::kInt32) - test::load_case_tensor(f, "frames_u8").to(torch::kInt32)).abs();
  EXPECT_LE(diff.max().item<int>(), 1);
  EXPECT_LE(diff.gt(0).sum().item<double>() / diff.numel(), 0.005);
}

// WanTI2V.i2v: z_image = VAE.encode(image); latent = (1 - mask2) z + mask2 latent before the loop
// and after every step; the DiT gets t = 0 on the image frame's tokens.
TEST_P(Ti2v, ImageToVideoMechanismMatchesOfficial) {
  const std::string f = kCases + "i2v_img100x70_area6144_f9.safetensors";
  const auto c = case_of(f);
  auto model = wan::make_model(open_layout(GetParam()));
  torch::NoGradGuard no_grad;
  const auto z_image = model->encode_video(test::load_case_tensor(f, "image_in"));  // [48, 1, 4, 6]
  auto r = test::matches_golden(z_image, f, "z_image");
  EXPECT_TRUE(r) << GetParam() << " z_image: " << r.message();

  const auto noise_expected = test::load_case_tensor(f, "noise");
  const auto noise = pipeline::draw_noise(noise_expected.sizes(), c.at("seed").get<uint64_t>(), torch::kCPU);
  const auto contexts = model->encode_prompts({c.at("prompt").get<std::string>(), model->defaults().negative_prompt});
  auto experts_models = model->experts(contexts[0], contexts[1]);
  std::vector<diffusion::Expert> experts;
  for (auto& m : experts_models) experts.push_back({m.denoiser.get(), m.min_timestep, m.max_timestep, c.at("guide").get<double>()});

  diffusion::Conditioning cond;
  cond.known_latent = torch::zeros_like(noise);
  cond.known_latent.narrow(1, 0, 1).copy_(z_image);
  cond.known_weight = torch::zeros({noise.size(1)});
  cond.known_weight[0] = 1.0f;
  cond.known_at_t0 = true;
  auto sampler = sampling::make_sampler("unipc");
  sampler->set_timesteps(c.at("steps").get<int>(), c.at("shift").get<double>());
  std::map<std::string, torch::Tensor> dumped;
  diffusion::DenoiseHooks hooks;
  hooks.dump = [&](const std::string& name, const torch::Tensor& t) { dumped[name] = t.clone(); };
  const auto latent = diffusion::denoise(*sampler, experts, noise, cond, hooks);
  for (int i = 0; i < c.at("steps").get<int>(); ++i) {
    const std::string p = "step" + std::to_string(i) + ".";
    for (const char* n : {"latent_in", "noise_pred_cond", "noise_pred_uncond", "noise_pred", "latent_out"}) {
      r = test::matches_golden(dumped.at(p + n), f, p + n);
      EXPECT_TRUE(r) << GetParam() << " " << p << n << ": " << r.message();
    }
    // Per latent frame -> per token, exactly the official temp_ts.
    const auto tokens = wan::frame_to_token_timesteps(dumped.at(p + "t_frames").unsqueeze(0), {1, 48, 3, 4, 6}, {1, 2, 2});
    EXPECT_TRUE(torch::equal(tokens[0], test::load_case_tensor(f, p + "t_tokens"))) << p;
  }
  r = test::matches_golden(latent, f, "latent_final");
  EXPECT_TRUE(r) << GetParam() << " latent_final: " << r.message();
  std::vector<torch::Tensor> chunks;
  model->decode_video(latent, [&](const torch::Tensor& v) { chunks.push_back(v); });
  r = test::matches_golden(torch::cat(chunks, 1), f, "video");
  EXPECT_TRUE(r) << GetParam() << " video: " << r.message();
}

INSTANTIATE_TEST_SUITE_P(Layouts, Ti2v, ::testing::Values("diffusers", "comfy"));

}  // namespace

namespace {
// The official TI2V image preprocessing, step by step: best_output_size, Pillow LANCZOS to cover,
// centre crop; the uint8 result is bit-exact.
TEST(Ti2vPreprocessing, SizeRuleAndLanczosMatchTheOfficialImage) {
  const std::string f = kCases + "i2v_img100x70_area6144_f9.safetensors";
  const auto c = case_of(f);
  const auto image = test::load_case_tensor(f, "image_u8");  // [70, 100, 3]
  const int iw = static_cast<int>(image.size(1)), ih = static_cast<int>(image.size(0));
  const auto [ow, oh] = pipeline::best_output_size(iw, ih, 32, 32, c.at("max_area").get<double>());
  EXPECT_EQ(ow, 96);
  EXPECT_EQ(oh, 64);
  const double s = std::max(static_cast<double>(ow) / iw, static_cast<double>(oh) / ih);
  const auto rw = static_cast<int64_t>(std::nearbyint(iw * s)), rh = static_cast<int64_t>(std::nearbyint(ih * s));
  auto resized = io::resize_lanczos_pil(image.unsqueeze(0), rw, rh)[0];  // [67, 96, 3]
  auto crop = resized.narrow(0, (rh - oh) / 2, oh).narrow(1, (rw - ow) / 2, ow);
  const auto expected = test::load_case_tensor(f, "image_preprocessed_u8");
  const auto diff = (crop.to(torch::kInt32) - expected.to(torch::kInt32)).abs();
  EXPECT_EQ(diff.max().item<int>(), 0) << "pixels differing: " << diff.gt(0).sum().item<int64_t>();
  // Ties go to the height-first candidate; other aspects keep multiples of 32 within the area.
  for (const auto& [w, h] : std::vector<std::pair<int, int>>{{1920, 1080}, {1080, 1920}, {1000, 1000}, {333, 777}}) {
    const auto [bw, bh] = pipeline::best_output_size(w, h, 32, 32, 1280.0 * 704);
    EXPECT_EQ(bw % 32, 0);
    EXPECT_EQ(bh % 32, 0);
    EXPECT_LE(bw * bh, 1280 * 704);
  }
  EXPECT_THROW(pipeline::best_output_size(100, 70, 32, 32, 500), UsageError);
}
}  // namespace

namespace {
// The whole image-to-video request, as `t2v generate --image IMG --max-area 6144` plans and runs it
// on TI2V-5B: the size rule and the LANCZOS fitting give the official preprocessed image bit-exact,
// and the run matches WanTI2V.i2v step by step.
class Ti2vImage : public test::TempDirTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(Ti2vImage, ImageToVideoThroughThePipeline) {
  const std::string f = kCases + "i2v_img100x70_area6144_f9.safetensors";
  const auto c = case_of(f);
  const auto image = test::load_case_tensor(f, "image_u8");  // [70, 100, 3]
  const fs::path png = dir_ / "image.png";
  test::write_png(image, png);
  pipeline::Pipeline pipe(wan::make_model(open_layout(GetParam())));
  pipeline::ConditionsRequest cr;
  cr.conditions.push_back({png, 0, 1.0, "image"});
  cr.max_area = c.at("max_area").get<int64_t>();
  pipeline::GridRequest g;
  g.frames = c.at("frame_num").get<int>();
  g.fps = {24, 1};
  auto planned = pipeline::plan_generation(cr, g, pipe.grid_limits());
  ASSERT_EQ(planned.grid.width, 96);
  ASSERT_EQ(planned.grid.height, 64);
  EXPECT_TRUE(torch::equal(planned.plan.inputs[0].fitted[0], test::load_case_tensor(f, "image_preprocessed_u8")));

  pipeline::GenerationSettings s;
  s.prompt = c.at("prompt").get<std::string>();
  s.negative_prompt = pipe.model().defaults().negative_prompt;
  s.grid = planned.grid;
  s.conditions = std::move(planned.plan);
  s.fps = {24, 1};
  s.steps = c.at("steps").get<int>();
  s.shift = c.at("shift").get<double>();
  s.guidance = c.at("guide").get<double>();
  s.seed = c.at("seed").get<uint64_t>();
  s.output = dir_ / "out.mp4";
  s.save_intermediates = dir_ / "intermediates.safetensors";
  (void)pipe.generate(s);
  auto got = io::SafetensorsFile::open(s.save_intermediates);
  std::vector<std::string> names = {"noise", "latent_final", "video"};
  for (int i = 0; i < s.steps; ++i)
    for (const char* n : {"latent_in", "noise_pred", "latent_out"}) names.push_back("step" + std::to_string(i) + "." + n);
  for (const auto& name : names) {
    ASSERT_TRUE(got->contains(name)) << name;
    auto r = test::matches_golden(got->view(name), f, name);
    EXPECT_TRUE(r) << GetParam() << " " << name << ": " << r.message();
  }
  auto r = test::matches_golden(got->view("known_latent").narrow(1, 0, 1), f, "z_image");
  EXPECT_TRUE(r) << GetParam() << " z_image: " << r.message();
}

INSTANTIATE_TEST_SUITE_P(Layouts, Ti2vImage, ::testing::Values("diffusers", "comfy"));
}  // namespace
