// Benchmark: streaming decode with the real Wan2.1 VAE configuration (base_dim 96, dim_mult
// [1,2,4,4], 2 res blocks; ~127 M params) and random weights. Decodes N latent frames of
// h x w (default 16 x 28 -> 128 x 224 pixels) one latent frame at a time, consuming each chunk of
// frames without keeping it, and prints the time and the peak resident set size. Peak RSS should
// not grow with N: the decoder keeps only its causal cache (2 frames per conv) between chunks.
//
//   bench_vae [latent_frames=3] [latent_h=16] [latent_w=28] [threads=0 (all cores)]
#include <ATen/Context.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "t2v/models/layers.h"
#include "t2v/models/wan/vae.h"
#include "t2v/runtime.h"

namespace {
double mib(uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }
int64_t arg(int argc, char** argv, int i, int64_t fallback) { return argc > i ? std::atoll(argv[i]) : fallback; }
}  // namespace

int main(int argc, char** argv) {
  try {
    const int64_t frames = arg(argc, argv, 1, 3), lh = arg(argc, argv, 2, 16), lw = arg(argc, argv, 3, 28);
    const int threads = t2v::configure_threads(static_cast<int>(arg(argc, argv, 4, 0)));
    // Random weights produce tiny activations in places; denormals would distort the timing.
    at::globalContext().setFlushDenormal(true);
    torch::NoGradGuard no_grad;

    t2v::wan::WanVAEConfig config;  // defaults are the real Wan2.1 VAE
    config.latents_mean = t2v::wan::wan21_latents_mean();
    config.latents_std = t2v::wan::wan21_latents_std();
    auto vae = t2v::wan::make_wan_vae(config, torch::kCPU);
    t2v::nn::randomize_parameters(*vae, /*seed=*/0, /*std=*/0.02);
    int64_t params = 0;
    for (const auto& p : vae->parameters()) params += p.numel();
    const uint64_t rss_model = t2v::peak_rss_bytes();

    auto gen = at::detail::createCPUGenerator(1);
    auto z = at::normal(0.0, 1.0, {config.z_dim, frames, lh, lw}, gen, torch::TensorOptions().dtype(torch::kFloat32));
    int64_t produced = 0;
    double checksum = 0.0;
    std::vector<double> chunk_seconds;
    auto last = std::chrono::steady_clock::now();
    const auto start = last;
    vae->decode_stream(z, [&](const torch::Tensor& f) {
      // A video writer would convert and encode here; we only touch the values.
      produced += f.size(1);
      checksum += f.sum().item<double>();
      const auto now = std::chrono::steady_clock::now();
      chunk_seconds.push_back(std::chrono::duration<double>(now - last).count());
      last = now;
    });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const uint64_t rss_peak = t2v::peak_rss_bytes();

    std::string per_chunk;
    for (double s : chunk_seconds) per_chunk += (per_chunk.empty() ? "" : " ") + std::to_string(s).substr(0, 5);
    std::printf("bench_vae: Wan2.1 VAE (%.1f M params, random), %lld latent frames %lldx%lld -> %lld frames %lldx%lld, "
                "%d threads\n", params / 1e6, static_cast<long long>(frames), static_cast<long long>(lh),
                static_cast<long long>(lw), static_cast<long long>(produced), static_cast<long long>(lh * 8),
                static_cast<long long>(lw * 8), threads);
    std::printf("  decode %.2f s (%.2f s per latent frame after the first); per chunk [s]: %s\n", seconds,
                frames > 1 ? (seconds - chunk_seconds.front()) / static_cast<double>(frames - 1) : seconds,
                per_chunk.c_str());
    std::printf("  peak RSS %.1f MiB (after building the model: %.1f MiB; decode adds %.1f MiB); checksum %.6g\n",
                mib(rss_peak), mib(rss_model), mib(rss_peak - rss_model), checksum);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_vae: %s\n", e.what());
    return 1;
  }
}
