// The demo world (issue 7): procedurally rendered clips of one shape in a named colour moving in
// one direction across a plain background of another named colour, with template captions. The
// demo model is trained on it (tools/train_demo.cpp) and judged on it (analyse_clip): a held-out
// set of attribute combinations is never rendered for training, so generating those prompts
// tests composition rather than memorisation.
//
// Everything here is deterministic across platforms and standard libraries: random numbers come
// from SplitMix64 with our own conversions (std::*_distribution results are implementation-defined).
#pragma once

#include <torch/types.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace t2v::demo {

// SplitMix64: tiny, seedable, identical everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next();
  double uniform();                     // [0, 1), 53 random bits
  double uniform(double lo, double hi);  // [lo, hi)
  int64_t below(int64_t n);              // [0, n), n > 0
  double normal();                       // N(0, 1), Box-Muller

 private:
  uint64_t state_;
};

struct NamedColour {
  std::string name;
  std::array<uint8_t, 3> rgb;
};

enum class Shape { kCircle = 0, kSquare = 1, kTriangle = 2 };
enum class Direction { kLeft = 0, kRight = 1, kUp = 2, kDown = 3 };

// The palette (object and background colours), in a fixed order: red, green, blue, yellow, white,
// black. Indices into it identify colours everywhere below.
const std::vector<NamedColour>& palette();
const std::vector<std::string>& shape_names();      // circle, square, triangle
const std::vector<std::string>& direction_names();  // left, right, up, down
// Index of a colour / shape / direction name; throws InputError for unknown names.
int colour_index(const std::string& name);
Shape shape_from_name(const std::string& name);
Direction direction_from_name(const std::string& name);

// One attribute combination. colour != background always.
struct ClipSpec {
  int colour = 0;      // palette index of the object
  Shape shape = Shape::kCircle;
  Direction direction = Direction::kRight;
  int background = 1;  // palette index of the background
  bool operator==(const ClipSpec& o) const {
    return colour == o.colour && shape == o.shape && direction == o.direction && background == o.background;
  }
  std::string describe() const;  // "red circle right on blue"
};

// Every combination (6 colours x 3 shapes x 4 directions x 5 backgrounds = 360), fixed order.
std::vector<ClipSpec> all_combinations();
// The fixed held-out split: about 10% of the combinations, chosen by a fixed arithmetic rule such
// that every colour, shape, direction and background (and every colour/background pair) still
// occurs in training. Never render these for training.
bool is_held_out(const ClipSpec& spec);
std::vector<ClipSpec> train_combinations();
std::vector<ClipSpec> held_out_combinations();

// Caption templates with {colour}, {shape}, {direction}, {background} placeholders. Template 0 is
// the canonical `a {colour} {shape} moving {direction} on a {background} background`.
const std::vector<std::string>& caption_templates();
std::string caption(const ClipSpec& spec, size_t template_index = 0);

struct WorldOptions {
  int64_t width = 64;
  int64_t height = 64;
  int64_t frames = 17;
  bool antialias = true;  // analytic edge coverage; false = hard edges
  // Shortest path, as a fraction of the frame along the motion axis, capped at the whole range the
  // object's centre can cover. 1 (the default): the object crosses the frame from one margin to
  // the other, so its direction fixes where it starts and ends. The demo VAE was trained with 0.4
  // (paths anywhere in the frame: more varied positions for an autoencoder).
  double min_travel = 1.0;
};

// Where the object is: its size and a straight, constant-speed path that keeps it fully inside
// the frame. Pixel units, origin at the top-left pixel's centre.
struct Motion {
  double size = 10;        // circle radius; squares and triangles are scaled to a similar area
  double x0 = 0, y0 = 0;   // centre in frame 0
  double dx = 0, dy = 0;   // displacement per frame
};

// A random path for `spec` (size, start, speed) that stays inside the frame; travel is at least
// options.min_travel of the frame along the motion axis (never under 40%, so that the direction
// is unambiguous; capped at the available range) and placed anywhere it fits.
Motion sample_motion(const ClipSpec& spec, const WorldOptions& options, Rng& rng);

// Renders a clip: float [3, F, H, W] in [-1, 1] (rgb / 127.5 - 1), CPU.
torch::Tensor render(const ClipSpec& spec, const Motion& motion, const WorldOptions& options);

struct Clip {
  ClipSpec spec;
  Motion motion;
  std::string caption;
  torch::Tensor video;  // [3, F, H, W] in [-1, 1]
};

// The clip number `index` of a seeded stream: a random spec from `combos` (uniform), a random
// path and caption template. Same (seed, index, combos, options) -> same clip.
Clip sample_clip(const std::vector<ClipSpec>& combos, uint64_t seed, uint64_t index, const WorldOptions& options);

// [3, F, H, W] in [-1, 1] -> uint8 [F, H, W, 3] (what a decoded video file gives).
torch::Tensor to_uint8_frames(const torch::Tensor& video);

// What analyse_clip found in a clip.
struct ClipAnalysis {
  std::string colour;     // dominant palette colour of the object pixels ("" if no object found)
  std::string direction;  // left/right/up/down from the centroid's path ("" if undetermined)
  double vx = 0, vy = 0;  // centroid velocity, pixels per frame (least squares)
  double object_fraction = 0;  // mean share of pixels classified as object
  int64_t frames_with_object = 0;
};

// Object pixels are those farther than `threshold` (Euclidean, 0..255 units) from the known
// background colour. colour = majority vote of the nearest palette colour (background excluded)
// over object pixels; direction = sign of the dominant axis of the centroid's least-squares
// velocity over frames that contain an object. frames: uint8 [F, H, W, 3].
ClipAnalysis analyse_clip(const torch::Tensor& frames, const std::array<uint8_t, 3>& background,
                          double threshold = 100.0);

// The semantic test's rule: analyse_clip of frames made for `spec` (its background known), and
// whether the object's colour and direction are the ones `spec` asked for.
struct ClipVerdict {
  ClipAnalysis analysis;
  bool colour = false, direction = false;
};
ClipVerdict judge_clip(const torch::Tensor& frames, const ClipSpec& spec);

}  // namespace t2v::demo
