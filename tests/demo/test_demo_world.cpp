// Demo world: deterministic rendering, the combination split, captions, and that analyse_clip
// recovers the colour and direction of every combination from rendered clips.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "t2v/demo/world.h"
#include "t2v/error.h"

namespace t2v::demo {
namespace {

TEST(DemoWorld, RngIsTheSameEverywhere) {
  // SplitMix64 reference values for seed 0 (from the published algorithm).
  Rng rng(0);
  EXPECT_EQ(rng.next(), 0xE220A8397B1DCDAFull);
  EXPECT_EQ(rng.next(), 0x6E789E6AA1B965F4ull);
  Rng a(42), b(42);
  for (int i = 0; i < 100; ++i) {
    const double u = a.uniform();
    EXPECT_EQ(u, b.uniform());
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
  }
}

TEST(DemoWorld, CombinationsAndHeldOutSplit) {
  const auto all = all_combinations();
  const auto train = train_combinations();
  const auto held = held_out_combinations();
  EXPECT_EQ(all.size(), 6u * 3u * 4u * 5u);
  EXPECT_EQ(held.size(), 30u);  // one (shape, direction) cell per (colour, background) pair
  EXPECT_EQ(train.size() + held.size(), all.size());
  for (const auto& s : all) EXPECT_NE(s.colour, s.background);
  for (const auto& s : train) EXPECT_FALSE(is_held_out(s));
  // Every attribute value and every colour/background pair still occurs in training.
  std::set<int> colours, backgrounds, shapes, directions;
  std::set<std::pair<int, int>> pairs, colour_shape, colour_direction;
  for (const auto& s : train) {
    colours.insert(s.colour);
    backgrounds.insert(s.background);
    shapes.insert(static_cast<int>(s.shape));
    directions.insert(static_cast<int>(s.direction));
    pairs.insert({s.colour, s.background});
    colour_shape.insert({s.colour, static_cast<int>(s.shape)});
    colour_direction.insert({s.colour, static_cast<int>(s.direction)});
  }
  EXPECT_EQ(colours.size(), 6u);
  EXPECT_EQ(backgrounds.size(), 6u);
  EXPECT_EQ(shapes.size(), 3u);
  EXPECT_EQ(directions.size(), 4u);
  EXPECT_EQ(pairs.size(), 30u);
  EXPECT_EQ(colour_shape.size(), 18u);
  EXPECT_EQ(colour_direction.size(), 24u);
  // The held-out set covers every shape and direction (tests composition on all of them).
  std::set<int> held_shapes, held_dirs;
  for (const auto& s : held) held_shapes.insert(static_cast<int>(s.shape)), held_dirs.insert(static_cast<int>(s.direction));
  EXPECT_EQ(held_shapes.size(), 3u);
  EXPECT_EQ(held_dirs.size(), 4u);
}

TEST(DemoWorld, Captions) {
  const ClipSpec spec{colour_index("red"), Shape::kCircle, Direction::kRight, colour_index("blue")};
  EXPECT_EQ(caption(spec), "a red circle moving right on a blue background");
  for (size_t t = 0; t < caption_templates().size(); ++t) {
    const auto c = caption(spec, t);
    for (const char* word : {"red", "circle", "right", "blue"}) EXPECT_NE(c.find(word), std::string::npos) << c;
    EXPECT_EQ(c.find('{'), std::string::npos) << c;
  }
  EXPECT_THROW(caption(spec, caption_templates().size()), InputError);
  EXPECT_THROW(colour_index("purple"), InputError);
  EXPECT_EQ(shape_from_name("triangle"), Shape::kTriangle);
  EXPECT_EQ(direction_from_name("up"), Direction::kUp);
}

TEST(DemoWorld, RenderingIsDeterministic) {
  const WorldOptions options;
  const auto combos = train_combinations();
  for (uint64_t i = 0; i < 5; ++i) {
    const Clip a = sample_clip(combos, 1234, i, options);
    const Clip b = sample_clip(combos, 1234, i, options);
    EXPECT_EQ(a.caption, b.caption);
    EXPECT_TRUE(a.spec == b.spec);
    EXPECT_TRUE(torch::equal(a.video, b.video));
    EXPECT_EQ(a.video.sizes(), (std::vector<int64_t>{3, 17, 64, 64}));
    EXPECT_LE(a.video.max().item<float>(), 1.0f);
    EXPECT_GE(a.video.min().item<float>(), -1.0f);
  }
  EXPECT_FALSE(torch::equal(sample_clip(combos, 1234, 0, options).video, sample_clip(combos, 1234, 1, options).video));
  EXPECT_FALSE(torch::equal(sample_clip(combos, 1234, 0, options).video, sample_clip(combos, 99, 0, options).video));
}

TEST(DemoWorld, ObjectStaysInsideTheFrame) {
  WorldOptions options;
  options.width = 96;
  for (const auto& spec : all_combinations()) {
    Rng rng(7);
    const auto video = render(spec, sample_motion(spec, options, rng), options);
    const auto frames = to_uint8_frames(video);  // [F, H, W, 3]
    const auto& bg = palette()[static_cast<size_t>(spec.background)].rgb;
    auto bg_t = torch::tensor({bg[0], bg[1], bg[2]}, torch::kUInt8);
    // The outermost rows and columns show only background in every frame.
    for (auto border : {frames.select(1, 0), frames.select(1, -1), frames.select(2, 0), frames.select(2, -1)}) {
      ASSERT_TRUE(torch::equal(border, bg_t.expand_as(border))) << spec.describe();
    }
  }
}

// By default the object crosses the frame: its centre starts on the margin its direction leaves
// from and ends on the opposite one; min_travel 0.4 (the demo VAE's clips) keeps the old range.
TEST(DemoWorld, PathsCrossTheFrameUnlessMinTravelIsLower) {
  for (const auto& size : std::vector<std::pair<int64_t, int64_t>>{{64, 64}, {96, 64}}) {
    WorldOptions crossing;
    crossing.width = size.first;
    crossing.height = size.second;
    WorldOptions anywhere = crossing;
    anywhere.min_travel = 0.4;
    uint64_t seed = 0;
    double shortest = 1e9;
    bool some_shorter = false;
    for (const auto& spec : all_combinations()) {
      Rng r1(++seed), r2(seed);
      const auto m = sample_motion(spec, crossing, r1);
      const auto m2 = sample_motion(spec, anywhere, r2);
      const bool horizontal = spec.direction == Direction::kLeft || spec.direction == Direction::kRight;
      const double along = static_cast<double>(horizontal ? crossing.width : crossing.height);
      const double frames = static_cast<double>(crossing.frames - 1);
      const double start = horizontal ? m.x0 : m.y0, speed = horizontal ? m.dx : m.dy;
      const double end = start + speed * frames;
      // Both ends sit on the margins, at the same distance from their edges.
      EXPECT_NEAR(std::min(start, end), along - 1.0 - std::max(start, end), 1e-9) << spec.describe();
      EXPECT_LT(std::min(start, end), 0.3 * along) << spec.describe();
      EXPECT_EQ(m.size, m2.size);  // same draws, same object
      const double travel2 = std::abs((horizontal ? m2.dx : m2.dy) * frames);
      shortest = std::min(shortest, travel2 / along);
      some_shorter = some_shorter || travel2 < std::abs(end - start) - 1.0;
    }
    EXPECT_GE(shortest, 0.4 - 1e-9);
    EXPECT_TRUE(some_shorter);
  }
  WorldOptions bad;
  bad.min_travel = 0.3;
  Rng rng(1);
  EXPECT_THROW(sample_motion(all_combinations()[0], bad, rng), InputError);
}

// Every combination, both edge modes, two sizes: colour and direction are recovered exactly.
TEST(DemoWorld, AnalysisRecoversEveryCombination) {
  int checked = 0;
  for (const bool antialias : {true, false}) {
    for (const auto& size : std::vector<std::pair<int64_t, int64_t>>{{64, 64}, {96, 64}}) {
      WorldOptions options;
      options.antialias = antialias;
      options.width = size.first;
      options.height = size.second;
      uint64_t seed = 0;
      for (const auto& spec : all_combinations()) {
        Rng rng(++seed);
        const auto frames = to_uint8_frames(render(spec, sample_motion(spec, options, rng), options));
        const auto a = analyse_clip(frames, palette()[static_cast<size_t>(spec.background)].rgb);
        ASSERT_EQ(a.colour, palette()[static_cast<size_t>(spec.colour)].name) << spec.describe();
        ASSERT_EQ(a.direction, direction_names()[static_cast<size_t>(spec.direction)]) << spec.describe();
        ASSERT_EQ(a.frames_with_object, options.frames);
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 4 * 360);
}

// A model's output is blurred and noisy; the analysis should not depend on clean edges.
TEST(DemoWorld, AnalysisToleratesNoiseAndBlur) {
  const WorldOptions options;
  const auto combos = all_combinations();
  torch::manual_seed(0);
  for (uint64_t i = 0; i < 60; ++i) {
    const Clip clip = sample_clip(combos, 5, i, options);
    auto v = clip.video.unsqueeze(0);  // [1, 3, F, H, W]
    v = torch::avg_pool3d(v, {1, 3, 3}, {1, 1, 1}, {0, 1, 1}, false, false).squeeze(0);
    v = v + 0.08 * torch::randn_like(v);
    const auto a = analyse_clip(to_uint8_frames(v.clamp(-1, 1)), palette()[static_cast<size_t>(clip.spec.background)].rgb);
    EXPECT_EQ(a.colour, palette()[static_cast<size_t>(clip.spec.colour)].name) << clip.spec.describe();
    EXPECT_EQ(a.direction, direction_names()[static_cast<size_t>(clip.spec.direction)]) << clip.spec.describe();
  }
}

TEST(DemoWorld, AnalysisOfAnEmptyClip) {
  auto frames = torch::full({5, 16, 16, 3}, 30, torch::kUInt8);
  const auto a = analyse_clip(frames, {30, 30, 30});
  EXPECT_EQ(a.colour, "");
  EXPECT_EQ(a.direction, "");
  EXPECT_THROW(analyse_clip(torch::zeros({5, 16, 16}, torch::kUInt8), {0, 0, 0}), InputError);
}

}  // namespace
}  // namespace t2v::demo
