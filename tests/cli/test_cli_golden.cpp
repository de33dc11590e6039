// Every Wan2.2 and Wan2.1 image-to-video full-run case of the official fixtures, run through the binary as a user would:
// `t2v generate -m FOLDER` (or the single files) with the case's prompt, image (a PNG), size or
// max area, frames, steps, shift, guidance (+ guidance-2), seed, `--device cpu --dtype fp32` and
// `--save-intermediates F`; each tensor the case and F both hold is compared by the case's own rule
// in tolerances.json, and the core ones (context, noise, every step, the expert and guidance per
// step, y, the decoded video and frames) must be there.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cctype>
#include <cstdio>
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
  std::string case_file;  // under tests/data/golden/
  std::string folder;     // diffusers layout
  std::vector<std::pair<std::string, std::string>> files;  // single files: flag, file
  std::string name() const { return fs::path(case_file).parent_path().string() + "_" + fs::path(case_file).stem().string(); }
};

std::vector<GoldenRun> runs() {
  const std::string a14b = "wan22-a14b-tiny-comfy/", i2v = "wan22-i2v-tiny-comfy/", ti2v = "wan22-ti2v-tiny-comfy/",
                    w21 = "wan21-i2v-tiny-comfy/";
  const std::vector<std::pair<std::string, std::string>> ti2v_files = {
      {"--transformer", ti2v + "wan2.2_ti2v_tiny_bf16.safetensors"},
      {"--text-encoder", ti2v + "umt5_tiny_bf16.safetensors"},
      {"--vae", ti2v + "wan2.2_vae_tiny_bf16.safetensors"}};
  return {
      {"cases-wan22-a14b/t2v_w96h64f9.safetensors", "wan22-a14b-tiny",
       {{"--high-noise", a14b + "wan2.2_t2v_high_noise_tiny_bf16.safetensors"},
        {"--low-noise", a14b + "wan2.2_t2v_low_noise_tiny_bf16.safetensors"},
        {"--text-encoder", a14b + "umt5_tiny_bf16.safetensors"},
        {"--vae", a14b + "wan_2.1_vae_tiny_bf16.safetensors"}}},
      {"cases-wan22-i2v/i2v_img120x72_area6144_f9.safetensors", "wan22-i2v-tiny",
       {{"--transformer", i2v + "wan2.2_i2v_high_noise_tiny_bf16.safetensors"},
        {"--transformer-2", i2v + "wan2.2_i2v_low_noise_tiny_bf16.safetensors"},
        {"--text-encoder", i2v + "umt5_tiny_bf16.safetensors"},
        {"--vae", i2v + "wan_2.1_vae_tiny_bf16.safetensors"}}},
      {"cases-wan22-ti2v/t2v_w96h64f9.safetensors", "wan22-ti2v-tiny", ti2v_files},
      {"cases-wan22-ti2v/i2v_img100x70_area6144_f9.safetensors", "wan22-ti2v-tiny", ti2v_files},
      {"cases-wan21-i2v/i2v_img100x60_area6144_f9.safetensors", "wan21-i2v-tiny",
       {{"--transformer", w21 + "wan2.1_i2v_480p_tiny_bf16.safetensors"},
        {"--image-encoder", w21 + "clip_vision_h_tiny_bf16.safetensors"},
        {"--text-encoder", w21 + "umt5_tiny_bf16.safetensors"},
        {"--vae", w21 + "wan_2.1_vae_tiny_bf16.safetensors"}}},
      {"cases-wan21-i2v/flf2v_img48x48_area1024_f81.safetensors", "wan21-flf2v-tiny",
       {{"--transformer", w21 + "wan2.1_flf2v_720p_tiny_bf16.safetensors"},
        {"--image-encoder", w21 + "clip_vision_h_tiny_bf16.safetensors"},
        {"--text-encoder", w21 + "umt5_tiny_bf16.safetensors"},
        {"--vae", w21 + "wan_2.1_vae_tiny_bf16.safetensors"}}},
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
  if (c.contains("image") || c.contains("first")) {
    // The case's images as PNGs: image_u8 (or first_u8) -> --image, last_u8 -> --last-image.
    for (const auto& [tensor, flag] : {std::pair<std::string, std::string>{c.contains("image") ? "image_u8" : "first_u8", "--image"},
                                       {"last_u8", "--last-image"}}) {
      if (!fixture->contains(tensor)) continue;
      const fs::path png = dir_ / (tensor + ".png");
      t2v::test::write_png(t2v::test::load_case_tensor(run.case_file, tensor), png);  // [H, W, 3]
      args.insert(args.end(), {flag, png.string()});
    }
    args.insert(args.end(), {"--max-area", std::to_string(c.at("max_area").get<int64_t>())});
  } else {
    args.insert(args.end(), {"--size", std::to_string(c.at("width").get<int>()) + "x" + std::to_string(c.at("height").get<int>())});
  }
  if (layout == "diffusers") {
    args.insert(args.end(), {"-m", (g / run.folder).string()});
  } else {
    for (const auto& [flag, file] : run.files) args.insert(args.end(), {flag, (g / file).string()});
  }
  auto r = run_t2v(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;

  auto got = t2v::io::SafetensorsFile::open(saved);
  std::vector<std::string> required = {"context", "context_null", "noise", "sigmas", "timesteps", "latent_final",
                                       "video", "frames_u8"};
  for (const auto& n : t2v::test::step_tensor_names(c.at("steps").get<int>())) required.push_back(n);
  for (const char* n : {"step_expert", "step_guide", "y", "clip_fea", "image_in", "image_resized", "z_image", "image_in.first",
                        "image_in.last", "image_resized.first", "image_resized.last"}) {
    if (fixture->contains(n)) required.push_back(n);
  }
  for (const auto& name : required) EXPECT_TRUE(got->contains(name)) << name << " was not saved";
  int compared = 0;
  for (const auto& name : fixture->names()) {
    if (!got->contains(name)) continue;
    auto m = t2v::test::matches_golden(got->view(name), run.case_file, name);
    EXPECT_TRUE(m) << layout << " " << name << ": " << m.message();
    // The measured errors of the end products, for the record (the assertion above decides).
    if (name == "latent_final" || name == "frames_u8" || name == "y" || name == "clip_fea") {
      std::printf("[ measured ] %s %s %s: %s\n", run.name().c_str(), layout.c_str(), name.c_str(), m.message());
    }
    ++compared;
  }
  EXPECT_GE(compared, static_cast<int>(required.size()));
}

INSTANTIATE_TEST_SUITE_P(Wan, CliGolden, ::testing::Combine(::testing::ValuesIn(runs()), ::testing::Values("diffusers", "comfy")),
                         [](const auto& info) {
                           std::string n = std::get<0>(info.param).name() + "_" + std::get<1>(info.param);
                           for (auto& ch : n)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

}  // namespace
