// The timing and reporting half of `t2v bench`: one warm-up, N timed runs (CUDA synchronised),
// median/min/max, peak memory, and the kernels used, printed as text or as one JSON object.
#pragma once

#include <torch/types.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace t2v::cli {

struct BenchSetup {
  torch::Device device = torch::kCPU;
  int threads = 0;
  std::string profile;  // chrome://tracing file of the timed runs (LibTorch's profiler), empty = none
};

// Sets the thread counts (configure_threads) and resolves the device spec ("auto", "cpu", "cuda:N").
BenchSetup begin_bench(int threads, const std::string& device, const std::string& profile = "");

struct BenchReport {
  std::string bench;       // "dit" | "vae" | "text" | "generate"
  std::string label;       // what was timed, for people
  nlohmann::json config;   // what was timed, for programs
  std::string dtype;       // compute dtype
  std::string attention;   // attention backend used
  double warmup_s = 0;
  std::vector<double> runs_s;
  nlohmann::json extra = nlohmann::json::object();
};

// Runs `fn` once as a warm-up and `runs` times timed (progress on the log), filling warmup_s and runs_s.
// The GPU peak covers the timed runs and everything allocated before them (the weights).
void time_runs(BenchReport& r, const BenchSetup& setup, int runs, const std::function<void()>& fn);

// The median of a non-empty list (mean of the middle two for an even count, as Python's statistics.median).
double median(std::vector<double> v);

// Prints the report: text on stdout, or with `json_output` one JSON object with median_s, min_s,
// max_s, peak_rss_bytes, peak_gpu_bytes, backend (+ runs_s, warmup_s, config, device, dtype, threads).
void finish_bench(const BenchReport& r, const BenchSetup& setup, bool json_output);

}  // namespace t2v::cli
