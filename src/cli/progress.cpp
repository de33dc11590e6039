#include "cli/progress.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace t2v::cli {

std::string format_bytes(uint64_t n) {
  char buf[32];
  if (n >= (1ull << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", n / double(1ull << 30));
  else std::snprintf(buf, sizeof buf, "%.0f MiB", n / double(1ull << 20));
  return buf;
}

namespace {
std::string clock_text(double seconds) {
  const int s = static_cast<int>(seconds + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
  return buf;
}
}  // namespace

ProgressReporter::ProgressReporter(std::string label) : label_(std::move(label)) {
  tty_ = ::isatty(2) != 0;
  color_ = tty_ && std::getenv("NO_COLOR") == nullptr;
}

pipeline::ProgressCallbacks ProgressReporter::callbacks() {
  pipeline::ProgressCallbacks cb;
  cb.stage = [this](const std::string& stage) {
    finish_line();
    std::fprintf(stderr, "%s%s...\n", label_.empty() ? "" : (label_ + " ").c_str(),
                 stage == "text" ? "encoding prompts" : stage == "denoise" ? "denoising" : "decoding and writing");
  };
  cb.step = [this](int step, int total, double seconds) { on_step(step, total, seconds); };
  cb.frames = [this](int frames, int total) { on_frames(frames, total); };
  return cb;
}

void ProgressReporter::on_step(int step, int total, double seconds) {
  step_seconds_total_ += seconds;
  const double per_step = step_seconds_total_ / step;
  const double eta = per_step * (total - step);
  const char* rate_unit = per_step < 1.0 ? "it/s" : "s/it";
  const double rate = per_step < 1.0 ? 1.0 / std::max(per_step, 1e-9) : per_step;
  if (tty_) {
    const int width = 30;
    const int filled = width * step / total;
    std::string bar(static_cast<size_t>(filled), '#');
    bar += std::string(static_cast<size_t>(width - filled), '.');
    std::fprintf(stderr, "\r%s[%s]%s %d/%d  %.2f %s  ETA %s  ", color_ ? "\033[36m" : "", bar.c_str(),
                 color_ ? "\033[0m" : "", step, total, rate, rate_unit, clock_text(eta).c_str());
    line_open_ = true;
    if (step == total) finish_line();
  } else {
    std::fprintf(stderr, "step %d/%d  %.2f %s  ETA %s\n", step, total, rate, rate_unit, clock_text(eta).c_str());
  }
  std::fflush(stderr);
}

void ProgressReporter::on_frames(int frames, int total) {
  if (tty_) {
    std::fprintf(stderr, "\rframes %d/%d  ", frames, total);
    line_open_ = true;
    if (frames >= total) finish_line();
  }
}

void ProgressReporter::finish_line() {
  if (line_open_) std::fprintf(stderr, "\n");
  line_open_ = false;
}

void ProgressReporter::summary(const pipeline::GenerationResult& r) const {
  std::fprintf(stderr, "text %.1f s | denoise %.1f s | decode+write %.1f s | total %.1f s | peak RAM %s%s\n",
               r.text_seconds, r.denoise_seconds, r.decode_seconds, r.total_seconds,
               format_bytes(r.peak_rss_bytes).c_str(),
               r.peak_gpu_bytes ? (" | peak GPU " + format_bytes(r.peak_gpu_bytes)).c_str() : "");
}

}  // namespace t2v::cli
