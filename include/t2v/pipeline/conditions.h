// Conditions of a generation: images and clips placed at output frames (image-to-video, last
// frame, the general FILE@FRAME form), an init video (video-to-video), a clip to extend forward or
// backward, and two clips to join. Planning reads and checks every input before any weights load,
// fixes the output size and length from them, places them on the generated clip's frames and maps
// them to latent frames by the rule of Wan's causal VAE (W21 wan/modules/vae.py WanVAE_.encode:
// frame 0 is coded alone, every later latent frame from 4 frames).
//
// Extend and join keep their sources' frames unchanged in the output: the generated clip starts
// (or ends) on the source's overlap frames, which condition it, and the output is the source's
// frames followed (or preceded) by the generated frames after the overlap. That layout is a list of
// spans (OutputSpan) the frame writer follows.
#pragma once

#include <torch/types.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "t2v/io/video_writer.h"
#include "t2v/pipeline/latent_grid.h"

namespace t2v::pipeline {

// How an input is brought to the output size: scale to cover then centre-crop (default), scale to
// fit then pad with black, or stretch.
enum class Fit { Crop, Pad, Stretch };
// Bicubic (antialiased when shrinking), Pillow's LANCZOS bit-exact (io/image_resize.h), or PyTorch
// bicubic on the [-1, 1] floats without antialias or rounding (W21/W22 image2video.py WanI2V).
enum class Resampler { Bicubic, LanczosPil, BicubicFloat };

// W22 wan/utils/utils.py best_output_size: the (width, height), multiples of (dw, dh), nearest to
// the w:h aspect within `area`; the width-first candidate wins only if its aspect error is strictly
// smaller. UsageError when the area holds no such size.
std::pair<int, int> best_output_size(int w, int h, int dw, int dh, double area);
Fit parse_fit(const std::string& text);  // "crop" | "pad" | "stretch"; UsageError naming "fit"
const char* fit_name(Fit fit);

// One image or clip placed at an output frame.
struct ConditionRequest {
  std::filesystem::path path;
  int frame = 0;          // output frame of the input's first frame; negative counts from the end (-1 = last)
  double strength = 1.0;  // [0, 1]: how strongly its latent frames are imposed
  std::string field = "cond";  // the request field it came from ("image", "last_image", "cond"), for messages
};

// "FILE@FRAME" or "FILE@FRAME:STRENGTH" (FILE may itself contain '@'; the last one splits).
// UsageError naming `field` otherwise.
ConditionRequest parse_condition(const std::string& text, const std::string& field = "cond");

struct ConditionsRequest {
  std::vector<ConditionRequest> conditions;  // image (frame 0), last_image (frame -1), cond
  std::filesystem::path init_video;          // video-to-video source; empty = none
  std::optional<double> strength;            // with init_video: 1 = ignore it, small = stay close
  std::filesystem::path extend;              // clip to continue; empty = none
  bool backward = false;                     // extend: generate the frames before the clip
  std::optional<int> overlap;                // extend/join: source frames that condition the new part
  std::vector<std::filesystem::path> join;   // empty or exactly two clips: A, then B
  std::optional<Fit> fit;                    // default: the model's (crop; stretch for Wan I2V DiTs)
  std::optional<int64_t> max_area;           // output area in pixels when no size is given

  bool empty() const {
    return conditions.empty() && init_video.empty() && extend.empty() && join.empty();
  }
};

// A decoded input, resampled to the output frame rate.
struct MediaInput {
  std::filesystem::path path;
  std::string field;            // request field ("image", "extend", ...)
  std::string sha256;           // of the file's bytes
  torch::Tensor frames;         // uint8 [N, H, W, 3] as decoded, at the output fps
  torch::Tensor fitted;         // uint8 [N, H', W', 3] at the output size (set by plan_generation)
  io::Rational source_fps;
  int source_frames = 0;        // before resampling
  bool is_image = false;        // a still (PNG, JPEG, WebP, or a one-frame video)
};

// Reads an image or a video (libavformat), hashes it and resamples it to `fps` by nearest frame.
// InputError naming `field` and the file when it cannot be read, is corrupt or holds no frames.
MediaInput load_media(const std::filesystem::path& path, const std::string& field, io::Rational fps,
                      uint64_t max_bytes = uint64_t(16) << 30);

// Frame <-> latent rule of Wan's causal VAE with temporal stride s: frame 0 -> latent 0, frame
// f >= 1 -> latent 1 + (f - 1) / s; latent 0 holds frame 0, latent j >= 1 frames s(j-1)+1 .. sj.
int latent_of_frame(int frame, int temporal_stride);
std::pair<int, int> frames_of_latent(int latent, int temporal_stride);  // [first, last]

// An input's frames [src_first, src_first + count) placed at generated-clip frame `frame`.
struct Placement {
  int input = 0;
  int src_first = 0;
  int count = 0;
  int frame = 0;
  double strength = 1.0;
};

// One piece of the output: frames of the generated clip, or frames copied from an input.
struct OutputSpan {
  bool generated = true;
  int input = -1;   // when !generated
  int first = 0;    // first frame (of the generated clip or of the input's fitted frames)
  int count = 0;
};

struct ConditionPlan {
  std::vector<MediaInput> inputs;
  std::vector<Placement> placements;  // on the generated clip
  int init_input = -1;                // index into inputs, or -1
  int init_frames = 0;                // frames of the init video used (the generated clip's length)
  double strength = 1.0;
  // Per latent frame of the generated clip, the weight its known latent is imposed with (0 = free);
  // for mask-channel models 1 where any of its frames is known.
  std::vector<double> latent_weight;
  // Mask-channel models: per frame of the generated clip, 1 = known, 0 = free.
  std::vector<double> frame_weight;
  GridLimits::KnownFrames known_frames = GridLimits::KnownFrames::kRenoised;
  int width = 0, height = 0;          // the output size the inputs are fitted to
  Fit fit = Fit::Crop;
  Resampler resampler = Resampler::Bicubic;
  std::vector<OutputSpan> layout;     // the output, in order
  int output_frames = 0;
  std::vector<std::string> notices;   // off-boundary placements, resampling, rounding (for the log)

  bool has_known() const;
  // The generated clip's pixels the VAE encodes for the known latents: float [3, F', H, W] in
  // [-1, 1], the frames up to the last known latent frame; frames no condition covers hold the
  // nearest covered frame (earlier first). Undefined when nothing is known.
  torch::Tensor known_video(int temporal_stride) const;
  // Mask-channel models: the generated clip's conditioning video, float [3, F, H, W] in [-1, 1]:
  // the known frames fitted in float (no uint8 rounding, as the official code), zeros elsewhere
  // (W22 wan/image2video.py WanI2V.generate: the image, then torch.zeros frames).
  torch::Tensor masked_video() const;
  // The first (or the last) known frame as decoded, float [3, h, w] in [-1, 1] (the official `img`,
  // what CLIP sees), and its frame in the generated clip (masked_video's copy of it is the fitted
  // image); {undefined, -1} if nothing is known.
  std::pair<torch::Tensor, int> known_frame(bool last = false) const;
  // The init video's first `frames` fitted frames, float [3, frames, H, W] in [-1, 1].
  torch::Tensor init_video(int frames) const;
  // The output metadata's "conditions" list: role, file, sha256, frame, frames, strength.
  nlohmann::json metadata() const;
};

// The mask channels of a causal VAE with temporal stride s for per-frame known weights m[F]: frame
// 0 repeated s times, then every frame, grouped s at a time: latent frame 0 = m[0] in every channel,
// latent frame j >= 1 = m[s(j-1)+1 .. sj]. Float [s, T, h, w] (W21/W22 image2video.py: msk[:, 1:] = 0,
// repeat_interleave of frame 0, view(1, T, 4, lat_h, lat_w).transpose(1, 2)).
torch::Tensor mask_channels(const std::vector<double>& frame_weight, int temporal_stride, int64_t h, int64_t w);

struct PlannedGeneration {
  LatentGrid grid;      // of the generated clip
  ConditionPlan plan;
};

// Reads every input, fixes the generated clip's size and length, places the conditions and maps
// them to latent frames. With no size in `grid_request`, the output follows the first input's
// aspect ratio at `max_area` (default: the model's default area) by the model's image rule
// (limits.image_rule): the Wan I2V rule (W21 wan/image2video.py WanI2V.generate:
// h = floor(sqrt(area * H/W) / 16) * 16, likewise w, bicubic fitting) or best_output_size with
// Pillow LANCZOS fitting (W22 WanTI2V.i2v).
// Extend and join: `grid_request.frames`/`duration` count the new frames (default: as many as
// make the generated clip, overlaps included, the model's default length). Errors name the request
// field: "image", "last_image", "cond", "init_video", "strength", "extend", "overlap", "join".
PlannedGeneration plan_generation(const ConditionsRequest& request, GridRequest grid_request, const GridLimits& limits);

// Brings uint8 frames [N, h, w, 3] to [N, height, width, 3] by `fit` (bicubic, antialiased when
// shrinking, or Pillow LANCZOS, or BicubicFloat rounded; identity when the size already matches).
torch::Tensor fit_frames(const torch::Tensor& frames, int width, int height, Fit fit,
                         Resampler resampler = Resampler::Bicubic);
// uint8 frames [N, h, w, 3] -> float [N, 3, h, w] in [-1, 1], as TF.to_tensor(img).sub_(0.5).div_(0.5).
torch::Tensor to_unit_float(const torch::Tensor& frames);
// uint8 frames [N, h, w, 3] -> float [N, 3, height, width] in [-1, 1] by `fit` with BicubicFloat:
// x / 255 * 2 - 1 as TF.to_tensor(img).sub_(0.5).div_(0.5), then F.interpolate(mode='bicubic',
// align_corners=False), not clamped; pad bars are black (-1).
torch::Tensor fit_frames_float(const torch::Tensor& frames, int width, int height, Fit fit);

}  // namespace t2v::pipeline
