// `t2v batch FILE`: many prompts, models loaded once. FILE is .txt (one prompt per line; blank
// lines and # comments skipped) or .jsonl (one object per line: "prompt" plus generate options as
// overrides). Outputs are named from a template in --output-dir; a re-run skips entries whose
// output already exists (outputs only appear complete: temp file + rename), and a manifest
// (batch-manifest.jsonl in the output dir) records each entry's status, seed, output and seconds.
#include <spdlog/spdlog.h>

#include <chrono>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "t2v/io/json_file.h"
#include "cli/batch_file.h"
#include "cli/commands.h"
#include "cli/generate_options.h"
#include "cli/progress.h"
#include "t2v/error.h"
#include "t2v/io/atomic_file.h"
#include "t2v/runtime.h"

namespace t2v::cli {
namespace fs = std::filesystem;
using nlohmann::json;

nlohmann::json generation_result_json(const pipeline::GenerationResult& r);

namespace {
struct BatchCommand {
  std::string file;
  ModelOptions model;
  GenerateOptions defaults;
  std::string output_dir = ".";
  std::string name_template = "{index:04}-{slug}-{seed}.mp4";
  bool fail_fast = false;
  bool json_output = false;
};

// Two lines would write one file.
struct NameCollision : UsageError {
  using UsageError::UsageError;
};

using Entry = BatchEntry;

std::vector<Entry> read_entries(const BatchCommand& c) {
  std::ifstream f(c.file);
  if (!f) throw InputError(c.file + ": cannot read the prompt file");
  const bool jsonl = fs::path(c.file).extension() == ".jsonl" || fs::path(c.file).extension() == ".json";
  return parse_batch_lines(f, jsonl, c.defaults);
}

// The base seed of an earlier run of this batch (so a resumed batch names its files the same).
std::optional<uint64_t> previous_base_seed(const fs::path& manifest) {
  std::ifstream f(manifest);
  std::string text;
  std::optional<uint64_t> seed;
  while (std::getline(f, text)) {
    try {
      auto j = json::parse(text);
      if (j.contains("base_seed")) seed = j["base_seed"].get<uint64_t>();
    } catch (const std::exception&) {
    }
  }
  return seed;
}

void run(const BatchCommand& c) {
  if (c.defaults.output) {
    throw UsageError("batch: -o/--output names one file; use --output-dir and --name-template (or \"output\" per line)");
  }
  const fs::path out_dir = c.output_dir;
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (!fs::is_directory(out_dir)) throw InputError("--output-dir " + c.output_dir + ": cannot create the directory");
  const fs::path manifest_path = out_dir / "batch-manifest.jsonl";
  auto entries = read_entries(c);
  if (entries.empty()) throw InputError(c.file + ": no prompts (blank lines and # comments are skipped)");

  uint64_t base_seed = 0;
  if (c.defaults.seed) base_seed = *c.defaults.seed;
  else if (auto prev = previous_base_seed(manifest_path)) base_seed = *prev;
  else base_seed = random_seed();
  spdlog::info("batch {}: {} entries, base seed {}", c.file, entries.size(), base_seed);

  std::ofstream manifest(manifest_path, std::ios::app);
  auto record = [&](const Entry& e, const std::string& status, uint64_t seed, const std::string& output, double secs,
                    const std::string& error) {
    json j = {{"line", e.line}, {"index", e.index}, {"status", status}, {"seed", seed},
              {"output", output}, {"seconds", secs}, {"base_seed", base_seed}};
    if (!error.empty()) j["error"] = error;
    manifest << io::to_json_text(j) << "\n";
    manifest.flush();
  };

  // A batch killed with -9 leaves its in-flight temp file behind; nothing else removes it.
  if (const size_t stale = io::remove_stale_temp_files(out_dir)) {
    spdlog::info("removed {} partial output(s) of an interrupted earlier run from {}", stale, out_dir.string());
  }

  std::unique_ptr<pipeline::Pipeline> pipe;
  std::vector<std::pair<Entry*, pipeline::GenerationSettings>> todo;
  std::map<fs::path, int> line_of_output;  // collisions: two lines naming one file
  int failed = 0, skipped = 0, done = 0;
  auto fail = [&](Entry& e, const std::string& msg) {
    spdlog::error("{}:{}: {}", c.file, e.line, msg);
    record(e, "failed", 0, "", 0, msg);
    ++failed;
    if (c.fail_fast) throw UsageError(c.file + ":" + std::to_string(e.line) + ": " + msg);
  };
  for (auto& e : entries) {
    if (!e.error.empty()) {
      fail(e, e.error);
      continue;
    }
    if (!e.options.seed) e.options.seed = base_seed + static_cast<uint64_t>(e.index);
    try {
      if (!pipe) pipe = make_pipeline(c.model);
      std::string name = e.options.output ? *e.options.output : expand_name_template(c.name_template, e, *e.options.seed);
      fs::path out = fs::path(name).is_absolute() ? fs::path(name) : out_dir / name;
      auto s = resolve_settings(e.options, *pipe, out.string());
      const auto [it, fresh] = line_of_output.emplace(fs::absolute(s.output).lexically_normal(), e.line);
      if (!fresh) {
        throw NameCollision(c.file + ": lines " + std::to_string(it->second) + " and " + std::to_string(e.line) +
                         " both write " + s.output.string() +
                         (e.options.output ? std::string(" (their \"output\" keys)")
                                           : " (--name-template " + c.name_template + "; add {index} or {line})"));
      }
      if (fs::exists(s.output)) {
        spdlog::info("{}:{}: {} exists, skipped", c.file, e.line, s.output.string());
        record(e, "skipped", s.seed, s.output.string(), 0, "");
        ++skipped;
        continue;
      }
      todo.emplace_back(&e, std::move(s));
    } catch (const NameCollision&) {
      throw;  // the template (or the lines) must change: refuse the whole batch before any work
    } catch (const UsageError& ex) {
      fail(e, ex.what());
    } catch (const InputError& ex) {  // an unreadable image or video of this line
      fail(e, ex.what());
    }
  }

  // Encode every prompt first, then free the text encoder for the rest of the batch.
  if (!todo.empty()) {
    std::vector<std::string> prompts;
    for (auto& [e, s] : todo) {
      prompts.push_back(s.prompt);
      prompts.push_back(s.negative_prompt);
    }
    pipe->prepare_prompts(prompts);
  }
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < todo.size(); ++i) {
    auto& [e, s] = todo[i];
    check_interrupted();
    ProgressReporter progress("[" + std::to_string(i + 1) + "/" + std::to_string(todo.size()) + "]");
    try {
      auto r = pipe->generate(s, progress.callbacks());
      progress.summary(r);
      record(*e, "done", r.seed, r.output.string(), r.total_seconds, "");
      ++done;
    } catch (const Interrupted&) {
      throw;
    } catch (const std::exception& ex) {
      // A t2v error, or one from LibTorch (c10::Error: out of memory, a kernel failure) or the C++ runtime
      // (std::bad_alloc): this line failed, the models are intact, the batch goes on.
      std::string what = printable_utf8(ex.what());
      what = what.substr(0, what.find('\n'));  // LibTorch appends a backtrace
      fail(*e, dynamic_cast<const Error*>(&ex) ? what : "LibTorch/runtime error: " + what);
    }
  }
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "batch: %d done, %d skipped, %d failed in %.1f s\n", done, skipped, failed, total);
  if (c.json_output) {
    std::printf("%s\n", io::to_json_text(json{{"done", done}, {"skipped", skipped}, {"failed", failed},
                                              {"seconds", total}, {"manifest", manifest_path.string()},
                                              {"base_seed", base_seed}})
                           .c_str());
  }
  if (failed) throw UsageError(std::to_string(failed) + " of " + std::to_string(entries.size()) +
                               " entries failed (see the messages above and " + manifest_path.string() + ")");
}
}  // namespace

void register_batch(CLI::App& app, Action* action) {
  auto c = std::make_shared<BatchCommand>();
  auto* cmd = app.add_subcommand("batch", "Generate a video per line of a .txt or .jsonl prompt file (resumable)");
  cmd->add_option("file", c->file, ".txt: one prompt per line; .jsonl: {\"prompt\": ..., overrides}")
      ->required()
      ->check(CLI::ExistingFile);
  add_model_options(cmd, &c->model);
  add_generate_options(cmd, &c->defaults, /*with_prompt=*/false);
  add_condition_options(cmd, &c->defaults);
  cmd->add_option("--output-dir", c->output_dir, "Where the videos and batch-manifest.jsonl go")->capture_default_str();
  cmd->add_option("--name-template", c->name_template, "Output names: {index}, {index:04}, {line}, {slug}, {seed}")
      ->capture_default_str();
  cmd->add_flag("--fail-fast", c->fail_fast, "Stop at the first failing line");
  cmd->add_flag("--json", c->json_output, "Print a JSON summary on stdout");
  cmd->callback([c, action]() { *action = [c]() { run(*c); }; });
}

}  // namespace t2v::cli
