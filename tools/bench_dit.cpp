// Benchmark of the Wan DiT forward: the Wan2.1 T2V-1.3B configuration (30 layers, dim 1536, 12
// heads, ffn 8960) with random weights, one forward on a latent of F×H×W (default 1×60×104 =
// 1560 tokens, one 832×480 frame) with a 512-row text context. Prints times and peak RSS.
//
//   bench_dit [--frames 1] [--height 60] [--width 104] [--context 512] [--layers 30]
//             [--threads 0] [--attention auto|exact|chunked|sdpa] [--dtype fp32|bf16] [--device cpu]
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "t2v/error.h"
#include "t2v/models/layers.h"
#include "t2v/models/wan/transformer.h"
#include "t2v/runtime.h"

namespace {
double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}
}  // namespace

int main(int argc, char** argv) {
  try {
    int64_t frames = 1, height = 60, width = 104, context_len = 512, layers = 30;
    int threads = 0;
    std::string attention = "auto", dtype_name = "fp32", device_name = "cpu";
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      if (i + 1 >= argc) throw t2v::UsageError("missing value for " + arg);
      const std::string value = argv[++i];
      if (arg == "--frames") frames = std::stoll(value);
      else if (arg == "--height") height = std::stoll(value);
      else if (arg == "--width") width = std::stoll(value);
      else if (arg == "--context") context_len = std::stoll(value);
      else if (arg == "--layers") layers = std::stoll(value);
      else if (arg == "--threads") threads = std::stoi(value);
      else if (arg == "--attention") attention = value;
      else if (arg == "--dtype") dtype_name = value;
      else if (arg == "--device") device_name = value;
      else throw t2v::UsageError("unknown option " + arg);
    }
    const int used_threads = t2v::configure_threads(threads);
    const torch::Device device = t2v::parse_device(device_name);
    const torch::ScalarType dtype = dtype_name == "bf16" ? torch::kBFloat16 : torch::kFloat;

    t2v::wan::WanTransformerConfig config;  // defaults = Wan2.1 T2V-1.3B
    config.num_heads = 12;
    config.head_dim = 128;
    config.ffn_dim = 8960;
    config.num_layers = layers;
    config.text_len = 512;

    auto start = std::chrono::steady_clock::now();
    t2v::wan::WanTransformer3DModel model(config, dtype, device);
    t2v::nn::randomize_parameters(*model, /*seed=*/0);
    model->set_attention({t2v::wan::parse_attention_backend(attention)});
    const double build_s = seconds_since(start);
    int64_t params = 0;
    for (const auto& p : model->parameters()) params += p.numel();

    torch::manual_seed(0);
    auto x = torch::randn({1, config.in_channels, frames, height, width});
    auto t = torch::tensor({999}, torch::kInt64);
    auto context = torch::randn({1, context_len, config.text_dim});
    const int64_t tokens = frames * (height / 2) * (width / 2);
    const auto backend = t2v::wan::resolve_attention_backend(model->attention_options(), device, 1, config.num_heads,
                                                             tokens, tokens);

    start = std::chrono::steady_clock::now();
    auto text = model->encode_text(context);
    const double text_s = seconds_since(start);
    start = std::chrono::steady_clock::now();
    auto out = model->forward(x, t, text);
    if (device.is_cuda()) torch::cuda::synchronize();
    const double forward_s = seconds_since(start);

    std::printf("bench_dit: Wan2.1 T2V-1.3B config (%lld layers, dim %lld, %lld heads, ffn %lld), %.3fB params, %s "
                "on %s, %d threads\n",
                static_cast<long long>(config.num_layers), static_cast<long long>(config.dim()),
                static_cast<long long>(config.num_heads), static_cast<long long>(config.ffn_dim), params / 1e9,
                dtype_name.c_str(), device.str().c_str(), used_threads);
    std::printf("latent 1x16x%lldx%lldx%lld -> %lld tokens, context %lld rows, self-attention backend %s\n",
                static_cast<long long>(frames), static_cast<long long>(height), static_cast<long long>(width),
                static_cast<long long>(tokens), static_cast<long long>(context_len),
                t2v::wan::attention_backend_name(backend));
    std::printf("build+randomize %.2f s, encode_text %.2f s, forward %.2f s, output mean|x| %.4f, peak RSS %.2f GiB\n",
                build_s, text_s, forward_s, out.abs().mean().item<double>(),
                static_cast<double>(t2v::peak_rss_bytes()) / (1024.0 * 1024.0 * 1024.0));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_dit: %s\n", e.what());
    return t2v::exit_code_for(e);
  }
}
