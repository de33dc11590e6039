// Every Wan2.2 full-run case of the official fixtures, run through the binary as a user would:
// `t2v generate -m FOLDER` (or the single files) with the case's prompt, image (a PNG), size or
// max area, frames, steps, shift, guidance (+ guidance-2), seed, `--device cpu --dtype fp32` and
// `--save-intermediates F`; each tensor the case and F both hold is compared by the case's own rule
// in tolerances.json, and the core ones (context, noise, every step, the expert and guidance per
// step, y, the decoded video and frames) must be there.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cctype>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/golden.h"
#include "support/run_binary.h"
#include "support/temp_dir.h"
#include "t2v/io/safetensors.h"
#include "t2v/io/video_writer.h"

namespace fs = std::filesystem;
using t2v::test::run_t2v;

namespace {

struct GoldenRun {
  std::string case_file;           // under tests/data/golden/
  std::string folder;              // diffusers layout
  std::vector<std::string> files;  // single files: --transformer [--transformer-2] --text-encoder --vae
  std::string name() const { return fs::path(case_file).parent_path().string() + "_" + fs::path(case_file).stem().string(); }
};

std::vector<GoldenRun> runs() {
  return {
      {"cases-wan22-a14b/t2v_w96h64f9.safetensors", "wan22-a14b-tiny",
       {"wan22-a14b-tiny-comfy/wan2.2_t2v_high_noise_tiny_bf16.safetensors",
        "wan22-a14b-tiny-comfy/wan2.2_t2v_low_noise_tiny_bf16.safetensors", "wan22-a14b-tiny-comfy/umt5_tiny_bf16.safetensors",
        "wan22-a14b-tiny-comfy/wan_2.1_vae_tiny_bf16.safetensors"}},
      {"cases-wan22-i2v/i2v_img120x72_area6144_f9.safetensors", "wan22-i2v-tiny",
       {"wan22-i2v-tiny-comfy/wan2.2_i2v_high_noise_tiny_bf16.safetensors",
        "wan22-i2v-tiny-comfy/wan2.2_i2v_low_noise_tiny_bf16.safetensors", "wan22-i2v-tiny-comfy/umt5_tiny_bf16.safetensors",
        "wan22-i2v-tiny-comfy/wan_2.1_vae_tiny_bf16.safetensors"}},
      {"cases-wan22-ti2v/t2v_w96h64f9.safetensors", "wan22-ti2v-tiny",
       {"wan22-ti2v-tiny-comfy/wan2.2_ti2v_tiny_bf16.safetensors", "wan22-ti2v-tiny-comfy/umt5_tiny_bf16.safetensors",
        "wan22-ti2v-tiny-comfy/wan2.2_vae_tiny_bf16.safetensors"}},
      {"cases-wan22-ti2v/i2v_img100x70_area6144_f9.safetensors", "wan22-ti2v-tiny",
       {"wan22-ti2v-tiny-comfy/wan2.2_ti2v_tiny_bf16.safetensors", "wan22-ti2v-tiny-comfy/umt5_tiny_bf16.safetensors",
        "wan22-ti2v-tiny-comfy/wan2.2_vae_tiny_bf16.safetensors"}},
  };
}

std::string number(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

class CliGolden : public t2v::test::TempDirTest,
                  public ::testing::WithParamInterface<std::tuple<GoldenRun, std::string>> {};

TEST_P(CliGolden, IntermediatesMatchTheOfficialRun) {
  const auto& [run, layout] = GetParam();
  const auto g = t2v::test::golden_dir();
  auto fixture = t2v::io::SafetensorsFile::open(t2v::test::case_path(run.case_file));
  const auto c = nlohmann::json::parse(fixture->metadata().at("case"));
  const fs::path saved = dir_ / "intermediates.safetensors";
  std::vector<std::string> args = {"generate", "-p", c.at("prompt").get<std::string>(), "--seed",
                                   std::to_string(c.at("seed").get<uint64_t>()), "--steps",
                                   std::to_string(c.at("steps").get<int>()), "--shift", number(c.at("shift").get<double>()),
                                   "--frames", std::to_string(c.at("frame_num").get<int>()), "--device", "cpu", "--dtype",
                                   "fp32", "--save-intermediates", saved.string(), "-o", (dir_ / "out.mp4").string()};
  const auto& guide = c.at("guide");
  if (guide.is_array()) {  // (low-noise, high-noise)
    args.insert(args.end(), {"--guidance", number(guide[1].get<double>()), "--guidance-2", number(guide[0].get<double>())});
  } else {
    args.insert(args.end(), {"--guidance", number(guide.get<double>())});
  }
  if (c.contains("image")) {
    const fs::path png = dir_ / "image.png";
    const auto image = t2v::test::load_case_tensor(run.case_file, "image_u8");  // [H, W, 3]
    t2v::io::VideoWriterOptions o;
    o.path = png;
    o.width = static_cast<int>(image.size(1));
    o.height = static_cast<int>(image.size(0));
    o.fps = {16, 1};
    t2v::io::VideoWriter w(o);
    w.write(image);
    w.finish();
    args.insert(args.end(), {"--image", png.string(), "--max-area", std::to_string(c.at("max_area").get<int64_t>())});
  } else {
    args.insert(args.end(), {"--size", std::to_string(c.at("width").get<int>()) + "x" + std::to_string(c.at("height").get<int>())});
  }
  if (layout == "diffusers") {
    args.insert(args.end(), {"-m", (g / run.folder).string()});
  } else {
    const bool two = run.files.size() == 4;
    args.insert(args.end(), {"--transformer", (g / run.files[0]).string()});
    if (two) args.insert(args.end(), {"--transformer-2", (g / run.files[1]).string()});
    args.insert(args.end(), {"--text-encoder", (g / run.files[two ? 2 : 1]).string(), "--vae",
                             (g / run.files[two ? 3 : 2]).string()});
  }
  auto r = run_t2v(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;

  auto got = t2v::io::SafetensorsFile::open(saved);
  std::vector<std::string> required = {"context", "context_null", "noise", "sigmas", "timesteps", "latent_final",
                                       "video", "frames_u8"};
  for (int i = 0; i < c.at("steps").get<int>(); ++i) {
    for (const char* n : {"latent_in", "noise_pred_cond", "noise_pred_uncond", "noise_pred", "x0_pred", "latent_out"}) {
      required.push_back("step" + std::to_string(i) + "." + n);
    }
  }
  for (const char* n : {"step_expert", "step_guide", "y", "image_in", "image_resized", "z_image"}) {
    if (fixture->contains(n)) required.push_back(n);
  }
  for (const auto& name : required) EXPECT_TRUE(got->contains(name)) << name << " was not saved";
  int compared = 0;
  for (const auto& name : fixture->names()) {
    if (!got->contains(name)) continue;
    auto m = t2v::test::matches_golden(got->view(name), run.case_file, name);
    EXPECT_TRUE(m) << layout << " " << name << ": " << m.message();
    ++compared;
  }
  EXPECT_GE(compared, static_cast<int>(required.size()));
}

INSTANTIATE_TEST_SUITE_P(Wan22, CliGolden, ::testing::Combine(::testing::ValuesIn(runs()), ::testing::Values("diffusers", "comfy")),
                         [](const auto& info) {
                           std::string n = std::get<0>(info.param).name() + "_" + std::get<1>(info.param);
                           for (auto& ch : n)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

}  // namespace
