// Round trip through FFmpeg: write a synthetic moving gradient, decode it back with libavcodec,
// check frame count, fps, size, metadata and PSNR against the source frames.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include "t2v/error.h"
#include "t2v/io/video_writer.h"

namespace fs = std::filesystem;
using namespace t2v::io;

namespace {

// A smooth moving colour gradient (compresses well, exercises motion).
torch::Tensor gradient_frame(int t, int h, int w) {
  auto y = torch::arange(h, torch::kFloat32).view({h, 1}).expand({h, w});
  auto x = torch::arange(w, torch::kFloat32).view({1, w}).expand({h, w});
  auto r = 128 + 100 * torch::sin((x + 3.0 * t) / 17.0);
  auto g = 128 + 90 * torch::cos((y - 2.0 * t) / 13.0);
  auto b = 60 + (x + y + 2.0 * t) * (120.0 / (h + w + 60));
  return torch::stack({r, g, b}, 2).clamp(0, 255).to(torch::kUInt8);
}

double psnr(const torch::Tensor& a, const torch::Tensor& b) {
  auto mse = (a.to(torch::kFloat64) - b.to(torch::kFloat64)).pow(2).mean().item<double>();
  return mse == 0 ? 99.0 : 10.0 * std::log10(255.0 * 255.0 / mse);
}

class VideoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("t2v_video_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void expect_no_temp_files() {
    for (const auto& e : fs::directory_iterator(dir_)) {
      EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << "left behind: " << e.path();
    }
  }
  // Writes `n` frames and reads them back; returns the decoded video.
  DecodedVideo round_trip(const std::string& name, int n, int h, int w, Codec codec = Codec::Auto,
                          Rational fps = {16, 1}) {
    VideoWriterOptions o;
    o.path = dir_ / name;
    o.width = w;
    o.height = h;
    o.fps = fps;
    o.codec = codec;
    o.metadata = {{"title", "a red fox running through snow"}, {"comment", R"({"seed":42,"steps":50})"}};
    VideoWriter writer(o);
    for (int t = 0; t < n; ++t) writer.write(gradient_frame(t, h, w));
    EXPECT_FALSE(fs::exists(o.path)) << "target visible before finish()";
    writer.finish();
    expect_no_temp_files();
    return read_video(o.path);
  }
  fs::path dir_;
};

TEST_F(VideoTest, Mp4H264RoundTrip) {
  auto v = round_trip("clip.mp4", 17, 64, 96);
  EXPECT_EQ(v.codec, "h264");
  ASSERT_EQ(v.frames.size(0), 17);
  EXPECT_EQ(v.width, 96);
  EXPECT_EQ(v.height, 64);
  EXPECT_EQ(v.fps.num * 1, 16 * v.fps.den);
  EXPECT_EQ(v.metadata["title"], "a red fox running through snow");
  EXPECT_EQ(v.metadata["comment"], R"({"seed":42,"steps":50})");
  for (int t = 0; t < 17; ++t) {
    const double p = psnr(v.frames[t], gradient_frame(t, 64, 96));
    EXPECT_GE(p, 35.0) << "frame " << t << " PSNR " << p << " dB";
  }
}

// The decode budget: a clip that fits decodes; one whose frames exceed it is refused with a message
// naming the file and the limit, whether the first frame alone is too big (checked from the header,
// before FFmpeg allocates it) or only the whole clip is.
TEST_F(VideoTest, DecodeBudget) {
  (void)round_trip("clip.mp4", 9, 64, 96);
  const uint64_t frame = 64 * 96 * 3;
  EXPECT_EQ(read_video(dir_ / "clip.mp4", 9 * frame).frames.size(0), 9);
  for (uint64_t budget : {4 * frame, frame - 1}) {
    try {
      (void)read_video(dir_ / "clip.mp4", budget);
      ADD_FAILURE() << "budget " << budget << " not enforced";
    } catch (const t2v::InputError& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("clip.mp4"), std::string::npos) << m;
      EXPECT_NE(m.find("MiB decoded"), std::string::npos) << m;
    }
  }
}

TEST_F(VideoTest, RationalFps) {
  auto v = round_trip("ntsc.mkv", 5, 32, 48, Codec::Auto, {24000, 1001});
  EXPECT_EQ(v.frames.size(0), 5);
  EXPECT_NEAR(v.fps.value(), 23.976, 1e-3);
}

TEST_F(VideoTest, H265AndVp9) {
  auto h = round_trip("clip_hevc.mp4", 9, 64, 64, Codec::H265);
  EXPECT_EQ(h.codec, "hevc");
  EXPECT_EQ(h.frames.size(0), 9);
  EXPECT_GE(psnr(h.frames[4], gradient_frame(4, 64, 64)), 35.0);
  auto w = round_trip("clip.webm", 9, 64, 64);
  EXPECT_EQ(w.codec, "vp9");
  EXPECT_EQ(w.frames.size(0), 9);
  EXPECT_GE(psnr(w.frames[4], gradient_frame(4, 64, 64)), 35.0);
  EXPECT_EQ(w.metadata["title"], "a red fox running through snow");
}

TEST_F(VideoTest, OddSizeIsPaddedToEven) {
  auto v = round_trip("odd.mp4", 3, 33, 47);
  EXPECT_EQ(v.width, 48);
  EXPECT_EQ(v.height, 34);
  auto cropped = v.frames[1].slice(0, 0, 33).slice(1, 0, 47);
  EXPECT_GE(psnr(cropped, gradient_frame(1, 33, 47)), 35.0);
}

TEST_F(VideoTest, PngSingleFrameLosslessWithMetadata) {
  auto v = round_trip("still.png", 1, 40, 56);
  ASSERT_EQ(v.frames.size(0), 1);
  EXPECT_TRUE(torch::equal(v.frames[0], gradient_frame(0, 40, 56)));
  EXPECT_EQ(v.metadata["title"], "a red fox running through snow");
  EXPECT_EQ(v.metadata["comment"], R"({"seed":42,"steps":50})");
}

TEST_F(VideoTest, PngRejectsSecondFrame) {
  VideoWriterOptions o;
  o.path = dir_ / "two.png";
  o.width = 8;
  o.height = 8;
  VideoWriter writer(o);
  writer.write(gradient_frame(0, 8, 8));
  EXPECT_THROW(writer.write(gradient_frame(1, 8, 8)), t2v::UsageError);
}

TEST_F(VideoTest, AbandonedWriterLeavesNothing) {
  {
    VideoWriterOptions o;
    o.path = dir_ / "partial.mp4";
    o.width = 32;
    o.height = 32;
    VideoWriter writer(o);
    writer.write(gradient_frame(0, 32, 32));
    // destroyed without finish(): an interrupted or failed run
  }
  EXPECT_FALSE(fs::exists(dir_ / "partial.mp4"));
  expect_no_temp_files();
}

TEST_F(VideoTest, BadInputs) {
  VideoWriterOptions o;
  o.path = dir_ / "x.avi";
  o.width = 8;
  o.height = 8;
  EXPECT_THROW(VideoWriter{o}, t2v::UsageError);
  o.path = dir_ / "missing_dir" / "x.mp4";
  EXPECT_THROW(VideoWriter{o}, t2v::InputError);
  o.path = dir_ / "x.mp4";
  VideoWriter writer(o);
  EXPECT_THROW(writer.write(torch::zeros({8, 9, 3}, torch::kUInt8)), t2v::InputError);
  EXPECT_THROW(check_output_path(dir_ / "nope" / "x.mp4"), t2v::InputError);
  EXPECT_THROW(check_output_path(dir_ / "x.gif"), t2v::UsageError);
  EXPECT_NO_THROW(check_output_path(dir_ / "x.webm"));
  EXPECT_THROW(parse_fps("abc"), t2v::UsageError);
  EXPECT_THROW(parse_fps("-3"), t2v::UsageError);
  EXPECT_EQ(parse_fps("24000/1001").num, 24000);
  EXPECT_NEAR(parse_fps("23.976").value(), 23.976, 1e-6);
}

}  // namespace
