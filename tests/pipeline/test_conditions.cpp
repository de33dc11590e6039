// Planning of conditions: the frame -> latent rule of Wan's causal VAE, placements, masks, layouts
// of extend/join, sizes from an input's aspect ratio, frame-rate resampling, fitting, and the
// composer that writes kept and generated frames in order.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <fstream>

#include "support/temp_dir.h"
#include "t2v/error.h"
#include "t2v/io/video_writer.h"
#include "t2v/pipeline/conditions.h"
#include "t2v/pipeline/output.h"

namespace fs = std::filesystem;
using namespace t2v::pipeline;

namespace {

class Conditions : public t2v::test::TempDirTest {
 protected:

  // A clip whose frame k is filled with value 10 k (so frames can be told apart after decoding).
  fs::path write_clip(const std::string& name, int frames, int w = 64, int h = 64, t2v::io::Rational fps = {16, 1}) {
    t2v::io::VideoWriterOptions o;
    o.path = dir_ / name;
    o.width = w;
    o.height = h;
    o.fps = fps;
    o.crf = 0;
    t2v::io::VideoWriter writer(o);
    for (int k = 0; k < frames; ++k) writer.write(torch::full({h, w, 3}, (10 * k) % 250, torch::kUInt8));
    writer.finish();
    return o.path;
  }
  static GridLimits demo_limits() {
    GridLimits l;
    l.default_width = l.default_height = 64;
    l.default_frames = 17;
    l.trained_area = 64 * 64;
    return l;
  }
  static GridRequest size64() {
    GridRequest g;
    g.width = 64;
    g.height = 64;
    return g;
  }
};

std::vector<double> weights(std::initializer_list<double> w) { return w; }

TEST(FrameLatentRule, FirstFrameAloneThenFourPerLatent) {
  EXPECT_EQ(latent_of_frame(0, 4), 0);
  for (int f = 1; f <= 4; ++f) EXPECT_EQ(latent_of_frame(f, 4), 1) << f;
  EXPECT_EQ(latent_of_frame(5, 4), 2);
  EXPECT_EQ(latent_of_frame(80, 4), 20);
  EXPECT_EQ(frames_of_latent(0, 4), std::make_pair(0, 0));
  EXPECT_EQ(frames_of_latent(1, 4), std::make_pair(1, 4));
  EXPECT_EQ(frames_of_latent(20, 4), std::make_pair(77, 80));
  // Every frame lies in the latent whose range holds it, for other strides too.
  for (int s : {2, 4, 8})
    for (int f = 0; f < 100; ++f) {
      auto [a, b] = frames_of_latent(latent_of_frame(f, s), s);
      EXPECT_LE(a, f);
      EXPECT_GE(b, f);
    }
}

TEST(ParseCondition, FileFrameStrength) {
  auto c = parse_condition("dir/a@b.png@-1:0.25");
  EXPECT_EQ(c.path, "dir/a@b.png");
  EXPECT_EQ(c.frame, -1);
  EXPECT_DOUBLE_EQ(c.strength, 0.25);
  EXPECT_DOUBLE_EQ(parse_condition("x.png@8").strength, 1.0);
  for (const char* bad : {"x.png", "x.png@", "@3", "x.png@three", "x.png@3:", "x.png@3:2", "x.png@3:-0.1", "x.png@1.5"}) {
    EXPECT_THROW(parse_condition(bad), t2v::UsageError) << bad;
  }
}

TEST_F(Conditions, ImageAtFirstFrameImposesLatentZero) {
  const auto img = write_clip("a.png", 1);
  ConditionsRequest r;
  r.conditions.push_back({img, 0, 1.0, "image"});
  auto p = plan_generation(r, size64(), demo_limits());
  EXPECT_EQ(p.grid.frames, 17);
  EXPECT_EQ(p.plan.output_frames, 17);
  EXPECT_EQ(p.plan.latent_weight, weights({1, 0, 0, 0, 0}));
  auto v = p.plan.known_video(4);
  ASSERT_EQ(v.sizes(), (std::vector<int64_t>{3, 1, 64, 64}));  // only what the known latents need
  EXPECT_EQ(p.plan.inputs[0].sha256.size(), 64u);
  EXPECT_TRUE(p.plan.notices.empty() || p.plan.notices[0].find("off the latent") == std::string::npos);
}

TEST_F(Conditions, LastImageHoldsTheLastLatentFrame) {
  const auto img = write_clip("z.png", 1);
  ConditionsRequest r;
  r.conditions.push_back({img, -1, 0.7, "last_image"});
  auto p = plan_generation(r, size64(), demo_limits());
  EXPECT_EQ(p.plan.latent_weight, weights({0, 0, 0, 0, 0.7}));
  // Frame 16 is the image; latent 4 also codes frames 13-15, which hold it (off-boundary notice).
  ASSERT_EQ(p.plan.known_video(4).size(1), 17);
  bool noticed = false;
  for (const auto& n : p.plan.notices) noticed |= n.find("off the latent boundaries") != std::string::npos;
  EXPECT_TRUE(noticed);
}

TEST_F(Conditions, ClipOfFourKPlusOneFramesCoversWholeLatents) {
  const auto clip = write_clip("c.mp4", 9);  // frames 0-8 -> latents 0, 1, 2
  ConditionsRequest r;
  r.conditions.push_back({clip, 0, 1.0, "cond"});
  auto p = plan_generation(r, size64(), demo_limits());
  EXPECT_EQ(p.plan.latent_weight, weights({1, 1, 1, 0, 0}));
  for (const auto& n : p.plan.notices) EXPECT_EQ(n.find("off the latent"), std::string::npos) << n;
  auto v = p.plan.known_video(4);
  ASSERT_EQ(v.size(1), 9);
  // Pixel values come back (lossless CRF 0 H.264 is near-exact; frame k is 10 k).
  for (int k = 0; k < 9; ++k) EXPECT_NEAR(((v[0][k].mean().item<double>() + 1) * 127.5), 10.0 * k, 3.0) << k;
}

TEST_F(Conditions, OffBoundaryClipHoldsNearestFrames) {
  const auto clip = write_clip("c.mp4", 4);  // at frame 3: frames 3-6 -> latent 1 (1-4) and 2 (5-8)
  ConditionsRequest r;
  r.conditions.push_back({clip, 3, 1.0, "cond"});
  auto p = plan_generation(r, size64(), demo_limits());
  EXPECT_EQ(p.plan.latent_weight, weights({0, 1, 1, 0, 0}));
  auto v = p.plan.known_video(4);
  ASSERT_EQ(v.size(1), 9);
  auto value = [&](int f) { return (v[0][f].mean().item<double>() + 1) * 127.5; };
  // Frames 0-2 hold the clip's first frame (value 0), frames 7-8 its last (value 30).
  for (int f : {0, 1, 2, 3}) EXPECT_NEAR(value(f), 0.0, 3.0) << f;
  EXPECT_NEAR(value(5), 20.0, 3.0);
  for (int f : {6, 7, 8}) EXPECT_NEAR(value(f), 30.0, 3.0) << f;
}

TEST_F(Conditions, OverlapsAndPositionsAreRefused) {
  const auto img = write_clip("a.png", 1);
  const auto clip = write_clip("c.mp4", 5);
  auto plan_with = [&](std::vector<ConditionRequest> conds) {
    ConditionsRequest r;
    r.conditions = std::move(conds);
    return plan_generation(r, size64(), demo_limits());
  };
  EXPECT_THROW(plan_with({{img, 17, 1.0, "cond"}}), t2v::UsageError);
  EXPECT_THROW(plan_with({{img, -18, 1.0, "cond"}}), t2v::UsageError);
  EXPECT_THROW(plan_with({{clip, 13, 1.0, "cond"}}), t2v::UsageError);  // 13-17 runs past 16
  EXPECT_NO_THROW(plan_with({{clip, 12, 1.0, "cond"}}));
  EXPECT_THROW(plan_with({{clip, 0, 1.0, "cond"}, {img, 4, 1.0, "cond"}}), t2v::UsageError);  // same frame
  EXPECT_THROW(plan_with({{img, 5, 1.0, "cond"}, {img, 8, 1.0, "cond"}}), t2v::UsageError);   // same latent 2
  EXPECT_NO_THROW(plan_with({{img, 0, 1.0, "image"}, {img, -1, 1.0, "last_image"}}));
  ConditionsRequest r;
  r.conditions.push_back({img, 0, 1.0, "image"});
  r.extend = clip;
  r.join = {clip, clip};
  EXPECT_THROW(plan_generation(r, size64(), demo_limits()), t2v::UsageError);
  ConditionsRequest s;
  s.init_video = clip;
  s.strength = 1.5;
  EXPECT_THROW(plan_generation(s, size64(), demo_limits()), t2v::UsageError);
}

TEST_F(Conditions, ExtendForwardAndBackwardLayouts) {
  const auto src = write_clip("s.mp4", 17);
  ConditionsRequest r;
  r.extend = src;
  GridRequest g = size64();
  g.frames = 16;  // new frames
  auto p = plan_generation(r, g, demo_limits());
  EXPECT_EQ(p.grid.frames, 21);  // overlap 5 (default) + 16 new
  EXPECT_EQ(p.plan.output_frames, 33);
  ASSERT_EQ(p.plan.layout.size(), 2u);
  EXPECT_FALSE(p.plan.layout[0].generated);
  EXPECT_EQ(p.plan.layout[0].count, 17);
  EXPECT_EQ(p.plan.layout[1].first, 5);
  EXPECT_EQ(p.plan.layout[1].count, 16);
  EXPECT_EQ(p.plan.latent_weight, weights({1, 1, 0, 0, 0, 0}));
  ASSERT_EQ(p.plan.placements.size(), 1u);
  EXPECT_EQ(p.plan.placements[0].src_first, 12);  // the source's last 5 frames

  r.backward = true;
  auto b = plan_generation(r, g, demo_limits());
  EXPECT_EQ(b.grid.frames, 21);
  EXPECT_EQ(b.plan.output_frames, 33);
  EXPECT_TRUE(b.plan.layout[0].generated);
  EXPECT_EQ(b.plan.layout[0].count, 16);
  EXPECT_EQ(b.plan.placements[0].frame, 16);  // the source's first 5 frames end the generated clip
  // Frame 16 is the last frame of latent 4 (13-16), frames 17-20 are latent 5.
  EXPECT_EQ(b.plan.latent_weight, weights({0, 0, 0, 0, 1, 1}));

  g.frames = 14;  // 5 + 14 = 19 -> 21: the new part grows to 16 with a notice
  r.backward = false;
  r.overlap = 4;
  auto c = plan_generation(r, g, demo_limits());
  EXPECT_EQ(c.grid.frames, 21);  // 4 + 14 = 18 -> 21
  EXPECT_EQ(c.plan.output_frames, 17 + 17);

  // No frames asked: the generated clip is the model's default length.
  r.overlap.reset();
  auto d = plan_generation(r, size64(), demo_limits());
  EXPECT_EQ(d.grid.frames, 17);
  EXPECT_EQ(d.plan.output_frames, 17 + 12);
}

TEST_F(Conditions, JoinLayoutAndConditionsOnTheBridge) {
  const auto a = write_clip("a.mp4", 9);
  const auto b = write_clip("b.mp4", 13);
  const auto img = write_clip("m.png", 1);
  ConditionsRequest r;
  r.join = {a, b};
  GridRequest g = size64();
  g.frames = 7;
  r.conditions.push_back({img, 11, 1.0, "cond"});  // output frame 11 = bridge frame 2 = generated frame 7
  auto p = plan_generation(r, g, demo_limits());
  EXPECT_EQ(p.grid.frames, 17);  // 5 + 7 + 5
  EXPECT_EQ(p.plan.output_frames, 9 + 7 + 13);
  ASSERT_EQ(p.plan.layout.size(), 3u);
  EXPECT_EQ(p.plan.layout[1].first, 5);
  EXPECT_EQ(p.plan.layout[1].count, 7);
  EXPECT_EQ(p.plan.latent_weight, weights({1, 1, 1, 1, 1}));
  auto meta = p.plan.metadata();
  ASSERT_EQ(meta.size(), 3u);
  EXPECT_EQ(meta[0]["frame"], 0);
  EXPECT_EQ(meta[1]["frame"], 16);  // B starts after A and the bridge
  EXPECT_EQ(meta[2]["frame"], 11);
  EXPECT_EQ(meta[2]["role"], "cond");
  // A condition on A's kept frames is refused; one in B's first latent frame overlaps B.
  r.conditions = {{img, 2, 1.0, "cond"}};
  EXPECT_THROW(plan_generation(r, g, demo_limits()), t2v::UsageError);
  r.conditions = {{img, 13, 1.0, "cond"}};  // generated frame 9: latent 3 (9-12) holds B's first frame
  EXPECT_THROW(plan_generation(r, g, demo_limits()), t2v::UsageError);
}

TEST_F(Conditions, InitVideoSetsTheLengthAndDefaultStrength) {
  const auto clip = write_clip("v.mp4", 24);
  ConditionsRequest r;
  r.init_video = clip;
  auto p = plan_generation(r, size64(), demo_limits());
  EXPECT_EQ(p.grid.frames, 17);  // at most the model's length, 4k+1
  EXPECT_DOUBLE_EQ(p.plan.strength, 0.8);
  EXPECT_FALSE(p.plan.has_known());
  EXPECT_EQ(p.plan.init_video(17).sizes(), (std::vector<int64_t>{3, 17, 64, 64}));
  auto meta = p.plan.metadata();
  ASSERT_EQ(meta.size(), 1u);
  EXPECT_EQ(meta[0]["role"], "init_video");
  EXPECT_EQ(meta[0]["frames"], 17);
  GridRequest g = size64();
  g.frames = 25;  // longer than the video
  EXPECT_THROW(plan_generation(r, g, demo_limits()), t2v::UsageError);
}

TEST_F(Conditions, SizeFollowsTheFirstInputsAspect) {
  const auto img = write_clip("wide.png", 1, 1280, 720);
  ConditionsRequest r;
  r.conditions.push_back({img, 0, 1.0, "image"});
  GridLimits wan;  // 832x480 default area
  auto p = plan_generation(r, GridRequest{}, wan);
  // W21 image2video.py: h = floor(sqrt(399360 * 720/1280) / 16) * 16 = 464, w = 832.
  EXPECT_EQ(p.grid.width, 832);
  EXPECT_EQ(p.grid.height, 464);
  r.max_area = 1280 * 720;
  auto q = plan_generation(r, GridRequest{}, wan);
  EXPECT_EQ(q.grid.width, 1280);
  EXPECT_EQ(q.grid.height, 720);
  EXPECT_EQ(q.plan.inputs[0].fitted.sizes(), (std::vector<int64_t>{1, 720, 1280, 3}));
}

TEST_F(Conditions, FrameRateIsResampled) {
  const auto clip = write_clip("c24.mp4", 24, 64, 64, {24, 1});
  auto m = load_media(clip, "extend", {16, 1});
  EXPECT_EQ(m.source_frames, 24);
  ASSERT_EQ(m.frames.size(0), 16);  // floor(23 / 1.5) + 1
  // Output frame 3 (t = 3/16 s) is source frame floor(4.5) = 4, value 40.
  EXPECT_NEAR(m.frames[3].to(torch::kFloat32).mean().item<double>(), 40.0, 3.0);
}

TEST_F(Conditions, UnreadableInputsNameTheField) {
  std::ofstream(dir_ / "bad.png") << "not an image";
  try {
    load_media(dir_ / "bad.png", "image", {16, 1});
    FAIL() << "no error";
  } catch (const t2v::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("image: "), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad.png"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_media(dir_ / "missing.mp4", "extend", {16, 1}), t2v::InputError);
}

TEST(FitFrames, CropPadStretch) {
  // A 2:1 frame: left half 0, right half 200, a 20-pixel white band in the middle.
  auto f = torch::zeros({1, 32, 64, 3}, torch::kUInt8);
  f.slice(2, 32, 64).fill_(200);
  EXPECT_TRUE(torch::equal(fit_frames(f, 64, 32, Fit::Crop), f));  // same size: untouched
  auto crop = fit_frames(f, 32, 32, Fit::Crop);                     // the centre 32x32
  ASSERT_EQ(crop.sizes(), (std::vector<int64_t>{1, 32, 32, 3}));
  EXPECT_EQ(crop[0][16][2][0].item<int>(), 0);
  EXPECT_EQ(crop[0][16][29][0].item<int>(), 200);
  auto pad = fit_frames(f, 32, 32, Fit::Pad);  // 32x16 in the middle, black bars above and below
  EXPECT_EQ(pad[0][2][28][0].item<int>(), 0);
  EXPECT_NEAR(pad[0][16][28][0].item<int>(), 200, 2);
  auto stretch = fit_frames(f, 32, 64, Fit::Stretch);
  ASSERT_EQ(stretch.sizes(), (std::vector<int64_t>{1, 64, 32, 3}));
  EXPECT_NEAR(stretch[0][40][28][0].item<int>(), 200, 2);
}

class RecordingSink final : public FrameSink {
 public:
  void write(const torch::Tensor& frame) override { values.push_back(frame[0][0][0].item<int>()); }
  void finish() override { finished = true; }
  std::vector<int> values;
  bool finished = false;
};

TEST(LayoutComposer, KeptAndGeneratedFramesInOrder) {
  // Output: input 0 frames 0-2, generated 2-4 (0-1 are the overlap), input 1 frames 1-2.
  std::map<int, torch::Tensor> kept;
  kept[0] = torch::arange(100, 103, torch::kInt32).to(torch::kUInt8).view({3, 1, 1, 1}).expand({3, 1, 1, 3}).contiguous();
  kept[1] = torch::arange(200, 203, torch::kInt32).to(torch::kUInt8).view({3, 1, 1, 1}).expand({3, 1, 1, 3}).contiguous();
  RecordingSink sink;
  LayoutComposer c({{false, 0, 0, 3}, {true, -1, 2, 3}, {false, 1, 1, 2}}, kept, sink);
  auto gen = torch::arange(0, 7, torch::kInt32).to(torch::kUInt8).view({7, 1, 1, 1}).expand({7, 1, 1, 3}).contiguous();
  c.generated(gen.slice(0, 0, 1));  // decoders deliver 1, then 4 at a time
  c.generated(gen.slice(0, 1, 5));
  c.generated(gen.slice(0, 5, 7));
  c.finish();
  EXPECT_EQ(sink.values, (std::vector<int>{100, 101, 102, 2, 3, 4, 201, 202}));
  EXPECT_TRUE(sink.finished);
}

}  // namespace
