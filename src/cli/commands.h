// CLI subcommands. Each registers its options on the CLI11 app and returns the action to run
// after parsing; main() runs it inside the one try/catch that maps exceptions to exit codes.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace t2v::cli {

using Action = std::function<void()>;

// `t2v info`: describe a model folder or single files.
void register_info(CLI::App& app, Action* action);
// `t2v generate`: one prompt -> one video.
void register_generate(CLI::App& app, Action* action);
// `t2v batch`: a prompt file -> many videos, resumable.
void register_batch(CLI::App& app, Action* action);
// `t2v bench`: dit | vae | text | generate timings.
void register_bench(CLI::App& app, Action* action);

}  // namespace t2v::cli
