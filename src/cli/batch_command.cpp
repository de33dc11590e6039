// `t2v batch FILE`: many prompts, models loaded once. FILE is .txt (one prompt per line; blank
// lines and # comments skipped) or .jsonl (one object per line: "prompt" plus generate options as
// overrides). Outputs are named from a template in --output-dir; a re-run skips entries whose
// output already exists (outputs only appear complete: temp file + rename), and a manifest
// (batch-manifest.jsonl in the output dir) records each entry's status, seed, output and seconds.
#include <spdlog/spdlog.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "cli/commands.h"
#include "cli/generate_options.h"
#include "cli/progress.h"
#include "t2v/error.h"
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

struct Entry {
  int line = 0;   // 1-based line number in FILE
  int index = 0;  // 0-based position among the prompt lines (stable when other lines change)
  GenerateOptions options;
  std::string error;  // parse error: the entry is reported and skipped
};

std::vector<Entry> read_entries(const BatchCommand& c) {
  std::ifstream f(c.file);
  if (!f) throw InputError(c.file + ": cannot read the prompt file");
  const bool jsonl = fs::path(c.file).extension() == ".jsonl" || fs::path(c.file).extension() == ".json";
  std::vector<Entry> out;
  std::string text;
  int line = 0, index = 0;
  while (std::getline(f, text)) {
    ++line;
    if (!text.empty() && text.back() == '\r') text.pop_back();
    const auto first = text.find_first_not_of(" \t");
    if (first == std::string::npos || text[first] == '#') continue;
    Entry e;
    e.line = line;
    e.index = index++;
    e.options = c.defaults;
    e.options.seed.reset();  // in batch, --seed is the base seed: line seed = base + index
    if (jsonl) {
      try {
        apply_overrides(e.options, json::parse(text));
      } catch (const json::exception& ex) {
        e.error = std::string("invalid JSON (") + ex.what() + ")";
      } catch (const UsageError& ex) {
        e.error = ex.what();
      }
    } else {
      e.options.prompt = text.substr(first, text.find_last_not_of(" \t") - first + 1);
    }
    out.push_back(std::move(e));
  }
  return out;
}

// "{index:04}-{slug}-{seed}.mp4": {index}, {index:0N}, {line}, {slug}, {seed}.
std::string expand_template(const std::string& tpl, const Entry& e, uint64_t seed) {
  static const std::regex field(R"(\{(index|line|slug|seed)(?::0?(\d+))?\})");
  std::string out;
  auto begin = std::sregex_iterator(tpl.begin(), tpl.end(), field);
  size_t last = 0;
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    out += tpl.substr(last, static_cast<size_t>(it->position()) - last);
    const std::string name = (*it)[1];
    std::string value = name == "index" ? std::to_string(e.index)
                        : name == "line" ? std::to_string(e.line)
                        : name == "seed" ? std::to_string(seed)
                                         : slugify(*e.options.prompt);
    if ((*it)[2].matched && name != "slug") {
      const size_t width = static_cast<size_t>(std::stoi((*it)[2]));
      if (value.size() < width) value = std::string(width - value.size(), '0') + value;
    }
    out += value;
    last = static_cast<size_t>(it->position() + it->length());
  }
  out += tpl.substr(last);
  if (out.find('{') != std::string::npos) throw UsageError("--name-template " + tpl + ": unknown field (use {index}, {index:04}, {line}, {slug}, {seed})");
  return out;
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
    manifest << j.dump() << "\n";
    manifest.flush();
  };

  std::unique_ptr<pipeline::WanT2VPipeline> pipe;
  std::vector<std::pair<Entry*, pipeline::GenerationSettings>> todo;
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
      std::string name = e.options.output ? *e.options.output : expand_template(c.name_template, e, *e.options.seed);
      fs::path out = fs::path(name).is_absolute() ? fs::path(name) : out_dir / name;
      auto s = resolve_settings(e.options, *pipe, out.string());
      if (fs::exists(s.output)) {
        spdlog::info("{}:{}: {} exists, skipped", c.file, e.line, s.output.string());
        record(e, "skipped", s.seed, s.output.string(), 0, "");
        ++skipped;
        continue;
      }
      todo.emplace_back(&e, std::move(s));
    } catch (const UsageError& ex) {
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
    } catch (const Error& ex) {
      fail(*e, ex.what());
    }
  }
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "batch: %d done, %d skipped, %d failed in %.1f s\n", done, skipped, failed, total);
  if (c.json_output) {
    std::printf("%s\n", json{{"done", done}, {"skipped", skipped}, {"failed", failed}, {"seconds", total},
                             {"manifest", manifest_path.string()}, {"base_seed", base_seed}}
                            .dump()
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
  cmd->add_option("--output-dir", c->output_dir, "Where the videos and batch-manifest.jsonl go")->capture_default_str();
  cmd->add_option("--name-template", c->name_template, "Output names: {index}, {index:04}, {line}, {slug}, {seed}")
      ->capture_default_str();
  cmd->add_flag("--fail-fast", c->fail_fast, "Stop at the first failing line");
  cmd->add_flag("--json", c->json_output, "Print a JSON summary on stdout");
  cmd->callback([c, action]() { *action = [c]() { run(*c); }; });
}

}  // namespace t2v::cli
