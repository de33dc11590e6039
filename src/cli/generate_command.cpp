// `t2v generate`: one prompt -> one video (or image with --frames 1).
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <cstring>
#include <filesystem>

#include "t2v/error.h"

#include "t2v/io/json_file.h"
#include "cli/commands.h"
#include "cli/generate_options.h"
#include "cli/progress.h"

namespace t2v::cli {
namespace fs = std::filesystem;

namespace {
struct GenerateCommand {
  ModelOptions model;
  GenerateOptions gen;
  std::string decode_only;
  bool json_output = false;
};

// The library names request fields ("init_video: ..."); on this command they are flags.
std::string with_flags(std::string msg) {
  static const std::pair<const char*, const char*> kFields[] = {
      {"init_video", "--init-video"}, {"last_image", "--last-image"}, {"max_area", "--max-area"},
      {"save_latents", "--save-latents"}, {"decode_only", "--decode-only"}};
  for (const auto& [field, flag] : kFields) {
    for (size_t at = msg.find(field); at != std::string::npos; at = msg.find(field, at + std::strlen(flag))) {
      msg.replace(at, std::strlen(field), flag);
    }
  }
  static const std::pair<const char*, const char*> kPhrases[] = {
      {"combined with join", "combined with --join"}, {"applies to extend only", "applies to --extend only"},
      {"applies to extend and join only", "applies to --extend and --join only"}};
  for (const auto& [phrase, flagged] : kPhrases) {
    const auto at = msg.find(phrase);
    if (at != std::string::npos) msg.replace(at, std::strlen(phrase), flagged);
  }
  // A leading field name ("extend: ...", "strength 1.5: ...", "overlap 9 is ...").
  for (const char* field : {"image", "extend", "join", "cond", "strength", "overlap", "backward", "fit", "frames", "duration"}) {
    const size_t n = std::strlen(field);
    if (msg.compare(0, n, field) == 0 && msg.size() > n && (msg[n] == ' ' || msg[n] == ':')) return "--" + msg;
  }
  return msg;
}

template <class F>
auto mapping_fields(F&& f) {
  try {
    return f();
  } catch (const UsageError& e) {
    throw UsageError(with_flags(e.what()));
  } catch (const InputError& e) {
    throw InputError(with_flags(e.what()));
  }
}

nlohmann::json result_json(const pipeline::GenerationResult& r) {
  return {{"output", r.output.string()},
          {"seed", r.seed},
          {"settings", r.settings},
          {"seconds", {{"text", r.text_seconds}, {"denoise", r.denoise_seconds}, {"decode", r.decode_seconds},
                       {"total", r.total_seconds}}},
          {"peak_rss_bytes", r.peak_rss_bytes},
          {"peak_gpu_bytes", r.peak_gpu_bytes}};
}

void decode_only(const GenerateCommand& c) {
  if (c.gen.prompt || c.gen.image || c.gen.init_video || c.gen.extend || !c.gen.join.empty() || !c.gen.cond.empty()) {
    throw UsageError("--decode-only decodes a saved latent: it takes no prompt, image or video");
  }
  auto file = mapping_fields([&] { return pipeline::load_latent_file(c.decode_only); });
  fs::path out = c.gen.output ? fs::path(*c.gen.output) : fs::path(c.decode_only).replace_extension(file.frames == 1 ? ".png" : ".mp4");
  if (out.extension() == ".png" && file.frames != 1) throw UsageError("output " + out.string() + ": a .png holds one frame");
  const io::Codec codec = c.gen.codec == "h265" ? io::Codec::H265 : io::Codec::Auto;
  io::check_output_path(out, codec);
  auto pipe = make_pipeline(c.model);
  ProgressReporter progress;
  auto result = mapping_fields([&] { return pipe->decode_latents(file, out, c.gen.crf, codec, progress.callbacks()); });
  spdlog::info("wrote {} ({} frames from {})", result.output.string(), result.frames, c.decode_only);
  if (c.json_output) std::printf("%s\n", io::to_json_text(result_json(result)).c_str());
}

void run(const GenerateCommand& c) {
  if (!c.decode_only.empty()) return decode_only(c);
  auto pipe = make_pipeline(c.model);
  auto settings = mapping_fields([&] { return resolve_settings(c.gen, *pipe, ""); });
  spdlog::info("seed {} | {}x{} | {} frames @ {} fps | {} steps {} | guidance {} | shift {}", settings.seed,
               settings.grid.width, settings.grid.height, settings.conditions.output_frames, settings.fps.value(), settings.steps,
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
  add_condition_options(cmd, &c->gen);
  cmd->add_option("--save-latents", c->gen.save_latents,
                  "Also write the final latent (.safetensors) for a later --decode-only")
      ->group("Output");
  cmd->add_option("--decode-only", c->decode_only,
                  "Decode a latent file saved by --save-latents to -o (default: its name with .mp4)")
      ->check(CLI::ExistingFile)
      ->group("Output");
  cmd->add_flag("--json", c->json_output, "Print one JSON object on stdout: output, seed, settings, seconds, peak memory");
  cmd->callback([c, action]() { *action = [c]() { run(*c); }; });
}

}  // namespace t2v::cli
