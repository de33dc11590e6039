// Streaming video output through FFmpeg's libavformat/libavcodec. Frames arrive one at a time as
// the VAE decoder produces them (uint8 [H, W, 3] RGB), so a whole float video never has to exist.
// Containers/codecs by extension: .mp4 (H.264 libx264, or H.265 with Codec::H265), .mkv (H.264 or
// H.265), .webm (VP9), .png (exactly one frame). yuv420p needs even sizes: odd sizes are padded
// by repeating the last row/column, and a notice says so. Output goes to a temporary file next to
// the target, renamed by finish(); a writer destroyed before finish() leaves nothing behind.
#pragma once

#include <torch/types.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>

namespace t2v::io {

struct Rational {
  int num = 16;
  int den = 1;
  double value() const { return static_cast<double>(num) / den; }
};

// Parses "16", "23.976", "24000/1001"; UsageError on anything else or non-positive values.
Rational parse_fps(const std::string& text);

enum class Codec { Auto, H264, H265, VP9, PNG };

struct VideoWriterOptions {
  std::filesystem::path path;
  int width = 0;   // frame size as given to write()
  int height = 0;
  Rational fps;
  Codec codec = Codec::Auto;  // Auto: by extension (.webm -> VP9, .png -> PNG, else H.264)
  int crf = 18;               // quality for x264/x265/VP9 (lower = better)
  std::string preset = "medium";
  // Container tags. Conventionally "title" (the prompt), "comment" (JSON settings); .png writes
  // them as tEXt chunks.
  std::map<std::string, std::string> metadata;
};

// Checks, before any work is done, that `path` can be written with `codec`: a supported
// extension (UsageError) in an existing, writable directory (InputError).
void check_output_path(const std::filesystem::path& path, Codec codec = Codec::Auto);

class VideoWriter {
 public:
  explicit VideoWriter(const VideoWriterOptions& options);
  ~VideoWriter();
  VideoWriter(const VideoWriter&) = delete;
  VideoWriter& operator=(const VideoWriter&) = delete;

  // frame: uint8 [H, W, 3] RGB on any device (copied to CPU). InputError on a wrong shape.
  void write(const torch::Tensor& frame);
  // Flushes the encoder, writes the trailer and renames the file into place.
  void finish();
  int64_t frames_written() const;
  const std::filesystem::path& path() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Decoded video: condition inputs (images and clips) and tests.
struct DecodedVideo {
  torch::Tensor frames;  // uint8 [N, H, W, 3] RGB
  Rational fps;
  int width = 0;
  int height = 0;
  std::string codec;
  std::map<std::string, std::string> metadata;  // container tags (PNG: tEXt chunks)
  // What the first frame was before conversion to 8-bit RGB (for callers that refuse inputs the
  // conversion would change): its pixel format, bits per component, whether some pixel is not
  // fully opaque, and whether it is a four-component (CMYK / YCCK) JPEG, which FFmpeg decodes with
  // the K channel as alpha.
  std::string pixel_format;
  int bits_per_component = 8;
  bool transparent = false;
  bool cmyk = false;
};
// Decodes every frame; InputError when the file cannot be read, holds no decodable frame, or its
// frames would take more than `max_bytes` (a bound on what a small corrupt or hostile file can make
// the process allocate).
DecodedVideo read_video(const std::filesystem::path& path, uint64_t max_bytes = uint64_t(16) << 30);

}  // namespace t2v::io
