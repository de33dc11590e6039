#include "t2v/pipeline/latent_grid.h"

#include <cmath>
#include <map>

#include "t2v/error.h"

namespace t2v::pipeline {
namespace {

// Nearest multiple of m (ties go down), at least m.
int round_to(double v, int m) {
  const int r = static_cast<int>(std::floor(v / m + 0.5 - 1e-9)) * m;
  return std::max(m, r);
}

std::pair<int, int> aspect_ratio(const std::string& aspect) {
  static const std::map<std::string, std::pair<int, int>> kAspects = {
      {"16:9", {16, 9}}, {"9:16", {9, 16}}, {"1:1", {1, 1}}, {"4:3", {4, 3}}, {"3:4", {3, 4}}, {"21:9", {21, 9}}};
  auto it = kAspects.find(aspect);
  if (it == kAspects.end()) throw UsageError("--aspect " + aspect + ": expected 16:9, 9:16, 1:1, 4:3, 3:4 or 21:9");
  return it->second;
}

// Pixel area of each resolution class: the official 16:9 sizes (Wan's SIZE_CONFIGS) and 1080p.
std::pair<int, int> resolution_size(const std::string& res) {
  if (res == "480p") return {832, 480};
  if (res == "720p") return {1280, 720};
  if (res == "1080p") return {1920, 1088};
  throw UsageError("--resolution " + res + ": expected 480p, 720p or 1080p");
}

}  // namespace

std::pair<int, int> parse_size(const std::string& text) {
  const auto sep = text.find_first_of("x*X");
  try {
    if (sep == std::string::npos) throw std::invalid_argument(text);
    size_t a = 0, b = 0;
    const int w = std::stoi(text.substr(0, sep), &a);
    const int h = std::stoi(text.substr(sep + 1), &b);
    if (a != sep || b != text.size() - sep - 1 || w <= 0 || h <= 0) throw std::invalid_argument(text);
    return {w, h};
  } catch (const std::exception&) {
    throw UsageError("--size " + text + ": expected WIDTHxHEIGHT, e.g. 832x480");
  }
}

LatentGrid resolve_grid(const GridRequest& r, const GridLimits& lim) {
  LatentGrid g;
  const int m = lim.spatial_multiple;
  double w = lim.default_width, h = lim.default_height;
  if (r.width || r.height) {
    if (r.resolution) throw UsageError("--resolution cannot be combined with --width/--height/--size");
    if (!r.width || !r.height) throw UsageError("give both --width and --height (or --size WxH)");
    w = *r.width;
    h = *r.height;
    if (r.aspect) g.notices.push_back("--aspect is ignored when the size is given explicitly");
  } else if (r.resolution || r.aspect) {
    auto [bw, bh] = resolution_size(r.resolution.value_or("480p"));
    auto [aw, ah] = aspect_ratio(r.aspect.value_or("16:9"));
    if (aw * 9 == ah * 16) {
      w = bw, h = bh;  // the official sizes for 16:9 / 9:16
    } else if (aw * 16 == ah * 9) {
      w = bh, h = bw;
    } else {  // same pixel area as the 16:9 size, at the requested aspect
      const double area = static_cast<double>(bw) * bh;
      w = std::sqrt(area * aw / ah);
      h = area / w;
    }
  }
  if (w <= 0 || h <= 0) throw UsageError("width and height must be positive");
  g.width = round_to(w, m);
  g.height = round_to(h, m);
  if (std::abs(g.width - w) > 1e-9 || std::abs(g.height - h) > 1e-9) {
    if (r.width) {
      g.notices.push_back("size " + std::to_string(static_cast<int>(w)) + "x" + std::to_string(static_cast<int>(h)) +
                          " rounded to " + std::to_string(g.width) + "x" + std::to_string(g.height) +
                          " (multiples of " + std::to_string(m) + ": VAE stride x patch size)");
    }
  }
  const int max_side = lim.max_tokens_per_axis * m;
  if (g.width > max_side || g.height > max_side) {
    throw UsageError("size " + std::to_string(g.width) + "x" + std::to_string(g.height) + " is too large: each side must be " +
                     std::to_string(m) + ".." + std::to_string(max_side) + " pixels");
  }
  if (static_cast<double>(g.width) * g.height > 1.1 * lim.trained_area) {
    g.notices.push_back("warning: " + std::to_string(g.width) + "x" + std::to_string(g.height) +
                        " is beyond the model's training resolution; expect lower quality");
  }

  // Length: --frames, or --duration x fps; made 4k+1 (nearest).
  const int ts = lim.temporal_stride;
  double frames = lim.default_frames;
  if (r.frames && r.duration) throw UsageError("give --frames or --duration, not both");
  if (r.frames) {
    if (*r.frames < 1) throw UsageError("--frames " + std::to_string(*r.frames) + ": must be at least 1");
    frames = *r.frames;
  } else if (r.duration) {
    if (!(*r.duration > 0)) throw UsageError("--duration must be positive");
    frames = std::round(*r.duration * r.fps.value());
    if (frames < 1) frames = 1;
  }
  const int k = static_cast<int>(std::floor((frames - 1) / ts + 0.5));
  g.frames = 1 + ts * std::max(0, k);
  if (g.frames != static_cast<int>(frames)) {
    g.notices.push_back(std::to_string(static_cast<int>(frames)) + " frames rounded to " + std::to_string(g.frames) +
                        " (the VAE makes 4k+1 frames)");
  }
  g.latent_frames = (g.frames - 1) / ts + 1;
  if (g.latent_frames > lim.max_tokens_per_axis) {
    throw UsageError(std::to_string(g.frames) + " frames is too long: at most " +
                     std::to_string(1 + ts * (lim.max_tokens_per_axis - 1)) + " frames");
  }
  g.latent_height = g.height / lim.vae_stride;
  g.latent_width = g.width / lim.vae_stride;
  return g;
}

}  // namespace t2v::pipeline
