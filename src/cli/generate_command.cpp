// `t2v generate`: one prompt -> one video (or image with --frames 1).
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "t2v/io/json_file.h"
#include "cli/commands.h"
#include "cli/generate_options.h"
#include "cli/progress.h"

namespace t2v::cli {

namespace {
struct GenerateCommand {
  ModelOptions model;
  GenerateOptions gen;
  bool json_output = false;
};

nlohmann::json result_json(const pipeline::GenerationResult& r) {
  return {{"output", r.output.string()},
          {"seed", r.seed},
          {"settings", r.settings},
          {"seconds", {{"text", r.text_seconds}, {"denoise", r.denoise_seconds}, {"decode", r.decode_seconds},
                       {"total", r.total_seconds}}},
          {"peak_rss_bytes", r.peak_rss_bytes},
          {"peak_gpu_bytes", r.peak_gpu_bytes}};
}

void run(const GenerateCommand& c) {
  auto pipe = make_pipeline(c.model);
  auto settings = resolve_settings(c.gen, *pipe, "");
  spdlog::info("seed {} | {}x{} | {} frames @ {} fps | {} steps {} | guidance {} | shift {}", settings.seed,
               settings.grid.width, settings.grid.height, settings.grid.frames, settings.fps.value(), settings.steps,
               settings.sampler, settings.guidance, settings.shift);
  ProgressReporter progress;
  auto result = pipe->generate(settings, progress.callbacks());
  progress.summary(result);
  spdlog::info("wrote {}", result.output.string());
  if (c.json_output) std::printf("%s\n", io::to_json_text(result_json(result)).c_str());
}
}  // namespace

nlohmann::json generation_result_json(const pipeline::GenerationResult& r) { return result_json(r); }

void register_generate(CLI::App& app, Action* action) {
  auto c = std::make_shared<GenerateCommand>();
  auto* cmd = app.add_subcommand("generate", "Generate a video (or an image) from a text prompt");
  add_model_options(cmd, &c->model);
  add_generate_options(cmd, &c->gen, /*with_prompt=*/true);
  cmd->add_flag("--json", c->json_output, "Print one JSON object on stdout: output, seed, settings, seconds, peak memory");
  cmd->callback([c, action]() { *action = [c]() { run(*c); }; });
}

}  // namespace t2v::cli
