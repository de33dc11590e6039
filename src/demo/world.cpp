// The demo world: renderer, captions, combinations and clip analysis (see t2v/demo/world.h).
#include "t2v/demo/world.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "t2v/error.h"

namespace t2v::demo {

// ------------------------------------------------------------------------------------- Rng

uint64_t Rng::next() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double Rng::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

double Rng::uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

int64_t Rng::below(int64_t n) {
  if (n <= 0) throw InputError("Rng::below: n must be positive");
  return static_cast<int64_t>(next() % static_cast<uint64_t>(n));  // bias < 2^-50 for small n
}

double Rng::normal() {
  const double u1 = 1.0 - uniform();  // (0, 1]
  const double u2 = uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

// ------------------------------------------------------------------------------- attributes

const std::vector<NamedColour>& palette() {
  // Saturated and far apart in RGB so that nearest-colour classification is robust to the blur
  // and colour drift of a small generative model.
  static const std::vector<NamedColour> p = {
      {"red", {220, 30, 30}},    {"green", {30, 170, 40}},   {"blue", {30, 60, 220}},
      {"yellow", {240, 220, 30}}, {"white", {245, 245, 245}}, {"black", {15, 15, 15}}};
  return p;
}

const std::vector<std::string>& shape_names() {
  static const std::vector<std::string> n = {"circle", "square", "triangle"};
  return n;
}

const std::vector<std::string>& direction_names() {
  static const std::vector<std::string> n = {"left", "right", "up", "down"};
  return n;
}

namespace {
int find_name(const std::vector<std::string>& names, const std::string& name, const char* what) {
  auto it = std::find(names.begin(), names.end(), name);
  if (it == names.end()) throw InputError(std::string("demo world: unknown ") + what + " \"" + name + "\"");
  return static_cast<int>(it - names.begin());
}
std::vector<std::string> colour_names() {
  std::vector<std::string> n;
  for (const auto& c : palette()) n.push_back(c.name);
  return n;
}
}  // namespace

int colour_index(const std::string& name) { return find_name(colour_names(), name, "colour"); }
Shape shape_from_name(const std::string& name) { return static_cast<Shape>(find_name(shape_names(), name, "shape")); }
Direction direction_from_name(const std::string& name) {
  return static_cast<Direction>(find_name(direction_names(), name, "direction"));
}

std::string ClipSpec::describe() const {
  return palette().at(colour).name + " " + shape_names().at(static_cast<int>(shape)) + " " +
         direction_names().at(static_cast<int>(direction)) + " on " + palette().at(background).name;
}

std::vector<ClipSpec> all_combinations() {
  std::vector<ClipSpec> out;
  const int colours = static_cast<int>(palette().size());
  for (int c = 0; c < colours; ++c)
    for (int s = 0; s < 3; ++s)
      for (int d = 0; d < 4; ++d)
        for (int b = 0; b < colours; ++b)
          if (b != c) out.push_back({c, static_cast<Shape>(s), static_cast<Direction>(d), b});
  return out;
}

bool is_held_out(const ClipSpec& spec) {
  // Exactly one of the 12 (shape, direction) cells per (colour, background) pair, a different
  // cell for different pairs: every pair, and every single attribute, stays in training.
  const int cell = static_cast<int>(spec.shape) * 4 + static_cast<int>(spec.direction);
  return cell == (spec.colour * 5 + spec.background * 7 + 3) % 12;
}

std::vector<ClipSpec> train_combinations() {
  std::vector<ClipSpec> out;
  for (const auto& s : all_combinations())
    if (!is_held_out(s)) out.push_back(s);
  return out;
}

std::vector<ClipSpec> held_out_combinations() {
  std::vector<ClipSpec> out;
  for (const auto& s : all_combinations())
    if (is_held_out(s)) out.push_back(s);
  return out;
}

// ---------------------------------------------------------------------------------- captions

const std::vector<std::string>& caption_templates() {
  static const std::vector<std::string> t = {
      "a {colour} {shape} moving {direction} on a {background} background",
      "a {colour} {shape} moves {direction} across a {background} background",
      "{colour} {shape} moving {direction}, {background} background",
      "a {colour} {shape} sliding {direction} over a plain {background} background",
      "on a {background} background, a {colour} {shape} moves {direction}",
      "a {background} background with a {colour} {shape} moving {direction}",
  };
  return t;
}

std::string caption(const ClipSpec& spec, size_t template_index) {
  const auto& templates = caption_templates();
  if (template_index >= templates.size()) {
    throw InputError("demo world: caption template " + std::to_string(template_index) + " does not exist (" +
                     std::to_string(templates.size()) + " templates)");
  }
  std::string s = templates[template_index];
  auto replace = [&s](const std::string& key, const std::string& value) {
    for (size_t at = s.find(key); at != std::string::npos; at = s.find(key, at + value.size())) {
      s.replace(at, key.size(), value);
    }
  };
  replace("{colour}", palette().at(spec.colour).name);
  replace("{shape}", shape_names().at(static_cast<int>(spec.shape)));
  replace("{direction}", direction_names().at(static_cast<int>(spec.direction)));
  replace("{background}", palette().at(spec.background).name);
  return s;
}

// ---------------------------------------------------------------------------------- rendering

namespace {
// Half side relative to `size`, chosen for areas close to the circle's π·size² = 3.14 size².
constexpr double kSquareHalfSide = 0.9;    // area 3.24 size²
constexpr double kTriangleHalfSide = 1.3;  // equilateral: area √3·1.3² = 2.93 size²

// Extent of the shape from its centre along x and y, relative to `size` (keeps the whole object
// inside the frame). The triangle points up: its apex is 2/√3 of the half side above the centre.
double extent(Shape shape, bool along_x) {
  switch (shape) {
    case Shape::kCircle: return 1.0;
    case Shape::kSquare: return kSquareHalfSide;
    case Shape::kTriangle: return along_x ? kTriangleHalfSide : kTriangleHalfSide * 2.0 / std::sqrt(3.0);
  }
  return 1.0;
}

// Signed distance (pixels, negative inside) from point (px, py) relative to the shape's centre;
// y grows downwards, triangles point up.
double signed_distance(Shape shape, double size, double px, double py) {
  switch (shape) {
    case Shape::kCircle: return std::hypot(px, py) - size;
    case Shape::kSquare: {
      const double h = kSquareHalfSide * size;
      const double qx = std::abs(px) - h, qy = std::abs(py) - h;
      return std::hypot(std::max(qx, 0.0), std::max(qy, 0.0)) + std::min(std::max(qx, qy), 0.0);
    }
    case Shape::kTriangle: {
      // Inigo Quilez's exact equilateral-triangle SDF (y up, centroid at the origin).
      const double r = kTriangleHalfSide * size, k = std::sqrt(3.0);
      double x = std::abs(px) - r, y = -py + r / k;
      if (x + k * y > 0.0) {
        const double nx = (x - k * y) / 2.0, ny = (-k * x - y) / 2.0;
        x = nx;
        y = ny;
      }
      x -= std::clamp(x, -2.0 * r, 0.0);
      return -std::hypot(x, y) * (y < 0 ? -1.0 : 1.0);
    }
  }
  return 1.0;
}
}  // namespace

Motion sample_motion(const ClipSpec& spec, const WorldOptions& options, Rng& rng) {
  const double w = static_cast<double>(options.width), h = static_cast<double>(options.height);
  const double min_side = std::min(w, h);
  Motion m;
  m.size = rng.uniform(0.12, 0.17) * min_side;  // radius 7.7..10.9 px at 64x64
  const bool horizontal = spec.direction == Direction::kLeft || spec.direction == Direction::kRight;
  const double along = horizontal ? w : h, across = horizontal ? h : w;
  const double margin = extent(spec.shape, horizontal) * m.size + 1.0;
  const double cross_margin = extent(spec.shape, !horizontal) * m.size + 1.0;
  const double lo = margin, hi = along - 1.0 - margin;  // centre range along the motion axis
  if (hi - lo < 0.4 * along) throw InputError("demo world: frame too small for the object sizes");
  if (!(options.min_travel >= 0.4)) throw InputError("demo world: min_travel must be at least 0.4");
  // Travel between min_travel of the frame (at most the whole available range) and the whole
  // range, placed anywhere inside it. The draws are the same whatever min_travel is.
  const double travel = rng.uniform(std::min(options.min_travel * along, hi - lo), hi - lo);
  const double start = rng.uniform(lo, hi - travel);
  const double cross = rng.uniform(cross_margin, across - 1.0 - cross_margin);
  const double steps = static_cast<double>(std::max<int64_t>(1, options.frames - 1));
  const bool forward = spec.direction == Direction::kRight || spec.direction == Direction::kDown;
  const double a0 = forward ? start : start + travel, v = (forward ? travel : -travel) / steps;
  if (horizontal) {
    m.x0 = a0, m.y0 = cross, m.dx = v;
  } else {
    m.x0 = cross, m.y0 = a0, m.dy = v;
  }
  return m;
}

torch::Tensor render(const ClipSpec& spec, const Motion& motion, const WorldOptions& options) {
  if (options.width <= 0 || options.height <= 0 || options.frames <= 0) {
    throw InputError("demo world: width, height and frames must be positive");
  }
  if (spec.colour == spec.background) throw InputError("demo world: object and background colours are equal");
  const int64_t F = options.frames, H = options.height, W = options.width;
  const auto& fg = palette().at(spec.colour).rgb;
  const auto& bg = palette().at(spec.background).rgb;
  auto video = torch::empty({3, F, H, W}, torch::kFloat32);
  float* out = video.data_ptr<float>();
  const int64_t plane = F * H * W;
  for (int64_t f = 0; f < F; ++f) {
    const double cx = motion.x0 + motion.dx * static_cast<double>(f);
    const double cy = motion.y0 + motion.dy * static_cast<double>(f);
    for (int64_t y = 0; y < H; ++y) {
      for (int64_t x = 0; x < W; ++x) {
        const double d = signed_distance(spec.shape, motion.size, static_cast<double>(x) - cx, static_cast<double>(y) - cy);
        // Coverage of a unit pixel by a locally straight edge: 0.5 - d, clamped.
        const double a = options.antialias ? std::clamp(0.5 - d, 0.0, 1.0) : (d <= 0.0 ? 1.0 : 0.0);
        const int64_t i = (f * H + y) * W + x;
        for (int c = 0; c < 3; ++c) {
          const double v = a * fg[c] + (1.0 - a) * bg[c];  // 0..255
          out[c * plane + i] = static_cast<float>(v / 127.5 - 1.0);
        }
      }
    }
  }
  return video;  // [3, F, H, W]
}

Clip sample_clip(const std::vector<ClipSpec>& combos, uint64_t seed, uint64_t index, const WorldOptions& options) {
  if (combos.empty()) throw InputError("demo world: no combinations to sample from");
  // One independent stream per clip: the clip does not depend on how many were drawn before.
  Rng rng(seed ^ (0xD1B54A32D192ED03ull * (index + 1)));
  rng.next();
  Clip clip;
  clip.spec = combos[static_cast<size_t>(rng.below(static_cast<int64_t>(combos.size())))];
  clip.motion = sample_motion(clip.spec, options, rng);
  clip.caption = caption(clip.spec, static_cast<size_t>(rng.below(static_cast<int64_t>(caption_templates().size()))));
  clip.video = render(clip.spec, clip.motion, options);
  return clip;
}

torch::Tensor to_uint8_frames(const torch::Tensor& video) {
  if (video.dim() != 4 || video.size(0) != 3) throw InputError("to_uint8_frames: expected [3, F, H, W]");
  // round((x + 1) * 127.5): exact inverse of render()'s mapping (the pipeline truncates instead;
  // at most one level apart).
  return video.to(torch::kFloat32).add(1.0).mul(127.5).round().clamp(0, 255).to(torch::kUInt8).permute({1, 2, 3, 0}).contiguous();
}

// ----------------------------------------------------------------------------------- analysis

ClipAnalysis analyse_clip(const torch::Tensor& frames_in, const std::array<uint8_t, 3>& background, double threshold) {
  if (frames_in.dim() != 4 || frames_in.size(3) != 3 || frames_in.scalar_type() != torch::kUInt8) {
    throw InputError("analyse_clip: frames must be uint8 [F, H, W, 3]");
  }
  auto frames = frames_in.contiguous();
  const int64_t F = frames.size(0), H = frames.size(1), W = frames.size(2);
  const uint8_t* px = frames.data_ptr<uint8_t>();
  const auto& pal = palette();
  std::vector<int64_t> votes(pal.size(), 0);
  std::vector<double> ts, xs, ys;  // per frame with an object: frame index and centroid
  double fraction_sum = 0;
  const double t2 = threshold * threshold;
  for (int64_t f = 0; f < F; ++f) {
    double sx = 0, sy = 0;
    int64_t n = 0;
    for (int64_t y = 0; y < H; ++y) {
      for (int64_t x = 0; x < W; ++x) {
        const uint8_t* p = px + ((f * H + y) * W + x) * 3;
        double d2 = 0;
        for (int c = 0; c < 3; ++c) d2 += std::pow(static_cast<double>(p[c]) - background[c], 2);
        if (d2 <= t2) continue;
        ++n;
        sx += static_cast<double>(x);
        sy += static_cast<double>(y);
        // Nearest palette colour, skipping the one that is the background.
        size_t best = 0;
        double best_d = 1e300;
        for (size_t k = 0; k < pal.size(); ++k) {
          if (pal[k].rgb == background) continue;
          double e = 0;
          for (int c = 0; c < 3; ++c) e += std::pow(static_cast<double>(p[c]) - pal[k].rgb[c], 2);
          if (e < best_d) best_d = e, best = k;
        }
        ++votes[best];
      }
    }
    fraction_sum += static_cast<double>(n) / static_cast<double>(H * W);
    // Tiny specks are noise, not the object.
    if (n >= std::max<int64_t>(4, H * W / 400)) {
      ts.push_back(static_cast<double>(f));
      xs.push_back(sx / static_cast<double>(n));
      ys.push_back(sy / static_cast<double>(n));
    }
  }
  ClipAnalysis a;
  a.object_fraction = fraction_sum / static_cast<double>(F);
  a.frames_with_object = static_cast<int64_t>(ts.size());
  const auto top = std::max_element(votes.begin(), votes.end());
  if (*top > 0) a.colour = pal[static_cast<size_t>(top - votes.begin())].name;
  if (ts.size() >= 2) {
    // Least-squares slopes of x(t) and y(t).
    const double n = static_cast<double>(ts.size());
    double mt = 0, mx = 0, my = 0;
    for (size_t i = 0; i < ts.size(); ++i) mt += ts[i] / n, mx += xs[i] / n, my += ys[i] / n;
    double stt = 0, stx = 0, sty = 0;
    for (size_t i = 0; i < ts.size(); ++i) {
      stt += (ts[i] - mt) * (ts[i] - mt);
      stx += (ts[i] - mt) * (xs[i] - mx);
      sty += (ts[i] - mt) * (ys[i] - my);
    }
    a.vx = stx / stt;
    a.vy = sty / stt;
    if (std::abs(a.vx) >= std::abs(a.vy)) {
      if (a.vx != 0) a.direction = a.vx > 0 ? "right" : "left";
    } else {
      a.direction = a.vy > 0 ? "down" : "up";
    }
  }
  return a;
}

ClipVerdict judge_clip(const torch::Tensor& frames, const ClipSpec& spec) {
  ClipVerdict v;
  v.analysis = analyse_clip(frames, palette().at(static_cast<size_t>(spec.background)).rgb);
  v.colour = v.analysis.colour == palette().at(static_cast<size_t>(spec.colour)).name;
  v.direction = v.analysis.direction == direction_names().at(static_cast<size_t>(spec.direction));
  return v;
}

}  // namespace t2v::demo
