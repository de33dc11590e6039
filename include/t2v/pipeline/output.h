// Where a generation's result goes. The decoded frames go to a FrameSink (the video writer is
// one) through a LayoutComposer, which interleaves frames kept from extended or joined clips with
// the generated ones; the final latent (with what the composer needs) can be saved as a latent
// file and decoded later to the same video.
#pragma once

#include <torch/types.h>

#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "t2v/io/video_writer.h"
#include "t2v/pipeline/conditions.h"

namespace t2v::pipeline {

class FrameSink {
 public:
  virtual ~FrameSink() = default;
  virtual void write(const torch::Tensor& frame) = 0;  // uint8 [H, W, 3] RGB
  virtual void finish() = 0;                           // complete: the output appears
};

class VideoFileSink final : public FrameSink {
 public:
  explicit VideoFileSink(const io::VideoWriterOptions& options) : writer_(options) {}
  void write(const torch::Tensor& frame) override { writer_.write(frame); }
  void finish() override { writer_.finish(); }

 private:
  io::VideoWriter writer_;
};

// Writes the output in layout order: kept frames straight from `kept` (per input index, uint8
// [N, H, W, 3]), generated frames as they are decoded (in order); generated frames outside the
// layout's generated spans (the overlap with a kept clip) are dropped.
class LayoutComposer {
 public:
  LayoutComposer(std::vector<OutputSpan> layout, std::map<int, torch::Tensor> kept, FrameSink& sink);
  void generated(const torch::Tensor& frames);  // uint8 [n, H, W, 3], the next decoded frames
  void finish();                                // writes what follows the last generated span
  int written() const { return written_; }

 private:
  void flush_kept();
  std::vector<OutputSpan> layout_;
  std::map<int, torch::Tensor> kept_;
  FrameSink& sink_;
  size_t span_ = 0;
  int next_generated_ = 0;
  int written_ = 0;
};

// A saved final latent: everything needed to decode the same video again.
struct LatentFile {
  torch::Tensor latent;                 // fp32 [C, T, h, w], normalised as the DiT samples it
  std::vector<OutputSpan> layout;       // output layout (one generated span for plain runs)
  std::map<int, torch::Tensor> kept;    // uint8 frames of the inputs the layout keeps
  int width = 0, height = 0, frames = 0;  // output size and length
  io::Rational fps;
  std::string title;                    // the prompt
  nlohmann::json settings;              // the video's JSON comment
};

// Atomic (temporary file, renamed when complete). InputError when the directory is missing.
void save_latent_file(const std::filesystem::path& path, const LatentFile& file);
// InputError naming the file when it is not a t2v latent file or is inconsistent.
LatentFile load_latent_file(const std::filesystem::path& path);

}  // namespace t2v::pipeline
