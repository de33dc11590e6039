// Benchmark: the real umT5-XXL encoder (24 layers, d_model 4096, 64 heads x 64, d_ff 10240,
// vocab 256384) with random bf16 weights, built directly in bf16 (never an fp32 copy of all
// weights), encoding one prompt of --tokens tokens (default 512 = Wan's text_len) on the CPU.
// Math modes: "bf16" (Wan's setting: bf16 weights and activations) and "fp32" (bf16 storage,
// each weight converted to fp32 just before its matmul, so at most one fp32 weight is alive).
// Prints a bf16-vs-fp32 matmul micro-benchmark first, then one timed encode per mode, and peak RSS.
//
//   bench_umt5 [--math bf16|fp32|both] [--layers N] [--tokens N] [--threads N]
// Measured (2 shared cores, AVX-512 without bf16 instructions, LibTorch 1.13 CPU, full XXL, 512
// tokens): bf16 math 195 s, fp32 math over bf16 storage 74 s, peak RSS 11.2 GiB (weights 10.6 GiB).
#include <torch/torch.h>
#include <torch/version.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "t2v/models/layers.h"
#include "t2v/runtime.h"
#include "t2v/text/umt5.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double gib(uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0); }

// One FFN-sized matmul [tokens, 4096] x [4096, 10240]^T in the given dtype; returns GFLOP/s.
double matmul_gflops(torch::Dtype dtype, int64_t tokens) {
  auto x = torch::randn({tokens, 4096}).to(dtype);
  auto w = (torch::randn({10240, 4096}) * 0.02).to(dtype);
  torch::linear(x, w);  // warm-up (oneDNN primitive creation)
  const int reps = 2;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) torch::linear(x, w);
  const double s = seconds_since(t0) / reps;
  return 2.0 * static_cast<double>(tokens) * 4096.0 * 10240.0 / s / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  std::string math = "both";
  int64_t layers = 24, tokens = 512;
  int threads = 0;
  for (int i = 1; i < argc; ++i) {
    auto next = [&](const char* name) -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", name);
        std::exit(2);
      }
      return argv[++i];
    };
    if (!std::strcmp(argv[i], "--math")) math = next("--math");
    else if (!std::strcmp(argv[i], "--layers")) layers = std::stoll(next("--layers"));
    else if (!std::strcmp(argv[i], "--tokens")) tokens = std::stoll(next("--tokens"));
    else if (!std::strcmp(argv[i], "--threads")) threads = std::stoi(next("--threads"));
    else {
      std::fprintf(stderr, "usage: bench_umt5 [--math bf16|fp32|both] [--layers N] [--tokens N] [--threads N]\n");
      return 2;
    }
  }
  if (math != "bf16" && math != "fp32" && math != "both") {
    std::fprintf(stderr, "--math must be bf16, fp32 or both\n");
    return 2;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // line-buffered: progress shows up when redirected
  const int used_threads = t2v::configure_threads(threads);
  torch::NoGradGuard no_grad;
  std::printf("threads %d, torch %s\n", used_threads, TORCH_VERSION);

  std::printf("matmul [%lld,4096]x[4096,10240]: fp32 %.1f GFLOP/s, bf16 %.1f GFLOP/s\n",
              static_cast<long long>(tokens), matmul_gflops(torch::kFloat32, tokens),
              matmul_gflops(torch::kBFloat16, tokens));

  t2v::wan::UMT5Config config;  // defaults = umT5-XXL (W21 t5.py umt5_xxl)
  config.num_layers = layers;
  t2v::text::UMT5Options options;
  options.dtype = torch::kBFloat16;
  auto t0 = std::chrono::steady_clock::now();
  t2v::text::UMT5EncoderModel model(config, options);
  t2v::nn::randomize_parameters(*model, 42);
  uint64_t params = 0;
  for (const auto& p : model->parameters()) params += static_cast<uint64_t>(p.numel());
  std::printf("built umT5 (%lld layers) in bf16: %.2fB params, %.2f GiB, %.1f s; peak RSS %.2f GiB\n",
              static_cast<long long>(layers), static_cast<double>(params) / 1e9, gib(params * 2), seconds_since(t0),
              gib(t2v::peak_rss_bytes()));

  // A full-length prompt: tokens-1 random pieces + </s>, mask all ones.
  auto ids = torch::randint(3, 250000, {1, tokens}, torch::kInt64);
  ids[0][tokens - 1] = 1;
  auto mask = torch::ones({1, tokens}, torch::kInt64);

  for (const std::string mode : {"bf16", "fp32"}) {
    if (math != "both" && math != mode) continue;
    model->set_compute_dtype(mode == "fp32" ? c10::optional<torch::Dtype>(torch::kFloat32) : c10::nullopt);
    t0 = std::chrono::steady_clock::now();
    auto out = model->forward(ids, mask);
    const double s = seconds_since(t0);
    std::printf("encode %lld tokens, math %s: %.2f s (%.2f s/layer), output %s absmax %.3f; peak RSS %.2f GiB\n",
                static_cast<long long>(tokens), mode.c_str(), s, s / static_cast<double>(layers),
                c10::toString(out.scalar_type()), out.abs().max().to(torch::kFloat32).item<float>(),
                gib(t2v::peak_rss_bytes()));
  }
  return 0;
}
