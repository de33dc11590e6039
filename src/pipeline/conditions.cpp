// Planning of conditions: sizes, lengths, placements, the latent-frame mapping and the output
// layout. See t2v/pipeline/conditions.h for the rules.
#include "t2v/pipeline/conditions.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "t2v/error.h"

namespace t2v::pipeline {
namespace fs = std::filesystem;

Fit parse_fit(const std::string& text) {
  if (text == "crop") return Fit::Crop;
  if (text == "pad") return Fit::Pad;
  if (text == "stretch") return Fit::Stretch;
  throw UsageError("fit \"" + text + "\": expected crop, pad or stretch");
}

const char* fit_name(Fit fit) { return fit == Fit::Crop ? "crop" : fit == Fit::Pad ? "pad" : "stretch"; }

ConditionRequest parse_condition(const std::string& text, const std::string& field) {
  const auto at = text.rfind('@');
  const std::string expected = field + " \"" + text + "\": expected FILE@FRAME or FILE@FRAME:STRENGTH (e.g. end.png@-1:0.8)";
  if (at == std::string::npos || at == 0 || at + 1 == text.size()) throw UsageError(expected);
  ConditionRequest c;
  c.path = text.substr(0, at);
  c.field = field;
  const std::string rest = text.substr(at + 1);
  const auto colon = rest.find(':');
  try {
    size_t used = 0;
    const std::string frame = rest.substr(0, colon);
    const long f = std::stol(frame, &used);
    if (used != frame.size() || f < -(1L << 30) || f > (1L << 30)) throw std::invalid_argument(frame);
    c.frame = static_cast<int>(f);
    if (colon != std::string::npos) {
      const std::string s = rest.substr(colon + 1);
      c.strength = std::stod(s, &used);
      if (used != s.size()) throw std::invalid_argument(s);
    }
  } catch (const std::exception&) {
    throw UsageError(expected);
  }
  if (!(c.strength >= 0.0 && c.strength <= 1.0)) {
    throw UsageError(field + " \"" + text + "\": strength must be in [0, 1]");
  }
  return c;
}

int latent_of_frame(int frame, int s) { return frame <= 0 ? 0 : 1 + (frame - 1) / s; }

std::pair<int, int> frames_of_latent(int latent, int s) {
  if (latent == 0) return {0, 0};
  return {s * (latent - 1) + 1, s * latent};
}

// Reference: W22 wan/utils/utils.py best_output_size (used by wan/textimage2video.py WanTI2V.i2v).
std::pair<int, int> best_output_size(int w, int h, int dw, int dh, double area) {
  const double ratio = static_cast<double>(w) / h;
  const double ow = std::sqrt(area * ratio), oh = area / ow;
  // Python's float // is floor division.
  const int ow1 = static_cast<int>(std::floor(ow / dw) * dw);
  const int oh1 = ow1 > 0 ? static_cast<int>(std::floor(area / ow1 / dh) * dh) : 0;
  const int oh2 = static_cast<int>(std::floor(oh / dh) * dh);
  const int ow2 = oh2 > 0 ? static_cast<int>(std::floor(area / oh2 / dw) * dw) : 0;
  if (ow1 < dw || oh1 < dh || ow2 < dw || oh2 < dh) {
    throw UsageError("max_area " + std::to_string(static_cast<int64_t>(area)) + " is too small for a " + std::to_string(w) +
                     "x" + std::to_string(h) + " image at multiples of " + std::to_string(dw) + "x" + std::to_string(dh));
  }
  const double r1 = static_cast<double>(ow1) / oh1, r2 = static_cast<double>(ow2) / oh2;
  if (std::max(ratio / r1, r1 / ratio) < std::max(ratio / r2, r2 / ratio)) return {ow1, oh1};
  return {ow2, oh2};
}

bool ConditionPlan::has_known() const {
  return std::any_of(latent_weight.begin(), latent_weight.end(), [](double w) { return w > 0; });
}

namespace {

std::string frame_range(int first, int count) {
  return count == 1 ? "frame " + std::to_string(first)
                    : "frames " + std::to_string(first) + "-" + std::to_string(first + count - 1);
}

std::string number(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", v);
  return b;
}

std::string frames_word(int n) { return std::to_string(n) + (n == 1 ? " frame" : " frames"); }

std::string describe(const MediaInput& m) { return m.field + " " + m.path.filename().string(); }

// Wan I2V: lat = floor(sqrt(x) / stride / patch) * patch, size = lat * stride, with x = area * h/w for
// the height and area / (h/w) for the width, in the official float order (W21/W22 image2video.py:
// np.sqrt(max_area * aspect_ratio) // 8 // 2 * 2; divisions by powers of two are exact, so this is
// the official floor exactly, also where the product rounds just below a square).
int side_for_area(double sqrt_of, int multiple) {
  return std::max(multiple, static_cast<int>(std::floor(std::sqrt(sqrt_of) / multiple)) * multiple);
}

// Smallest 4k+1 (stride s) at or above n.
int up_to_valid(int n, int s) { return 1 + s * std::max(0, (n - 1 + s - 1) / s); }

}  // namespace

PlannedGeneration plan_generation(const ConditionsRequest& req, GridRequest g, const GridLimits& lim) {
  PlannedGeneration out;
  auto& plan = out.plan;
  const int s = lim.temporal_stride;
  const bool mask = lim.known_frames == GridLimits::KnownFrames::kMaskChannels;
  const char* needs_image =
      "conditions: this is an image-to-video model (its DiT takes the known frames as mask channels); give an "
      "image or another known frame (image, last_image, cond, extend or join)";
  // Combinations first: they need no file.
  if (!req.extend.empty() && !req.join.empty()) throw UsageError("extend cannot be combined with join");
  if (!req.join.empty() && req.join.size() != 2) throw UsageError("join takes exactly two clips (A and B)");
  if (req.backward && req.extend.empty()) throw UsageError("backward applies to extend only");
  if (req.overlap && req.extend.empty() && req.join.empty()) throw UsageError("overlap applies to extend and join only");
  if (req.overlap && *req.overlap < 1) throw UsageError("overlap must be at least 1 frame");
  if (req.strength && req.init_video.empty()) {
    throw UsageError("strength applies to init_video (a condition's own strength is FILE@FRAME:STRENGTH)");
  }
  if (req.strength && !(*req.strength >= 0.0 && *req.strength <= 1.0)) {
    throw UsageError("strength " + number(*req.strength) + ": must be in [0, 1]");
  }
  for (const auto& c : req.conditions) {
    if (!(c.strength >= 0.0 && c.strength <= 1.0)) throw UsageError(c.field + ": strength must be in [0, 1]");
    // The mask channels are binary, as the model was trained (W21/W22 image2video.py).
    if (mask && c.strength != 1.0) {
      throw UsageError(c.field + " " + c.path.string() + ": strength " + number(c.strength) +
                       ": this model marks known frames in binary mask channels; a condition's strength must be 1");
    }
  }
  if (req.max_area && (g.width || g.height || g.resolution || g.aspect)) {
    throw UsageError("max_area cannot be combined with a size, resolution or aspect");
  }
  if (req.max_area && *req.max_area < lim.spatial_multiple * lim.spatial_multiple) {
    throw UsageError("max_area " + std::to_string(*req.max_area) + ": must be at least " +
                     std::to_string(lim.spatial_multiple * lim.spatial_multiple) + " pixels");
  }
  if (req.empty()) {
    if (mask) throw UsageError(needs_image);
    if (req.max_area) throw UsageError("max_area applies when an image or video sets the aspect ratio");
    out.grid = resolve_grid(g, lim);
    plan.latent_weight.assign(out.grid.latent_frames, 0.0);
    plan.layout = {{true, -1, 0, out.grid.frames}};
    plan.output_frames = out.grid.frames;
    return out;
  }

  // 1. Read every input (at the output frame rate).
  std::vector<int> cond_inputs;
  for (const auto& c : req.conditions) {
    cond_inputs.push_back(static_cast<int>(plan.inputs.size()));
    plan.inputs.push_back(load_media(c.path, c.field, g.fps));
  }
  // An image condition given a video takes one of its frames: image the first, last_image the last.
  for (size_t k = 0; k < req.conditions.size(); ++k) {
    auto& m = plan.inputs[cond_inputs[k]];
    const auto& field = req.conditions[k].field;
    if (m.frames.size(0) > 1 && (field == "image" || field == "last_image")) {
      m.frames = field == "image" ? m.frames.slice(0, 0, 1) : m.frames.slice(0, -1).contiguous();
      m.is_image = true;
    }
  }
  auto add = [&](const fs::path& p, const std::string& field) {
    plan.inputs.push_back(load_media(p, field, g.fps));
    return static_cast<int>(plan.inputs.size()) - 1;
  };
  if (!req.init_video.empty()) plan.init_input = add(req.init_video, "init_video");
  const int ext = req.extend.empty() ? -1 : add(req.extend, "extend");
  const int ja = req.join.empty() ? -1 : add(req.join[0], "join");
  const int jb = req.join.empty() ? -1 : add(req.join[1], "join");
  for (const auto& m : plan.inputs) {
    if (!m.is_image && m.frames.size(0) != m.source_frames) {
      plan.notices.push_back(describe(m) + ": " + number(m.source_fps.value()) + " fps resampled to " +
                             number(g.fps.value()) + " fps (" + std::to_string(m.source_frames) + " -> " +
                             std::to_string(m.frames.size(0)) + " frames)");
    }
  }
  auto frames_of = [&](int i) { return static_cast<int>(plan.inputs[i].frames.size(0)); };

  // 2. Size: the first input's aspect ratio at the model's area, unless a size is given.
  if (!g.width && !g.height && !g.resolution && !g.aspect) {
    const auto& first = plan.inputs.front();
    const double ih = static_cast<double>(first.frames.size(1)), iw = static_cast<double>(first.frames.size(2));
    const double area = req.max_area ? static_cast<double>(*req.max_area)
                                     : static_cast<double>(lim.default_width) * lim.default_height;
    if (lim.image_rule == GridLimits::ImageRule::kBestOutputSize) {
      const auto [w, h] = best_output_size(static_cast<int>(iw), static_cast<int>(ih), lim.spatial_multiple,
                                           lim.spatial_multiple, area);
      g.width = w;
      g.height = h;
    } else {
      const double aspect = ih / iw;
      g.height = side_for_area(area * aspect, lim.spatial_multiple);
      g.width = side_for_area(area / aspect, lim.spatial_multiple);
    }
    plan.notices.push_back("size " + std::to_string(*g.width) + "x" + std::to_string(*g.height) + " follows " +
                           describe(first) + " (" + std::to_string(static_cast<int>(iw)) + "x" +
                           std::to_string(static_cast<int>(ih)) + ") at " + std::to_string(static_cast<int64_t>(area)) +
                           " pixels");
  }

  // 3. Length of the generated clip. Extend and join: frames/duration count the new frames; the
  // clip also holds the overlap frames and is made 4k+1 by adding new frames.
  std::optional<int> new_frames;
  if (g.frames && g.duration) throw UsageError("give frames or duration, not both");
  if (g.frames) new_frames = *g.frames;
  if (g.duration) {
    if (!(*g.duration > 0)) throw UsageError("duration must be positive");
    new_frames = std::max(1, static_cast<int>(std::lround(*g.duration * g.fps.value())));
  }
  // Default overlap: 1 + s frames, the two latent frames of a clip's start. At the end of the
  // generated clip (backward, join's B) it puts the source's first frame on the last frame of a
  // latent frame, so the causal decoder settles into the known content on generated frames; a
  // seam exactly on a latent boundary (overlap s) jumped 5x the median frame change on the demo model.
  const int overlap = req.overlap.value_or(s + 1);
  int o_a = 0, o_b = 0;  // overlap frames at the generated clip's start / end
  if (ext >= 0 || ja >= 0) {
    auto check_overlap = [&](int i) {
      if (overlap > frames_of(i)) {
        throw UsageError("overlap " + std::to_string(overlap) + " is longer than " + describe(plan.inputs[i]) + " (" +
                         frames_word(frames_of(i)) + ")");
      }
    };
    if (ext >= 0) {
      check_overlap(ext);
      (req.backward ? o_b : o_a) = overlap;
    } else {
      check_overlap(ja);
      check_overlap(jb);
      o_a = o_b = overlap;
    }
    if (new_frames && *new_frames < 1) throw UsageError("frames must be at least 1");
    // By default the generated clip is the model's own length (the one it is trained at).
    const int asked = new_frames.value_or(std::max(1, lim.default_frames - o_a - o_b));
    const int clip = up_to_valid(o_a + asked + o_b, s);
    if (clip != o_a + asked + o_b) {
      plan.notices.push_back(std::to_string(asked) + " new frames made " + std::to_string(clip - o_a - o_b) +
                             " (overlap + new frames must be 4k+1 for the VAE)");
    }
    g.frames = clip;
    g.duration.reset();
  } else if (plan.init_input >= 0 && !new_frames) {
    const int n = frames_of(plan.init_input);
    const int usable = 1 + s * ((n - 1) / s);
    g.frames = std::min(usable, lim.default_frames);
    if (*g.frames < n) {
      plan.notices.push_back(describe(plan.inputs[plan.init_input]) + ": using its first " + std::to_string(*g.frames) +
                             " of " + std::to_string(n) + " frames");
    }
  }
  out.grid = resolve_grid(g, lim);
  const int G = out.grid.frames, T = out.grid.latent_frames;
  plan.known_frames = lim.known_frames;
  plan.width = out.grid.width;
  plan.height = out.grid.height;
  // The official image-to-video code stretches (no crop); elsewhere cropping keeps the aspect.
  plan.fit = req.fit.value_or(lim.image_rule == GridLimits::ImageRule::kWanI2VFloat ? Fit::Stretch : Fit::Crop);
  plan.resampler = lim.image_rule == GridLimits::ImageRule::kBestOutputSize ? Resampler::LanczosPil
                   : lim.image_rule == GridLimits::ImageRule::kWanI2VFloat ? Resampler::BicubicFloat
                                                                            : Resampler::Bicubic;
  for (auto& m : plan.inputs) m.fitted = fit_frames(m.frames, plan.width, plan.height, plan.fit, plan.resampler);

  // 4. Layout of the output and the sources' placements on the generated clip.
  if (ext >= 0 && !req.backward) {
    const int n = frames_of(ext);
    plan.placements.push_back({ext, n - o_a, o_a, 0, 1.0});
    plan.layout = {{false, ext, 0, n}, {true, -1, o_a, G - o_a}};
  } else if (ext >= 0) {
    plan.placements.push_back({ext, 0, o_b, G - o_b, 1.0});
    plan.layout = {{true, -1, 0, G - o_b}, {false, ext, 0, frames_of(ext)}};
  } else if (ja >= 0) {
    plan.placements.push_back({ja, frames_of(ja) - o_a, o_a, 0, 1.0});
    plan.placements.push_back({jb, 0, o_b, G - o_b, 1.0});
    plan.layout = {{false, ja, 0, frames_of(ja)}, {true, -1, o_a, G - o_a - o_b}, {false, jb, 0, frames_of(jb)}};
  } else {
    plan.layout = {{true, -1, 0, G}};
  }
  plan.output_frames = 0;
  for (const auto& span : plan.layout) plan.output_frames += span.count;
  if (plan.init_input >= 0) {
    plan.strength = req.strength.value_or(0.8);  // diffusers WanVideoToVideoPipeline.__call__'s default
    plan.init_frames = G;
    if (frames_of(plan.init_input) < G) {
      throw UsageError("init_video: " + plan.inputs[plan.init_input].path.string() + " has " +
                       frames_word(frames_of(plan.init_input)) + " at " + number(g.fps.value()) +
                       " fps; the output needs " + std::to_string(G) + " (ask for fewer frames)");
    }
  }

  // Conditions at output frames -> generated-clip frames (they must land on generated frames).
  for (size_t k = 0; k < req.conditions.size(); ++k) {
    const auto& c = req.conditions[k];
    const int i = cond_inputs[k];
    const int n = frames_of(i);
    const long start = c.frame >= 0 ? c.frame : static_cast<long>(plan.output_frames) + c.frame;
    if (start < 0 || start + n > plan.output_frames) {
      throw UsageError(describe(plan.inputs[i]) + " at frame " + std::to_string(c.frame) + " (" + frames_word(n) +
                       ") is outside the output (frames 0-" + std::to_string(plan.output_frames - 1) + ")");
    }
    int pos = 0, gen = -1;
    for (const auto& span : plan.layout) {
      if (span.generated && start >= pos && start + n <= pos + span.count) gen = span.first + static_cast<int>(start - pos);
      pos += span.count;
    }
    if (gen < 0) {
      throw UsageError(describe(plan.inputs[i]) + " at frame " + std::to_string(c.frame) +
                       " overlaps the frames kept from the extended or joined clips");
    }
    plan.placements.push_back({i, 0, n, gen, c.strength});
  }

  // 5. No two placements may share a frame or a latent frame; each latent frame a placement
  // touches is imposed with its strength. A placement that covers only part of a latent frame
  // still imposes it: the frames it misses are encoded as the nearest covered frame (held).
  auto order = plan.placements;
  std::sort(order.begin(), order.end(), [](const Placement& a, const Placement& b) { return a.frame < b.frame; });
  for (size_t k = 1; k < order.size(); ++k) {
    const auto& a = order[k - 1];
    const auto& b = order[k];
    if (b.frame < a.frame + a.count) {
      throw UsageError("conditions overlap: " + describe(plan.inputs[a.input]) + " (" + frame_range(a.frame, a.count) +
                       ") and " + describe(plan.inputs[b.input]) + " (" + frame_range(b.frame, b.count) +
                       " of the generated clip)");
    }
  }
  plan.latent_weight.assign(T, 0.0);
  if (mask) {
    // Known pixel frames are marked frame by frame: conditions may share a latent frame.
    if (plan.placements.empty()) throw UsageError(needs_image);
    if (lim.image_context_images == 2 && plan.placements.size() < 2) {
      throw UsageError("conditions: this is a first-last-frame model (its image context is the first and the last "
                       "frame); give both (image and last_image, or join)");
    }
    plan.frame_weight.assign(G, 0.0);
    for (const auto& p : plan.placements) {
      for (int f = p.frame; f < p.frame + p.count; ++f) {
        plan.frame_weight[f] = 1.0;
        plan.latent_weight[latent_of_frame(f, s)] = 1.0;
      }
    }
    return out;
  }
  std::vector<int> owner(T, -1);
  for (size_t k = 0; k < plan.placements.size(); ++k) {
    const auto& p = plan.placements[k];
    const int j0 = latent_of_frame(p.frame, s), j1 = latent_of_frame(p.frame + p.count - 1, s);
    for (int j = j0; j <= j1; ++j) {
      if (owner[j] >= 0) {
        const auto& q = plan.placements[owner[j]];
        const auto [f0, f1] = frames_of_latent(j, s);
        throw UsageError("conditions overlap: " + describe(plan.inputs[q.input]) + " and " + describe(plan.inputs[p.input]) +
                         " fall in the same latent frame " + std::to_string(j) + " (" + frame_range(f0, f1 - f0 + 1) +
                         "); place them at least " + std::to_string(s) + " frames apart");
      }
      owner[j] = static_cast<int>(k);
      plan.latent_weight[j] = p.strength;
    }
    const int first = frames_of_latent(j0, s).first, last = frames_of_latent(j1, s).second;
    if (first != p.frame || last != p.frame + p.count - 1) {
      plan.notices.push_back(describe(plan.inputs[p.input]) + " covers " + frame_range(p.frame, p.count) +
                             " of the generated clip, off the latent boundaries: latent frames " + std::to_string(j0) +
                             "-" + std::to_string(j1) + " (frames " + std::to_string(first) + "-" +
                             std::to_string(last) + ") are imposed, the frames it misses hold its nearest frame");
    }
  }
  return out;
}

torch::Tensor ConditionPlan::known_video(int s) const {
  int last_latent = -1;
  for (size_t j = 0; j < latent_weight.size(); ++j)
    if (latent_weight[j] > 0) last_latent = static_cast<int>(j);
  if (last_latent < 0) return {};
  const int frames = frames_of_latent(last_latent, s).second + 1;
  // Which input frame each generated frame shows: covered ones their own, the others the nearest.
  std::vector<std::pair<int, int>> src(frames, {-1, -1});
  for (const auto& p : placements) {
    if (p.strength <= 0) continue;
    for (int k = 0; k < p.count && p.frame + k < frames; ++k) src[p.frame + k] = {p.input, p.src_first + k};
  }
  std::vector<std::pair<int, int>> filled = src;
  for (int f = 0; f < frames; ++f) {
    if (src[f].first >= 0) continue;
    for (int d = 1; d < frames + 1; ++d) {
      if (f - d >= 0 && src[f - d].first >= 0) { filled[f] = src[f - d]; break; }
      if (f + d < frames && src[f + d].first >= 0) { filled[f] = src[f + d]; break; }
    }
  }
  std::vector<torch::Tensor> out;
  out.reserve(frames);
  for (const auto& [input, index] : filled) out.push_back(inputs[input].fitted[index]);  // [H, W, 3]
  return torch::stack(out).permute({3, 0, 1, 2}).to(torch::kFloat32).div(127.5).sub(1.0);  // [3, F, H, W]
}

torch::Tensor ConditionPlan::masked_video() const {
  const int frames = static_cast<int>(frame_weight.size());
  if (frames == 0) return {};
  auto video = torch::zeros({3, frames, height, width});  // [3, F, H, W]
  for (const auto& p : placements) {
    // Fitted from the decoded frames in float, as the official code interpolates the [-1, 1] image.
    auto x = fit_frames_float(inputs[p.input].frames.slice(0, p.src_first, p.src_first + p.count), width, height, fit);
    video.slice(1, p.frame, p.frame + p.count).copy_(x.permute({1, 0, 2, 3}));  // [n, 3, H, W] -> [3, n, H, W]
  }
  return video;
}

std::pair<torch::Tensor, int> ConditionPlan::known_frame(bool last) const {
  if (placements.empty()) return {torch::Tensor(), -1};
  const auto end = [](const Placement& p) { return p.frame + p.count; };
  const Placement p = last ? *std::max_element(placements.begin(), placements.end(),
                                               [&](const Placement& a, const Placement& b) { return end(a) < end(b); })
                           : *std::min_element(placements.begin(), placements.end(),
                                               [](const Placement& a, const Placement& b) { return a.frame < b.frame; });
  const int k = last ? p.count - 1 : 0;
  const int index = p.src_first + k;
  return {to_unit_float(inputs[p.input].frames.slice(0, index, index + 1))[0], p.frame + k};  // [3, h, w]
}

torch::Tensor mask_channels(const std::vector<double>& m, int s, int64_t h, int64_t w) {
  const int frames = static_cast<int>(m.size());
  if (frames < 1 || (frames - 1) % s != 0) {
    throw Error("mask: " + std::to_string(frames) + " frames is not " + std::to_string(s) + "k+1");
  }
  std::vector<float> seq(s, static_cast<float>(m[0]));  // frame 0 repeated s times
  for (int f = 1; f < frames; ++f) seq.push_back(static_cast<float>(m[f]));
  const int64_t T = static_cast<int64_t>(seq.size()) / s;
  auto v = torch::tensor(seq).view({T, s}).transpose(0, 1);  // [s, T]
  return v.view({s, T, 1, 1}).expand({s, T, h, w}).contiguous();
}

torch::Tensor ConditionPlan::init_video(int frames) const {
  if (init_input < 0) return {};
  return inputs[init_input].fitted.slice(0, 0, frames).permute({3, 0, 1, 2}).to(torch::kFloat32).div(127.5).sub(1.0);
}

nlohmann::json ConditionPlan::metadata() const {
  auto list = nlohmann::json::array();
  // Output frame of each input's first frame: from the layout for kept clips, else its placement.
  auto entry = [&](int i, long frame, int frames, double strength) {
    const auto& m = inputs[i];
    list.push_back({{"role", m.field}, {"file", m.path.filename().string()}, {"sha256", m.sha256},
                    {"frame", frame}, {"frames", frames}, {"strength", strength}});
  };
  std::vector<bool> done(inputs.size(), false);
  int pos = 0;
  for (const auto& span : layout) {
    if (!span.generated) {
      entry(span.input, pos, span.count, 1.0);
      done[span.input] = true;
    }
    pos += span.count;
  }
  for (const auto& p : placements) {
    if (done[p.input]) continue;
    int out_pos = 0, at = p.frame;
    for (const auto& span : layout) {
      if (span.generated && p.frame >= span.first && p.frame < span.first + span.count) at = out_pos + p.frame - span.first;
      out_pos += span.count;
    }
    entry(p.input, at, p.count, p.strength);
  }
  if (init_input >= 0) entry(init_input, 0, init_frames, strength);
  return list;
}

}  // namespace t2v::pipeline
