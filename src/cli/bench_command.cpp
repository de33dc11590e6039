// `t2v bench`: times the model parts at real configurations with random weights (dit, vae, text), or
// a whole generation on a real or the demo model (generate). Each runs one warm-up, then --runs timed
// runs, and reports median/min/max, peak RSS and GPU memory and the kernels used, as text or as one
// JSON object (the keys of ../reference/bench_official.py, so the two can be compared side by side).
#include <torch/cuda.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>

#include "cli/bench_runs.h"
#include "cli/commands.h"
#include "cli/generate_options.h"
#include "t2v/error.h"
#include "t2v/models/layers.h"
#include "t2v/models/wan/transformer.h"
#include "t2v/models/wan/vae.h"
#include "t2v/runtime.h"
#include "t2v/text/umt5.h"

namespace t2v::cli {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const char* dtype_label(torch::ScalarType t) {
  return t == torch::kBFloat16 ? "bf16" : t == torch::kFloat16 ? "fp16" : t == torch::kFloat32 ? "fp32" : "other";
}

struct CommonOptions {
  int runs = 3;
  int threads = 0;
  std::string device = "auto";
  std::string profile;
  bool json_output = false;
};

// `runtime`: --threads and --device (bench generate has them from the model options).
void add_common(CLI::App* cmd, CommonOptions* o, bool runtime = true) {
  cmd->add_option("--runs", o->runs, "Timed runs after the warm-up")->check(CLI::Range(1, 1000))->capture_default_str();
  if (runtime) {
    cmd->add_option("--threads", o->threads, "CPU threads (0 = all cores, or OMP_NUM_THREADS)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--device", o->device, "auto | cpu | cuda | cuda:N")->capture_default_str();
  }
  cmd->add_flag("--json", o->json_output, "Print one JSON object on stdout");
  cmd->add_option("--profile", o->profile,
                  "Write LibTorch's op profile of the timed runs to this chrome://tracing JSON file "
                  "(summary: scripts/profile_summary.py FILE)");
}

// ---- dit ---------------------------------------------------------------------------------------
struct DitOptions {
  CommonOptions common;
  std::string config = "1.3b";
  std::optional<int64_t> layers;
  int64_t frames = 1, height = 60, width = 104, context = 512;
  std::string dtype = "auto", attention = "auto";
};

void run_dit(const DitOptions& o) {
  const BenchSetup setup = begin_bench(o.common.threads, o.common.device, o.common.profile);
  // Wan2.1 T2V configs (W21 wan/configs/wan_t2v_1_3B.py, wan_t2v_14B.py).
  wan::WanTransformerConfig c;
  if (o.config == "14b") {
    c.num_heads = 40, c.ffn_dim = 13824, c.num_layers = 40;
  } else {
    c.num_heads = 12, c.ffn_dim = 8960, c.num_layers = 30;
  }
  c.head_dim = 128;
  if (o.layers) c.num_layers = *o.layers;
  if (o.height % c.patch_size[1] || o.width % c.patch_size[2]) {
    throw UsageError("dit: the latent height and width must be multiples of the patch size 2 (got " +
                     std::to_string(o.height) + "x" + std::to_string(o.width) + ")");
  }
  const torch::ScalarType dtype = parse_dtype(o.dtype, setup.device);
  const int64_t tokens = o.frames * (o.height / 2) * (o.width / 2);

  wan::WanTransformer3DModel model(c, dtype, setup.device);
  nn::randomize_parameters(*model, /*seed=*/0);  // N(0, 0.02), as bench_official.py
  model->set_attention({wan::parse_attention_backend(o.attention)});
  const auto attention = wan::resolve_attention_backend(model->attention_options(), setup.device, 1, c.num_heads,
                                                        tokens, tokens);
  torch::manual_seed(0);
  auto x = torch::randn({1, c.in_channels, o.frames, o.height, o.width}).to(setup.device);
  auto t = torch::tensor({999}, torch::kInt64).to(setup.device);
  auto context = torch::randn({1, o.context, c.text_dim}).to(setup.device);
  torch::NoGradGuard no_grad;
  const auto text = model->encode_text(context);

  BenchReport r;
  r.bench = "dit";
  r.label = "Wan2.1 T2V-" + std::string(o.config == "14b" ? "14B" : "1.3B") + " DiT forward: " +
            std::to_string(c.num_layers) + " layers, dim " + std::to_string(c.dim()) + ", latent 16x" +
            std::to_string(o.frames) + "x" + std::to_string(o.height) + "x" + std::to_string(o.width) + " = " +
            std::to_string(tokens) + " tokens, context " + std::to_string(o.context);
  r.config = {{"config", o.config}, {"layers", c.num_layers}, {"frames", o.frames}, {"height", o.height},
              {"width", o.width}, {"tokens", tokens}, {"context", o.context}};
  r.dtype = dtype_label(dtype);
  r.attention = wan::attention_backend_name(attention);
  time_runs(r, setup, o.common.runs, [&] { (void)model->forward(x, t, text); });
  finish_bench(r, setup, o.common.json_output);
}

// ---- vae ---------------------------------------------------------------------------------------
struct VaeOptions {
  CommonOptions common;
  int64_t latent_frames = 3, height = 16, width = 28;
  int tile = 0, overlap = 64;
  std::string model = "wan2.1";
};

void run_vae(const VaeOptions& o) {
  const BenchSetup setup = begin_bench(o.common.threads, o.common.device, o.common.profile);
  wan::WanVAEConfig c;  // defaults: the real Wan2.1 VAE (W21 wan/modules/vae.py _video_vae)
  c.latents_mean = wan::wan21_latents_mean();
  c.latents_std = wan::wan21_latents_std();
  const bool wan22 = o.model == "wan2.2";
  if (wan22) {  // the real Wan2.2 VAE (W22 wan/modules/vae2_2.py Wan2_2_VAE: dim 160, dec_dim 256, z 48)
    c.base_dim = 160;
    c.decoder_base_dim = 256;
    c.z_dim = 48;
    c.latents_mean.clear();
    c.latents_std.clear();
    c.set_wan22();
  }
  auto vae = wan::make_wan_vae(c, setup.device);
  nn::init_parameters_like_pytorch(*vae, /*seed=*/0);  // as the official WanVAE_ before loading
  auto gen = at::detail::createCPUGenerator(1);
  auto z = at::normal(0.0, 1.0, {c.z_dim, o.latent_frames, o.height, o.width}, gen,
                      torch::TensorOptions().dtype(torch::kFloat32))
               .to(setup.device);
  wan::VAEDecodeOptions decode;
  decode.tile_size = o.tile;
  decode.overlap = o.tile ? o.overlap : 0;
  const int64_t stride = c.scale_factor_spatial;
  if (o.tile && (o.tile % stride || o.overlap % stride || o.overlap >= o.tile)) {
    throw UsageError("vae: the tile and overlap must be multiples of " + std::to_string(stride) + " with overlap < tile");
  }
  torch::NoGradGuard no_grad;

  BenchReport r;
  r.bench = "vae";
  const int64_t frames = 1 + 4 * (o.latent_frames - 1);
  r.label = std::string(wan22 ? "Wan2.2" : "Wan2.1") + " VAE decode: latent " + std::to_string(c.z_dim) + "x" +
            std::to_string(o.latent_frames) + "x" + std::to_string(o.height) + "x" + std::to_string(o.width) + " -> " +
            std::to_string(frames) + " frames " + std::to_string(o.height * stride) + "x" +
            std::to_string(o.width * stride) + (o.tile ? ", tiles of " + std::to_string(o.tile) + " px" : "");
  r.config = {{"model", o.model}, {"latent_frames", o.latent_frames}, {"height", o.height}, {"width", o.width},
              {"frames", frames}, {"tile", o.tile}};
  r.dtype = "fp32";
  r.attention = "exact";  // the decoder's middle attention: one frame's pixels
  time_runs(r, setup, o.common.runs, [&] {
    // Frames are consumed as a video writer would receive them, never all kept.
    vae->decode_stream(z, [](const torch::Tensor& f) { (void)f.sum().item<double>(); }, decode);
  });
  finish_bench(r, setup, o.common.json_output);
}

// ---- text --------------------------------------------------------------------------------------
struct TextOptions {
  CommonOptions common;
  int64_t layers = 24, tokens = 512;
  std::string math = "auto", storage = "bf16";
};

void run_text(const TextOptions& o) {
  const BenchSetup setup = begin_bench(o.common.threads, o.common.device, o.common.profile);
  wan::UMT5Config c;  // defaults: umT5-XXL (W21 wan/modules/t5.py umt5_xxl)
  c.num_layers = o.layers;
  text::UMT5Options options;
  options.device = setup.device;
  options.dtype = o.storage == "fp32" ? torch::kFloat32 : torch::kBFloat16;
  // The pipeline's choice: bf16 math on the GPU (as Wan), fp32 math on the CPU (exact, and faster than
  // bf16 matmul on CPUs without AMX).
  const std::string math = o.math != "auto" ? o.math : setup.device.is_cuda() ? "bf16" : "fp32";
  if (math == "fp32" && options.dtype != torch::kFloat32) options.compute_dtype = torch::kFloat32;
  if (math == "bf16" && options.dtype != torch::kBFloat16) options.compute_dtype = torch::kBFloat16;
  text::UMT5EncoderModel model(c, options);
  nn::randomize_parameters(*model, /*seed=*/42);
  auto ids = torch::randint(3, 250000, {1, o.tokens}, torch::kInt64);  // tokens-1 pieces + </s>
  ids[0][o.tokens - 1] = 1;
  auto mask = torch::ones({1, o.tokens}, torch::kInt64);
  torch::NoGradGuard no_grad;

  BenchReport r;
  r.bench = "text";
  r.label = "umT5-XXL encoder: " + std::to_string(o.layers) + " layers, " + std::to_string(o.tokens) + " tokens, " +
            o.storage + " weights, " + math + " math";
  r.config = {{"layers", o.layers}, {"tokens", o.tokens}, {"storage", o.storage}, {"math", math}};
  r.dtype = math;
  r.attention = "exact";
  time_runs(r, setup, o.common.runs, [&] { (void)model->forward(ids, mask); });
  finish_bench(r, setup, o.common.json_output);
}

// ---- generate ----------------------------------------------------------------------------------
struct GenerateBenchOptions {
  CommonOptions common;
  ModelOptions model;
  GenerateOptions gen;
};

void run_generate(GenerateBenchOptions o) {
  auto pipe = make_pipeline(o.model);
  const BenchSetup setup = begin_bench(o.model.threads, o.model.device, o.common.profile);
  if (!o.gen.prompt) o.gen.prompt = "a red circle moving right on a blue background";
  if (!o.gen.seed) o.gen.seed = 42;
  // Outputs go to a private folder that is removed afterwards, unless -o names a file to keep.
  const fs::path scratch = fs::temp_directory_path() / ("t2v-bench-" + std::to_string(getpid()));
  fs::create_directories(scratch);
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{scratch};
  auto settings = resolve_settings(o.gen, *pipe, (scratch / "bench.mp4").string());

  BenchReport r;
  r.bench = "generate";
  r.label = "t2v generate on " + pipe->model().root().string() + ": " + std::to_string(settings.grid.width) + "x" +
            std::to_string(settings.grid.height) + ", " + std::to_string(settings.grid.frames) + " frames, " +
            std::to_string(settings.steps) + " steps " + settings.sampler +
            " (the warm-up loads the models and encodes the prompts; timed runs reuse both, as t2v batch does)";
  r.config = {{"model", pipe->model().root().string()}, {"width", settings.grid.width},
              {"height", settings.grid.height}, {"frames", settings.grid.frames}, {"steps", settings.steps},
              {"sampler", settings.sampler}};
  r.dtype = dtype_label(*pipe->model().runtime().dtype);
  r.attention = "auto";
  std::vector<json> stages;
  time_runs(r, setup, o.common.runs, [&] {
    const auto res = pipe->generate(settings);
    stages.push_back({{"text_s", res.text_seconds}, {"denoise_s", res.denoise_seconds},
                      {"decode_s", res.decode_seconds}, {"total_s", res.total_seconds}});
  });
  r.extra["stages"] = stages;  // [0] is the warm-up
  finish_bench(r, setup, o.common.json_output);
}

}  // namespace

void register_bench(CLI::App& app, Action* action) {
  auto* cmd = app.add_subcommand("bench", "Benchmark the DiT, the VAE, the text encoder or a whole generation");
  cmd->require_subcommand(1);

  auto dit = std::make_shared<DitOptions>();
  auto* d = cmd->add_subcommand("dit", "Wan2.1 DiT forward at the 1.3B or 14B config, random weights");
  add_common(d, &dit->common);
  d->add_option("--config", dit->config, "1.3b | 14b")->check(CLI::IsMember({"1.3b", "14b"}))->capture_default_str();
  d->add_option("--layers", dit->layers, "Transformer blocks (default: the config's, 30 or 40)")
      ->check(CLI::Range(1, 200));
  d->add_option("--frames", dit->frames, "Latent frames (video frames = 1 + 4(F-1))")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  d->add_option("--height", dit->height, "Latent height (pixels / the VAE stride)")->check(CLI::Range(2, 1024))->capture_default_str();
  d->add_option("--width", dit->width, "Latent width (pixels / the VAE stride)")->check(CLI::Range(2, 1024))->capture_default_str();
  d->add_option("--context", dit->context, "Text context rows")->check(CLI::Range(1, 4096))->capture_default_str();
  d->add_option("--dtype", dit->dtype, "auto (fp32 on CPU, bf16 on CUDA) | fp32 | bf16 | fp16")
      ->check(CLI::IsMember({"auto", "fp32", "bf16", "fp16"}))
      ->capture_default_str();
  d->add_option("--attention", dit->attention, "auto | exact | chunked | sdpa")
      ->check(CLI::IsMember({"auto", "exact", "chunked", "sdpa"}))
      ->capture_default_str();
  d->callback([dit, action] { *action = [dit] { run_dit(*dit); }; });

  auto vae = std::make_shared<VaeOptions>();
  auto* v = cmd->add_subcommand("vae", "Wan VAE streaming decode (2.1 or 2.2), random weights");
  add_common(v, &vae->common);
  v->add_option("--model", vae->model, "wan2.1 (z 16, stride 8) | wan2.2 (z 48, stride 16: TI2V-5B)")
      ->check(CLI::IsMember({"wan2.1", "wan2.2"}))
      ->capture_default_str();
  v->add_option("--latent-frames", vae->latent_frames, "Latent frames")->check(CLI::Range(1, 1000))->capture_default_str();
  v->add_option("--height", vae->height, "Latent height (pixels / the VAE stride)")->check(CLI::Range(1, 1024))->capture_default_str();
  v->add_option("--width", vae->width, "Latent width (pixels / the VAE stride)")->check(CLI::Range(1, 1024))->capture_default_str();
  v->add_option("--tile", vae->tile, "Decode in spatial tiles of this many pixels (0 = whole frames)")
      ->check(CLI::NonNegativeNumber);
  v->add_option("--tile-overlap", vae->overlap, "Tile overlap in pixels")->check(CLI::NonNegativeNumber);
  v->callback([vae, action] { *action = [vae] { run_vae(*vae); }; });

  auto txt = std::make_shared<TextOptions>();
  auto* t = cmd->add_subcommand("text", "umT5-XXL text encoder, random weights");
  add_common(t, &txt->common);
  t->add_option("--layers", txt->layers, "Encoder layers")->check(CLI::Range(1, 200))->capture_default_str();
  t->add_option("--tokens", txt->tokens, "Prompt length in tokens")->check(CLI::Range(1, 4096))->capture_default_str();
  t->add_option("--math", txt->math, "auto (fp32 on CPU, bf16 on CUDA) | fp32 | bf16")
      ->check(CLI::IsMember({"auto", "fp32", "bf16"}))
      ->capture_default_str();
  t->add_option("--storage", txt->storage, "Weight storage: bf16 (as Wan ships umT5) | fp32")
      ->check(CLI::IsMember({"bf16", "fp32"}))
      ->capture_default_str();
  t->callback([txt, action] { *action = [txt] { run_text(*txt); }; });

  auto gen = std::make_shared<GenerateBenchOptions>();
  auto* g = cmd->add_subcommand("generate", "A whole generation (default: the bundled demo model), output discarded");
  add_common(g, &gen->common, /*runtime=*/false);
  add_model_options(g, &gen->model);
  add_generate_options(g, &gen->gen, /*with_prompt=*/true);
  g->get_option("--prompt")->required(false);
  g->callback([gen, action] { *action = [gen] { run_generate(*gen); }; });
}

}  // namespace t2v::cli
