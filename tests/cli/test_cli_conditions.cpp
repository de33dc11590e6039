// End-to-end: the conditioning modes of `t2v generate` on the bundled demo model (64x64, 17 frames,
// 20 steps), with sources rendered by the demo world (so their object colour and background are
// known) and outputs decoded back with libavformat.
//
// Floors were set from measurements on LibTorch 1.13 CPU (Intel Xeon, 2 threads) with margin for
// other BLAS builds, where a sample's path can differ as much as with another seed:
//   --image: first frame vs image 33.1 dB (VAE round trip + H.264) -> floor 26 dB
//   --init-video --strength 0.3 vs its input: RGB PSNR 24.4 dB (strength 1: a new clip) -> floor 20 dB,
//     and at least 3 dB closer than strength 1 (ffmpeg's YUV PSNR, seeds 9-11: 0.1 -> 32.4-32.9,
//     0.3 -> 30.6-31.9, 0.5 -> 28.6-30.9 dB)
//   --extend: source frames in the output 49.5 dB -> the 40 dB
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

extern "C" {
#include <libavformat/avformat.h>
}

#include "support/temp_dir.h"
#include "support/run_binary.h"
#include "t2v/pipeline/conditions.h"
#include "t2v/demo/demo_model.h"
#include "t2v/demo/world.h"
#include "t2v/io/video_writer.h"

using t2v::test::run_t2v;
namespace fs = std::filesystem;
using namespace t2v::demo;

namespace {

constexpr double kImagePsnrFloor = 26.0;
constexpr double kV2vPsnrFloor = 20.0;
constexpr double kV2vCloserBy = 3.0;
constexpr double kKeptPsnrFloor = 40.0;

double psnr(const torch::Tensor& a, const torch::Tensor& b) {
  const double mse = (a.to(torch::kFloat64) - b.to(torch::kFloat64)).pow(2).mean().item<double>();
  return mse == 0 ? 99.0 : 10.0 * std::log10(255.0 * 255.0 / mse);
}

// Mean absolute change between consecutive frames: [F-1] for frames uint8 [F, H, W, 3].
std::vector<double> frame_changes(const torch::Tensor& frames) {
  auto f = frames.to(torch::kFloat32);
  auto d = (f.slice(0, 1) - f.slice(0, 0, -1)).abs().mean({1, 2, 3});
  return std::vector<double>(d.data_ptr<float>(), d.data_ptr<float>() + d.numel());
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// A Matroska file with a 64x64 MJPEG video stream and no frames (header and trailer only).
void write_frameless_video(const fs::path& path) {
  AVFormatContext* fmt = nullptr;
  ASSERT_GE(avformat_alloc_output_context2(&fmt, nullptr, "matroska", path.c_str()), 0);
  AVStream* st = avformat_new_stream(fmt, nullptr);
  st->codecpar->codec_type = AVMEDIA_TYPE_VIDEO;
  st->codecpar->codec_id = AV_CODEC_ID_MJPEG;
  st->codecpar->width = 64;
  st->codecpar->height = 64;
  st->time_base = {1, 16};
  ASSERT_GE(avio_open(&fmt->pb, path.c_str(), AVIO_FLAG_WRITE), 0);
  ASSERT_GE(avformat_write_header(fmt, nullptr), 0);
  av_write_trailer(fmt);
  avio_closep(&fmt->pb);
  avformat_free_context(fmt);
}

class CliConditions : public t2v::test::TempDirTest {
 protected:

  // Renders a demo-world clip of `spec` to an MP4 (and returns its exact frames, uint8 [F, H, W, 3]).
  torch::Tensor render_clip(const ClipSpec& spec, const std::string& name, uint64_t seed, int frames = 17) {
    WorldOptions wo;
    wo.frames = frames;
    Rng rng(seed);
    const auto motion = sample_motion(spec, wo, rng);
    auto u8 = to_uint8_frames(render(spec, motion, wo));
    t2v::io::VideoWriterOptions o;
    o.path = dir_ / name;
    o.width = 64;
    o.height = 64;
    o.fps = {16, 1};
    t2v::io::VideoWriter w(o);
    for (int64_t k = 0; k < u8.size(0); ++k) w.write(u8[k]);
    w.finish();
    return t2v::io::read_video(o.path).frames;  // what t2v will read (after one encode)
  }
  t2v::test::RunResult generate(std::vector<std::string> args) {
    args.insert(args.begin(), "generate");
    for (const char* a : {"--threads", "2"}) args.push_back(a);
    return run_t2v(args);
  }
  bool nothing_written(const std::string& name) const {
    for (const auto& e : fs::directory_iterator(dir_))
      if (e.path().filename().string().find(name) != std::string::npos) return false;
    return true;
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
};

const ClipSpec kRedCircleRightOnBlue{0, Shape::kCircle, Direction::kRight, 2};
const ClipSpec kGreenSquareDownOnBlack{1, Shape::kSquare, Direction::kDown, 5};

TEST_F(CliConditions, ImageIsTheFirstFrame) {
  auto src = render_clip(kRedCircleRightOnBlue, "src.mp4", 1);
  // The image: the source's first frame as a PNG.
  t2v::io::VideoWriterOptions o;
  o.path = dir_ / "first.png";
  o.width = o.height = 64;
  {
    t2v::io::VideoWriter w(o);
    w.write(src[0]);
    w.finish();
  }
  auto r = generate({"-p", caption(kRedCircleRightOnBlue), "--seed", "4", "--image", path("first.png"), "-o", path("out.mp4")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto v = t2v::io::read_video(path("out.mp4"));
  ASSERT_EQ(v.frames.size(0), 17);
  const double p = psnr(v.frames[0], src[0]);
  EXPECT_GE(p, kImagePsnrFloor) << "first frame vs --image: " << p << " dB";
  // The metadata lists the condition with its hash.
  auto meta = nlohmann::json::parse(v.metadata["comment"]);
  ASSERT_EQ(meta["conditions"].size(), 1u);
  EXPECT_EQ(meta["conditions"][0]["role"], "image");
  EXPECT_EQ(meta["conditions"][0]["file"], "first.png");
  EXPECT_EQ(meta["conditions"][0]["frame"], 0);
  EXPECT_EQ(meta["conditions"][0]["sha256"].get<std::string>().size(), 64u);
}

TEST_F(CliConditions, InitVideoStrengthOneIsPlainGenerationAndSmallStaysClose) {
  auto src = render_clip(kRedCircleRightOnBlue, "src.mp4", 2);
  const std::string prompt = caption(kRedCircleRightOnBlue);
  ASSERT_EQ(generate({"-p", prompt, "--seed", "9", "-o", path("plain.mp4")}).exit_code, 0);
  auto r1 = generate({"-p", prompt, "--seed", "9", "--init-video", path("src.mp4"), "--strength", "1", "-o", path("s1.mp4")});
  ASSERT_EQ(r1.exit_code, 0) << r1.err;
  EXPECT_TRUE(torch::equal(t2v::io::read_video(path("plain.mp4")).frames, t2v::io::read_video(path("s1.mp4")).frames));
  auto r3 = generate({"-p", prompt, "--seed", "9", "--init-video", path("src.mp4"), "--strength", "0.3", "-o", path("s03.mp4")});
  ASSERT_EQ(r3.exit_code, 0) << r3.err;
  auto v = t2v::io::read_video(path("s03.mp4")).frames;
  ASSERT_EQ(v.size(0), 17);
  const double p = psnr(v, src);
  const double p1 = psnr(t2v::io::read_video(path("s1.mp4")).frames, src);
  std::printf("RGB PSNR vs the init video: strength 0.3 %.2f dB, strength 1 %.2f dB\n", p, p1);
  EXPECT_GE(p, kV2vPsnrFloor) << "strength 0.3 vs its input: " << p << " dB";
  EXPECT_GE(p, p1 + kV2vCloserBy) << "strength 0.3 is not closer to the input than strength 1";
}

void expect_new_part_matches(const torch::Tensor& frames, const ClipSpec& spec, const std::string& what) {
  const auto& bg = palette()[spec.background].rgb;
  const auto a = analyse_clip(frames, bg);
  EXPECT_EQ(a.colour, palette()[spec.colour].name) << what << ": object colour";
  // The background stays the source's: the object is a minority of the pixels, not a new backdrop.
  EXPECT_GT(a.object_fraction, 0.0) << what;
  EXPECT_LT(a.object_fraction, 0.5) << what << ": background changed";
}

void expect_smooth_seam(const torch::Tensor& frames, int seam, const std::string& what) {
  const auto changes = frame_changes(frames);
  const double med = median(changes);
  // changes[seam - 1] is the change from frame seam-1 to frame seam.
  std::printf("%s: seam change %.2f, median %.2f\n", what.c_str(), changes[seam - 1], med);
  EXPECT_LE(changes[seam - 1], 3.0 * std::max(med, 1.0)) << what << ": seam change " << changes[seam - 1] << ", median " << med;
}

TEST_F(CliConditions, ExtendForwardKeepsTheSourceAndContinuesIt) {
  auto src = render_clip(kRedCircleRightOnBlue, "src.mp4", 3);
  auto r = generate({"-p", caption(kRedCircleRightOnBlue), "--seed", "5", "--extend", path("src.mp4"), "-o",
                     path("ext.mp4")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto v = t2v::io::read_video(path("ext.mp4")).frames;
  ASSERT_EQ(v.size(0), 17 + 12);  // default: the generated clip (5 overlap + 12 new) is the model's 17 frames
  const double p = psnr(v.slice(0, 0, 17), src);
  EXPECT_GE(p, kKeptPsnrFloor) << "kept source frames: " << p << " dB";
  expect_new_part_matches(v.slice(0, 17), kRedCircleRightOnBlue, "extend");
  expect_smooth_seam(v, 17, "extend");
}

TEST_F(CliConditions, ExtendBackwardPutsTheNewFramesFirst) {
  auto src = render_clip(kRedCircleRightOnBlue, "src.mp4", 4);
  auto r = generate({"-p", caption(kRedCircleRightOnBlue), "--seed", "6", "--extend", path("src.mp4"), "--backward",
                     "--frames", "12", "-o", path("back.mp4")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto v = t2v::io::read_video(path("back.mp4")).frames;
  ASSERT_EQ(v.size(0), 12 + 17);
  const double p = psnr(v.slice(0, 12), src);
  EXPECT_GE(p, kKeptPsnrFloor) << "kept source frames: " << p << " dB";
  expect_new_part_matches(v.slice(0, 0, 12), kRedCircleRightOnBlue, "extend backward");
  expect_smooth_seam(v, 12, "extend backward");
}

TEST_F(CliConditions, JoinKeepsBothClipsAroundTheBridge) {
  auto a = render_clip(kRedCircleRightOnBlue, "a.mp4", 5);
  auto b = render_clip(kRedCircleRightOnBlue, "b.mp4", 6, 13);
  auto r = generate({"-p", caption(kRedCircleRightOnBlue), "--seed", "7", "--join", path("a.mp4"), path("b.mp4"), "--frames",
                     "7", "-o", path("join.mp4"), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto v = t2v::io::read_video(path("join.mp4")).frames;
  ASSERT_EQ(v.size(0), 17 + 7 + 13);
  EXPECT_GE(psnr(v.slice(0, 0, 17), a), kKeptPsnrFloor);
  EXPECT_GE(psnr(v.slice(0, 24), b), kKeptPsnrFloor);
  expect_new_part_matches(v.slice(0, 17, 24), kRedCircleRightOnBlue, "join bridge");
  expect_smooth_seam(v, 17, "join A->bridge");
  expect_smooth_seam(v, 24, "join bridge->B");
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["settings"]["conditions"].size(), 2u);
  EXPECT_EQ(j["settings"]["conditions"][1]["frame"], 24);
  EXPECT_EQ(j["settings"]["frames"], 37);
}

TEST_F(CliConditions, SavedLatentsDecodeToTheSameVideo) {
  render_clip(kRedCircleRightOnBlue, "src.mp4", 7);
  auto r = generate({"-p", caption(kRedCircleRightOnBlue), "--seed", "8", "--extend", path("src.mp4"), "--frames", "8",
                     "--save-latents", path("run.safetensors"), "-o", path("run.mp4")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto d = run_t2v({"generate", "--decode-only", path("run.safetensors"), "-o", path("again.mp4"), "--threads", "2"});
  ASSERT_EQ(d.exit_code, 0) << d.err;
  auto a = t2v::io::read_video(path("run.mp4"));
  auto b = t2v::io::read_video(path("again.mp4"));
  EXPECT_EQ(a.frames.size(0), 17 + 8);
  EXPECT_TRUE(torch::equal(a.frames, b.frames));
  EXPECT_EQ(a.metadata["comment"], b.metadata["comment"]);
  // Not a latent file: one line, exit 2.
  std::ofstream(dir_ / "junk.safetensors") << "junk";
  auto bad = run_t2v({"generate", "--decode-only", path("junk.safetensors"), "-o", path("junk.mp4")});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("junk.safetensors"), std::string::npos) << bad.err;
  EXPECT_TRUE(nothing_written("junk.mp4"));
}

TEST_F(CliConditions, BadInputsAreRefusedBeforeAnyWork) {
  render_clip(kRedCircleRightOnBlue, "src.mp4", 8);
  std::ofstream(dir_ / "corrupt.png") << "\x89PNG\r\n\x1a\n not really";
  std::ofstream(dir_ / "corrupt.mp4") << "not a video at all";
  write_frameless_video(dir_ / "empty.mkv");
  const std::string src = path("src.mp4");
  struct Case {
    std::vector<std::string> args;
    std::string names;  // the message names this file or option
  };
  const std::vector<Case> cases = {
      {{"--image", path("corrupt.png")}, "corrupt.png"},
      {{"--init-video", path("corrupt.mp4")}, "corrupt.mp4"},
      {{"--image", path("missing.png")}, "missing.png"},
      {{"--extend", path("empty.mkv")}, "empty.mkv"},
      {{"--cond", src + "@40"}, "outside the output"},
      {{"--cond", src + "@-3"}, "outside the output"},
      {{"--image", src, "--cond", src + "@0"}, "overlap"},
      {{"--init-video", src, "--strength", "1.5"}, "--strength"},
      {{"--cond", src + "@0:-0.5"}, "strength"},
      {{"--extend", src, "--join", src, src}, "--extend"},
      {{"--extend", src, "--overlap", "30"}, "--overlap"},
      {{"--fit", "zoom", "--image", src}, "--fit"},
  };
  for (const auto& c : cases) {
    auto args = c.args;
    for (const char* a : {"-p", "a red circle", "--seed", "1", "-o"}) args.push_back(a);
    args.push_back(path("out.mp4"));
    auto r = generate(args);
    std::string joined;
    for (const auto& a : c.args) joined += a + " ";
    EXPECT_EQ(r.exit_code, 2) << joined << "\n" << r.err;
    EXPECT_NE(r.err.find(c.names), std::string::npos) << joined << "\n" << r.err;
    if (c.args[0] == "--fit") continue;  // CLI11's own refusal of a value outside the choices
    // One line of error, after any log lines.
    const auto last = r.err.rfind("error:");
    EXPECT_NE(last, std::string::npos) << r.err;
    if (last != std::string::npos) EXPECT_EQ(r.err.find('\n', last), r.err.size() - 1) << r.err;
    EXPECT_TRUE(nothing_written("out.mp4")) << joined;
  }
}

// Images the 8-bit RGB conversion would silently change are refused, naming the file and the
// reason (tests/data/images, made with ImageMagick); palette PNGs without transparency and RGBA
// PNGs whose alpha is fully opaque are ordinary RGB images.
TEST_F(CliConditions, BadImagesAreRefusedNamingTheFile) {
  const fs::path images = fs::path(T2V_TEST_DATA) / "images";
  std::ofstream(dir_ / "truncated.png") << "\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
  const std::vector<std::pair<fs::path, std::string>> bad = {
      {dir_ / "truncated.png", "truncated.png"},
      {images / "one.png", "1x1 pixels is too small"},
      {images / "alpha.png", "transparent pixels"},
      {images / "pal_alpha.png", "transparent pixels"},
      {images / "rgb16.png", "16 bits per channel"},
      {images / "cmyk.jpg", "a CMYK JPEG"},
  };
  for (const auto& [file, reason] : bad) {
    auto r = generate({"-p", "a red circle", "--image", file.string(), "-o", path("out.mp4")});
    EXPECT_EQ(r.exit_code, 2) << file << "\n" << r.err;
    EXPECT_NE(r.err.find("--image: " + file.string()), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(reason), std::string::npos) << r.err;
    EXPECT_TRUE(nothing_written("out.mp4")) << file;
  }
  for (const char* ok : {"pal.png", "opaque_rgba.png"}) {
    auto m = t2v::pipeline::load_media(images / ok, "image", {16, 1});
    EXPECT_EQ(m.frames.sizes(), (std::vector<int64_t>{1, 24, 32, 3})) << ok;
  }
  auto red = t2v::pipeline::load_media(images / "opaque_rgba.png", "image", {16, 1}).frames;
  EXPECT_TRUE(torch::equal(red[0][5][7], torch::tensor({255, 0, 0}, torch::kUInt8))) << red[0][5][7];
}

TEST_F(CliConditions, BatchLinesTakeConditionKeys) {
  render_clip(kRedCircleRightOnBlue, "src.mp4", 9);
  {
    std::ofstream jsonl(dir_ / "jobs.jsonl");
    jsonl << nlohmann::json{{"prompt", caption(kRedCircleRightOnBlue)}, {"seed", 1}, {"extend", path("src.mp4")},
                            {"frames", 8}, {"output", path("e.mp4")}}.dump() << "\n";
    jsonl << nlohmann::json{{"prompt", caption(kRedCircleRightOnBlue)}, {"seed", 2}, {"init_video", path("src.mp4")},
                            {"strength", 0.5}, {"output", path("v.mp4")}}.dump() << "\n";
    jsonl << nlohmann::json{{"prompt", "x"}, {"image", path("nope.png")}, {"output", path("bad.mp4")}}.dump() << "\n";
  }
  auto r = run_t2v({"batch", path("jobs.jsonl"), "--output-dir", dir_.string(), "--threads", "2"});
  EXPECT_NE(r.exit_code, 0);  // the third line fails, the others are written
  EXPECT_NE(r.err.find("nope.png"), std::string::npos) << r.err;
  EXPECT_EQ(t2v::io::read_video(dir_ / "e.mp4").frames.size(0), 17 + 8);
  EXPECT_EQ(t2v::io::read_video(dir_ / "v.mp4").frames.size(0), 17);
  EXPECT_TRUE(nothing_written("bad.mp4"));
}

TEST_F(CliConditions, InfoListsTheModes) {
  auto r = run_t2v({"info", "--json", find_demo_model().string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  std::vector<std::string> modes = j["modes"];
  for (const char* m : {"text-to-video", "image-to-video", "video-to-video", "extend", "join"}) {
    EXPECT_NE(std::find(modes.begin(), modes.end(), m), modes.end()) << m;
  }
}

}  // namespace
