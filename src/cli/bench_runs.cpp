#include "t2v/io/json_file.h"
#include "cli/bench_runs.h"

#include <spdlog/spdlog.h>
#include <torch/cuda.h>

#if __has_include(<torch/csrc/autograd/profiler_legacy.h>)
#include <torch/csrc/autograd/profiler_legacy.h>
#define T2V_HAVE_RECORD_PROFILE 1
#endif

#include <algorithm>
#include <memory>
#include <chrono>
#include <cstdio>

#include "t2v/cpu_kernels.h"
#include "t2v/error.h"
#include "t2v/runtime.h"

namespace t2v::cli {
using nlohmann::json;

BenchSetup begin_bench(int threads, const std::string& device, const std::string& profile) {
  BenchSetup s;
  s.profile = profile;
  s.threads = configure_threads(threads);
  s.device = parse_device(device);
  return s;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void time_runs(BenchReport& r, const BenchSetup& setup, int runs, const std::function<void()>& fn) {
  auto timed = [&] {
    if (setup.device.is_cuda()) torch::cuda::synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    if (setup.device.is_cuda()) torch::cuda::synchronize();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  gpu_peak_bytes(setup.device, /*reset=*/true);
  spdlog::info("bench {}: {}", r.bench, r.label);
  r.warmup_s = timed();
  spdlog::info("warm-up: {:.3f} s", r.warmup_s);
#ifdef T2V_HAVE_RECORD_PROFILE
  // Written when the guard goes out of scope; the profiler adds a little time to each op.
  std::unique_ptr<torch::autograd::profiler::RecordProfile> profile;
  if (!setup.profile.empty()) profile = std::make_unique<torch::autograd::profiler::RecordProfile>(setup.profile);
#else
  if (!setup.profile.empty()) throw UsageError("--profile: this LibTorch build has no legacy profiler");
#endif
  for (int i = 0; i < runs; ++i) {
    check_interrupted();
    r.runs_s.push_back(timed());
    spdlog::info("run {}/{}: {:.3f} s", i + 1, runs, r.runs_s.back());
  }
#ifdef T2V_HAVE_RECORD_PROFILE
  if (profile) {
    profile.reset();
    spdlog::info("wrote the profile of the timed runs to {} (chrome://tracing; scripts/profile_summary.py)", setup.profile);
  }
#endif
}

namespace {
// "cpu: OpenBLAS 0.3.21 core Cooperlake (autodetected), ATen AVX2, 2 threads; attention chunked"
std::string backend_line(const BenchReport& r, const BenchSetup& setup) {
  std::string s = setup.device.str() + ": ";
  if (setup.device.is_cuda()) {
    s += "CUDA LibTorch, cuBLAS/cuDNN";
  } else {
    s += cpu_kernel_summary();
  }
  return s + "; attention " + r.attention;
}

std::string gib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
  return buf;
}
}  // namespace

void finish_bench(const BenchReport& r, const BenchSetup& setup, bool json_output) {
  const double med = median(r.runs_s);
  const double lo = *std::min_element(r.runs_s.begin(), r.runs_s.end());
  const double hi = *std::max_element(r.runs_s.begin(), r.runs_s.end());
  const uint64_t rss = peak_rss_bytes();
  const uint64_t gpu = gpu_peak_bytes(setup.device, /*reset=*/false);
  const std::string backend = backend_line(r, setup);
  if (json_output) {
    json out = {{"bench", r.bench},       {"label", r.label},     {"config", r.config},
                {"median_s", med},        {"min_s", lo},          {"max_s", hi},
                {"runs_s", r.runs_s},     {"warmup_s", r.warmup_s}, {"peak_rss_bytes", rss},
                {"peak_gpu_bytes", gpu},  {"backend", backend},   {"device", setup.device.str()},
                {"dtype", r.dtype},       {"threads", setup.threads}};
    for (const auto& [k, v] : r.extra.items()) out[k] = v;
    std::printf("%s\n", io::to_json_text(out).c_str());
    return;
  }
  std::string runs;
  for (double s : r.runs_s) runs += (runs.empty() ? "" : " ") + std::to_string(s).substr(0, 6);
  std::printf("%s\n", r.label.c_str());
  std::printf("  %s, %s\n", backend.c_str(), r.dtype.c_str());
  std::printf("  median %.3f s (min %.3f, max %.3f; %zu runs: %s; warm-up %.3f s)\n", med, lo, hi, r.runs_s.size(),
              runs.c_str(), r.warmup_s);
  std::printf("  peak RSS %s%s\n", gib(rss).c_str(), gpu ? (", peak GPU " + gib(gpu)).c_str() : "");
}

}  // namespace t2v::cli
