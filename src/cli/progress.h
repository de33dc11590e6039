// Progress on stderr: a redrawn bar on a terminal (step i/N, it/s, ETA), plain lines otherwise;
// NO_COLOR or a non-TTY stderr turns colours off. Ends with a per-stage summary.
#pragma once

#include <chrono>
#include <string>

#include "t2v/pipeline/pipeline.h"

namespace t2v::cli {

class ProgressReporter {
 public:
  explicit ProgressReporter(std::string label = "");
  pipeline::ProgressCallbacks callbacks();
  // "text 1.2 s | denoise 30.4 s | decode+write 3.1 s | total 34.8 s | peak RAM 2.1 GiB"
  void summary(const pipeline::GenerationResult& r) const;

 private:
  void on_step(int step, int total, double seconds);
  void on_frames(int frames, int total);
  void finish_line();
  std::string label_;
  bool tty_ = false;
  bool color_ = false;
  bool line_open_ = false;
  double step_seconds_total_ = 0;
};

std::string format_bytes(uint64_t bytes);

}  // namespace t2v::cli
