// End-to-end: `t2v generate` and `t2v batch` with the real binary on the tiny fixture model,
// outputs decoded back with libavformat.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "support/temp_dir.h"
#include "support/golden.h"
#include "support/run_binary.h"
#include "t2v/io/safetensors.h"
#include "t2v/io/video_writer.h"

using t2v::test::run_t2v;
namespace fs = std::filesystem;

namespace {

class CliGenerate : public t2v::test::TempDirTest {
 protected:
  std::vector<std::string> base() const {
    return {"--steps", "3", "--size", "96x64", "--threads", "2", "-m", t2v::test::tiny_model_dir().string()};
  }
  size_t temp_files() const {
    size_t n = 0;
    for (const auto& e : fs::recursive_directory_iterator(dir_)) n += e.path().filename().string().find(".tmp-") != std::string::npos;
    return n;
  }
};

TEST_F(CliGenerate, Mp4ReadBack) {
  auto args = base();
  const fs::path out = dir_ / "panda.mp4";
  args.insert(args.begin(), {"generate", "-p", "A red panda rides a bike.", "--frames", "9", "--seed", "7", "-o",
                             out.string(), "--json"});
  auto r = run_t2v(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["seed"], 7);
  EXPECT_EQ(j["output"], out.string());
  EXPECT_GT(j["seconds"]["denoise"].get<double>(), 0.0);
  auto v = t2v::io::read_video(out);
  EXPECT_EQ(v.frames.size(0), 9);
  EXPECT_EQ(v.width, 96);
  EXPECT_EQ(v.height, 64);
  EXPECT_EQ(v.fps.num, 16 * v.fps.den);
  EXPECT_EQ(v.metadata["title"], "A red panda rides a bike.");
  auto settings = nlohmann::json::parse(v.metadata["comment"]);
  EXPECT_EQ(settings["seed"], 7);
  EXPECT_EQ(settings["steps"], 3);
  EXPECT_EQ(settings["sampler"], "unipc");
  EXPECT_EQ(temp_files(), 0u);
}

TEST_F(CliGenerate, SameSeedSameVideo) {
  for (const char* name : {"a.mp4", "b.mp4"}) {
    auto args = base();
    args.insert(args.begin(), {"generate", "-p", "a fox", "--frames", "5", "--seed", "3", "-o", (dir_ / name).string()});
    ASSERT_EQ(run_t2v(args).exit_code, 0);
  }
  auto a = t2v::io::read_video(dir_ / "a.mp4");
  auto b = t2v::io::read_video(dir_ / "b.mp4");
  EXPECT_TRUE(torch::equal(a.frames, b.frames));
}

TEST_F(CliGenerate, SingleFramePng) {
  auto args = base();
  const fs::path out = dir_ / "still.png";
  args.insert(args.begin(), {"generate", "-p", "a lighthouse at dusk", "--frames", "1", "--seed", "1", "-o", out.string()});
  auto r = run_t2v(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto v = t2v::io::read_video(out);
  EXPECT_EQ(v.frames.size(0), 1);
  EXPECT_EQ(v.width, 96);
  EXPECT_EQ(v.metadata["title"], "a lighthouse at dusk");
}

TEST_F(CliGenerate, BadOptionsExitTwo) {
  auto args = base();
  args.insert(args.begin(), {"generate", "-p", "x", "--sampler", "ddim", "-o", (dir_ / "x.mp4").string()});
  auto r = run_t2v(args);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("sampler"), std::string::npos) << r.err;
  auto png = base();
  png.insert(png.begin(), {"generate", "-p", "x", "--frames", "9", "-o", (dir_ / "x.png").string()});
  auto r2 = run_t2v(png);
  EXPECT_EQ(r2.exit_code, 2);
  EXPECT_NE(r2.err.find(".png"), std::string::npos) << r2.err;
  EXPECT_FALSE(fs::exists(dir_ / "x.png"));
  // An unwritable output is reported before any model work is done.
  auto nodir = base();
  nodir.insert(nodir.begin(), {"generate", "-p", "x", "-o", (dir_ / "missing" / "x.mp4").string()});
  auto r3 = run_t2v(nodir);
  EXPECT_EQ(r3.exit_code, 2);
  EXPECT_NE(r3.err.find("output directory does not exist"), std::string::npos) << r3.err;
  EXPECT_EQ(r3.err.find("denoising"), std::string::npos) << r3.err;
}

// Wan2.2 T2V-A14B from ComfyUI's two expert files: the metadata records both guidance scales and the
// switch; --guidance-2 on a one-expert model is refused before any work.
TEST_F(CliGenerate, TwoExpertSingleFiles) {
  const fs::path c = t2v::test::golden_dir() / "wan22-a14b-tiny-comfy";
  const fs::path out = dir_ / "cats.mp4";
  auto r = run_t2v({"generate", "-p", "Two cats box.", "--steps", "4", "--size", "96x64", "--frames", "5", "--seed",
                    "42", "--guidance-2", "2.5", "--threads", "2", "-o", out.string(), "--transformer",
                    (c / "wan2.2_t2v_high_noise_tiny_bf16.safetensors").string(), "--transformer-2",
                    (c / "wan2.2_t2v_low_noise_tiny_bf16.safetensors").string(), "--text-encoder",
                    (c / "umt5_tiny_bf16.safetensors").string(), "--vae",
                    (c / "wan_2.1_vae_tiny_bf16.safetensors").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto v = t2v::io::read_video(out);
  EXPECT_EQ(v.frames.size(0), 5);
  auto settings = nlohmann::json::parse(v.metadata["comment"]);
  EXPECT_DOUBLE_EQ(settings["guidance"].get<double>(), 4.0);  // the high-noise expert's default
  EXPECT_DOUBLE_EQ(settings["guidance_2"].get<double>(), 2.5);
  EXPECT_DOUBLE_EQ(settings["shift"].get<double>(), 12.0);
  EXPECT_DOUBLE_EQ(settings["boundary_timestep"].get<double>(), 875.0);

  auto one = base();
  one.insert(one.begin(), {"generate", "-p", "x", "--guidance-2", "3", "-o", (dir_ / "x.mp4").string()});
  auto r2 = run_t2v(one);
  EXPECT_EQ(r2.exit_code, 2);
  EXPECT_NE(r2.err.find("--guidance-2"), std::string::npos) << r2.err;
  EXPECT_FALSE(fs::exists(dir_ / "x.mp4"));
}

// The engine's modes on a mask-channel model (Wan2.2 I2V-A14B): --extend marks the overlap frames
// one by one in the mask (here 3 frames: no latent boundary), the latent is never re-blended, and
// the source's frames are kept in the output.
TEST_F(CliGenerate, ExtendOnAnImageToVideoModelUsesTheMaskChannels) {
  const fs::path src = dir_ / "src.mp4";
  {
    t2v::io::VideoWriterOptions o;
    o.path = src;
    o.width = 64;
    o.height = 48;
    o.fps = {16, 1};
    t2v::io::VideoWriter w(o);
    for (int f = 0; f < 9; ++f) w.write(torch::full({48, 64, 3}, 20 * f, torch::kUInt8));
    w.finish();
  }
  const fs::path out = dir_ / "ext.mp4", saved = dir_ / "i.safetensors";
  auto r = run_t2v({"generate", "-m", (t2v::test::golden_dir() / "wan22-i2v-tiny").string(), "-p", "more", "--extend",
                    src.string(), "--overlap", "3", "--frames", "6", "--size", "64x48", "--steps", "2", "--seed", "3",
                    "--save-intermediates", saved.string(), "-o", out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(t2v::io::read_video(out).frames.size(0), 9 + 6);
  auto f = t2v::io::SafetensorsFile::open(saved);
  ASSERT_TRUE(f->contains("y"));
  EXPECT_FALSE(f->contains("known_latent"));
  const auto y = f->view("y");  // [4 + 16, T, h, w]: mask of frames 0-2 known
  const auto mask = y.slice(0, 0, 4).select(3, 0).select(2, 0);  // [4, T]
  EXPECT_TRUE(torch::equal(mask.select(1, 0), torch::ones({4}))) << mask;
  EXPECT_TRUE(torch::equal(mask.select(1, 1), torch::tensor({1.f, 1.f, 0.f, 0.f}))) << mask;  // frames 1, 2 of 1-4
  EXPECT_EQ(mask.slice(1, 2).abs().sum().item<float>(), 0.f) << mask;
}

// Wan2.2 TI2V-5B: 24 fps by default, sizes in multiples of 32; --image through its native known
// frame at t = 0 (the first output frame is the image up to the VAE round trip of a random model).
TEST_F(CliGenerate, Ti2vFolderTextAndImage) {
  const std::string model = (t2v::test::golden_dir() / "wan22-ti2v-tiny").string();
  const fs::path t2v_out = dir_ / "t.mp4";
  auto r = run_t2v({"generate", "-p", "a red panda", "-m", model, "--steps", "3", "--size", "96x64", "--frames", "5",
                    "--seed", "1", "--threads", "2", "-o", t2v_out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto v = t2v::io::read_video(t2v_out);
  EXPECT_EQ(v.frames.size(0), 5);
  EXPECT_EQ(v.fps.num, 24 * v.fps.den);
  EXPECT_EQ(v.width, 96);
  const fs::path still = dir_ / "still.png";
  ASSERT_EQ(run_t2v({"generate", "-p", "x", "-m", model, "--steps", "2", "--size", "96x64", "--frames", "1", "--seed", "2",
                     "-o", still.string()}).exit_code, 0);
  const fs::path i2v_out = dir_ / "i.mp4";
  r = run_t2v({"generate", "-p", "a red panda", "-m", model, "--steps", "3", "--frames", "5", "--seed", "1",
               "--image", still.string(), "--threads", "2", "-o", i2v_out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto i = t2v::io::read_video(i2v_out);
  EXPECT_EQ(i.frames.size(0), 5);
  EXPECT_EQ(i.width % 32, 0);
  auto settings = nlohmann::json::parse(i.metadata["comment"]);
  EXPECT_EQ(settings["conditions"].size(), 1u);
}

TEST_F(CliGenerate, CtrlCLeavesNoOutput) {
  auto args = base();
  args[1] = "400";  // --steps: long enough to be interrupted mid-denoise
  const fs::path out = dir_ / "interrupted.mp4";
  args.insert(args.begin(), {"generate", "-p", "a long one", "--frames", "9", "-o", out.string()});
  auto r = t2v::test::run_t2v_interrupt(args, "step 3/", 120);
  EXPECT_EQ(r.exit_code, 130) << r.err;
  EXPECT_FALSE(fs::exists(out));
  EXPECT_EQ(temp_files(), 0u);
}

TEST_F(CliGenerate, BatchWithBrokenLineAndResume) {
  const fs::path prompts = dir_ / "prompts.jsonl";
  std::ofstream(prompts) << R"({"prompt": "a red fox", "seed": 11})" << "\n"
                         << "# a comment line\n"
                         << R"({"prompt": "a blue whale", "frames": 1})" << "\n"
                         << R"({"prompt": "broken", "frames": "many"})" << "\n"
                         << "\n"
                         << R"({"prompt": "green hills"})" << "\n";
  const fs::path out_dir = dir_ / "out";
  auto args = base();
  args.insert(args.begin(), {"batch", prompts.string(), "--output-dir", out_dir.string(), "--frames", "5", "--seed", "100"});
  auto r = run_t2v(args);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("prompts.jsonl:4"), std::string::npos) << r.err;  // the broken line's number
  std::vector<fs::path> videos;
  for (const auto& e : fs::directory_iterator(out_dir))
    if (e.path().extension() == ".mp4" || e.path().extension() == ".png") videos.push_back(e.path());
  ASSERT_EQ(videos.size(), 3u) << r.err;
  EXPECT_TRUE(fs::exists(out_dir / "0000-a-red-fox-11.mp4"));
  EXPECT_TRUE(fs::exists(out_dir / "0003-green-hills-103.mp4"));  // base seed + index
  EXPECT_EQ(t2v::io::read_video(out_dir / "0003-green-hills-103.mp4").frames.size(0), 5);
  ASSERT_TRUE(fs::exists(out_dir / "batch-manifest.jsonl"));
  int done = 0, failed = 0;
  {
    std::ifstream m(out_dir / "batch-manifest.jsonl");
    std::string line;
    while (std::getline(m, line)) {
      auto j = nlohmann::json::parse(line);
      done += j["status"] == "done";
      failed += j["status"] == "failed";
    }
  }
  EXPECT_EQ(done, 3);
  EXPECT_EQ(failed, 1);

  // Re-run after deleting one output: only that one is generated again.
  fs::remove(out_dir / "0000-a-red-fox-11.mp4");
  const auto kept_time = fs::last_write_time(out_dir / "0003-green-hills-103.mp4");
  auto r2 = run_t2v(args);
  EXPECT_EQ(r2.exit_code, 2);  // the broken line still fails
  EXPECT_TRUE(fs::exists(out_dir / "0000-a-red-fox-11.mp4"));
  EXPECT_EQ(fs::last_write_time(out_dir / "0003-green-hills-103.mp4"), kept_time);
  EXPECT_NE(r2.err.find("2 skipped"), std::string::npos) << r2.err;
  EXPECT_NE(r2.err.find("1 done"), std::string::npos) << r2.err;
  EXPECT_EQ(temp_files(), 0u);
}

}  // namespace
