// Output size and length -> the latent grid the DiT samples on (spec §5). Pixel sizes are
// multiples of 16 (VAE stride 8 x patch 2) and frame counts 4k+1 (VAE temporal stride 4);
// requests that do not fit are rounded to the nearest valid value with a notice (returned, the
// caller logs them). Impossible requests throw UsageError stating the valid range.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "t2v/io/video_writer.h"
#include "t2v/models/video_model.h"

namespace t2v::pipeline {

struct GridRequest {
  std::optional<int> width, height;         // --width/--height or --size WxH
  std::optional<std::string> resolution;    // 480p | 720p | 1080p
  std::optional<std::string> aspect;        // 16:9 | 9:16 | 1:1 | 4:3 | 3:4 | 21:9
  std::optional<int> frames;                // --frames N
  std::optional<double> duration;           // --duration SECONDS (with fps)
  io::Rational fps{16, 1};
};

// The model's size rules (strides, default size, RoPE length); the family provides them.
using GridLimits = models::GridLimits;

struct LatentGrid {
  int width = 0, height = 0, frames = 0;  // pixels and video frames
  int latent_frames = 0, latent_height = 0, latent_width = 0;
  std::vector<std::string> notices;  // rounding / warnings, for the log
};

// Parses "832x480" (also "832*480"); UsageError otherwise.
std::pair<int, int> parse_size(const std::string& text);
LatentGrid resolve_grid(const GridRequest& request, const GridLimits& limits);

}  // namespace t2v::pipeline
