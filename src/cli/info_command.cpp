// `t2v info`: what a model folder or set of single files holds - layout, classes, configs, stored
// dtypes, file sizes and parameter counts - as text or as one JSON object on stdout.
#include <nlohmann/json.hpp>
#include <torch/cuda.h>

#include "t2v/io/json_file.h"
#include "cli/commands.h"
#include "t2v/cpu_kernels.h"
#include "cli/generate_options.h"
#include "t2v/models/registry.h"
#include "t2v/runtime.h"

namespace t2v::cli {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {
struct InfoOptions {
  std::string model_dir;
  ModelFiles files;
  bool json_output = false;
  bool system = false;
};

std::string human_count(uint64_t n) {
  char buf[32];
  if (n >= 1000000000ull) std::snprintf(buf, sizeof buf, "%.2fB", n / 1e9);
  else if (n >= 1000000ull) std::snprintf(buf, sizeof buf, "%.2fM", n / 1e6);
  else if (n >= 1000ull) std::snprintf(buf, sizeof buf, "%.1fK", n / 1e3);
  else std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(n));
  return buf;
}

std::string human_bytes(uint64_t n) {
  char buf[32];
  if (n >= (1ull << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", n / double(1ull << 30));
  else if (n >= (1ull << 20)) std::snprintf(buf, sizeof buf, "%.1f MiB", n / double(1ull << 20));
  else std::snprintf(buf, sizeof buf, "%.1f KiB", n / 1024.0);
  return buf;
}

// `t2v info --system`: the CPU, the BLAS and its kernels, LibTorch's ISA and threads, CUDA.
void run_system_info(const InfoOptions& o) {
  configure_threads(0);  // the counts a generate run would use
  json out = cpu_kernel_info();
  out["cuda"] = {{"available", torch::cuda::is_available()}, {"devices", torch::cuda::device_count()}};
  if (o.json_output) {
    std::printf("%s\n", io::to_json_text(out, 2).c_str());
    return;
  }
  const json& b = out["blas"];
  std::printf("cpu:      %s (%s), %s%s, %d logical CPUs\n", out["cpu"]["brand"].get<std::string>().c_str(),
              out["cpu"]["vendor"].get<std::string>().c_str(), out["cpu"]["isa"].get<std::string>().c_str(),
              out["cpu"]["avx512_bf16"].get<bool>() ? " + AVX512-BF16" : "", out["cpu"]["logical_cpus"].get<int>());
  std::printf("blas:     %s", b["library"].get<std::string>().c_str());
  if (b.contains("core")) {
    std::printf(", core %s (%s kernels; %s), %d threads\n          %s", b["core"].get<std::string>().c_str(),
                b["core_isa"].get<std::string>().c_str(), b["core_chosen_by"].get<std::string>().c_str(),
                b.value("threads", 0), b["config"].get<std::string>().c_str());
  }
  std::printf("\n");
  const json& t = out["libtorch"];
  std::printf("libtorch: %s, CPU capability %s, oneDNN %s, OpenMP %s, %d intra-op / %d inter-op threads\n",
              t["version"].get<std::string>().c_str(), t["cpu_capability"].get<std::string>().c_str(),
              t["mkldnn"].get<bool>() ? "yes" : "no", t["openmp"].get<bool>() ? "yes" : "no",
              t["intra_op_threads"].get<int>(), t["inter_op_threads"].get<int>());
  std::printf("cuda:     %s\n", out["cuda"]["available"].get<bool>()
                                     ? (std::to_string(out["cuda"]["devices"].get<int>()) + " device(s)").c_str()
                                     : "not available");
  for (const auto& [k, v] : out["env"].items()) std::printf("env:      %s=%s\n", k.c_str(), v.get<std::string>().c_str());
}

void run_info(const InfoOptions& o) {
  if (o.system) return run_system_info(o);
  const auto model = models::open_model(model_location(o.model_dir, o.files));
  json out = model->describe();
  // What `generate` uses when an option is not given.
  const auto d = model->defaults();
  const auto lim = model->grid_limits();
  out["defaults"] = {{"steps", d.steps},
                     {"guidance", d.guidance},
                     {"shift", d.shift},
                     {"sampler", d.sampler},
                     {"fps", std::to_string(d.fps.num) + "/" + std::to_string(d.fps.den)},
                     {"width", lim.default_width},
                     {"height", lim.default_height},
                     {"frames", lim.default_frames}};
  if (d.guidance_2) out["defaults"]["guidance_2"] = *d.guidance_2;
  const auto unsupported = model->unsupported_reason();
  if (o.json_output) {
    std::printf("%s\n", io::to_json_text(out, 2).c_str());
    return;
  }
  std::printf("model: %s (%s, family %s)\n", out["path"].get<std::string>().c_str(),
              out["source"].get<std::string>().c_str(), out["family"].get<std::string>().c_str());
  std::printf("text length: %lld tokens; tokenizer: %s\n", out["text_len"].get<long long>(),
              out["tokenizer"]["origin"].get<std::string>().c_str());
  if (unsupported) std::printf("NOT SUPPORTED: %s\n", unsupported->c_str());
  std::string modes;
  for (const auto& m : out["modes"]) modes += (modes.empty() ? "" : ", ") + m.get<std::string>();
  if (!modes.empty()) std::printf("modes: %s\n", modes.c_str());
  const json& dj = out["defaults"];
  char low[48] = "";
  if (dj.contains("guidance_2")) std::snprintf(low, sizeof low, " (high noise), %g (low noise)", dj["guidance_2"].get<double>());
  std::printf("defaults: %dx%d, %d frames at %s fps, %d steps, guidance %g%s, shift %g, %s\n", dj["width"].get<int>(),
              dj["height"].get<int>(), dj["frames"].get<int>(), dj["fps"].get<std::string>().c_str(),
              dj["steps"].get<int>(), dj["guidance"].get<double>(), low, dj["shift"].get<double>(),
              dj["sampler"].get<std::string>().c_str());
  if (out.contains("boundary_ratio")) {
    std::printf("experts: transformer (high noise, t >= %g), transformer_2 (low noise, t < %g); boundary_ratio %g\n",
                out["boundary_ratio"].get<double>() * 1000, out["boundary_ratio"].get<double>() * 1000,
                out["boundary_ratio"].get<double>());
  }
  for (const char* role : {"text_encoder", "transformer", "transformer_2", "vae", "image_encoder"}) {
    if (!out.contains(role)) continue;
    const json& c = out[role];
    std::string dtypes;
    for (const auto& d : c["dtypes"]) dtypes += (dtypes.empty() ? "" : ",") + d.get<std::string>();
    std::printf("%-13s %-22s layout=%-9s params=%-8s dtype=%-9s size=%s (%zu file%s)\n", role,
                c["class"].get<std::string>().c_str(), c["layout"].get<std::string>().c_str(),
                human_count(c["parameters"].get<uint64_t>()).c_str(), dtypes.c_str(),
                human_bytes(c["bytes"].get<uint64_t>()).c_str(), c["files"].size(),
                c["files"].size() == 1 ? "" : "s");
    std::printf("              config (%s): %s\n", c["config_origin"].get<std::string>().c_str(),
                io::to_json_text(c["config"]).c_str());
  }
}
}  // namespace

void register_info(CLI::App& app, Action* action) {
  auto opts = std::make_shared<InfoOptions>();
  auto* cmd = app.add_subcommand("info", "Describe a model: diffusers folder or single files");
  cmd->add_option("model_dir", opts->model_dir, "Diffusers model folder (e.g. Wan2.1-T2V-1.3B-Diffusers)")
      ->check(CLI::ExistingDirectory);
  auto* tr = cmd->add_option("--transformer,--high-noise", opts->files.transformer,
                             "DiT single file (.safetensors); of a two-expert model the high-noise expert")
                 ->check(CLI::ExistingFile);
  cmd->add_option("--transformer-2,--low-noise", opts->files.transformer_2,
                  "The low-noise expert's single file of a two-expert model (Wan2.2 A14B)")
      ->check(CLI::ExistingFile);
  auto* te = cmd->add_option("--text-encoder", opts->files.text_encoder, "umT5 single file (.safetensors)")
                 ->check(CLI::ExistingFile);
  auto* vae = cmd->add_option("--vae", opts->files.vae, "VAE single file (.safetensors)")->check(CLI::ExistingFile);
  cmd->add_option("--image-encoder", opts->files.image_encoder, "CLIP vision single file (Wan2.1 I2V / FLF2V)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--tokenizer", opts->files.tokenizer, "spiece.model (default: spiece_model inside the umT5 file)")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--json", opts->json_output, "Print one JSON object on stdout");
  cmd->add_flag("--system", opts->system,
                "Describe this machine instead of a model: CPU, BLAS library and kernel core, LibTorch ISA, threads, CUDA");
  (void)tr; (void)te; (void)vae;
  cmd->callback([opts, action, cmd]() {
    const bool any_file = opts->files.any();
    if (opts->system) {
      if (!opts->model_dir.empty() || any_file) throw CLI::ValidationError("info", "--system takes no model");
    } else if (opts->model_dir.empty() == !any_file) {
      throw CLI::ValidationError("info", "give either MODEL_DIR or --transformer/--text-encoder/--vae");
    }
    *action = [opts]() { run_info(*opts); };
  });
}

}  // namespace t2v::cli
