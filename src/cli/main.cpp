// t2v command-line entry point: global options, logging, signal handling, and the single place
// where library exceptions become exit codes (0 ok, 2 bad usage/input/model files, 1 other
// failure, 130 interrupted).
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "cli/commands.h"
#include "t2v/cpu_kernels.h"
#include "t2v/error.h"
#include "t2v/log.h"
#include "t2v/runtime.h"

int main(int argc, char** argv) {
  // Before any work: re-executes with the OpenBLAS core matching the CPU when autodetection fell short.
  t2v::select_cpu_kernels(argv);
  t2v::configure_memory_allocator();
  CLI::App app{"t2v: text-to-video generation with Wan2.1/Wan2.2 models on LibTorch"};
  app.set_version_flag("--version", std::string("t2v ") + T2V_VERSION);
  app.require_subcommand(1);
  bool verbose = false;
  std::string log_level = "info";
  app.add_flag("-v,--verbose", verbose, "Verbose logging (debug level; full error detail)");
  app.add_option("--log-level", log_level, "Log level")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();

  t2v::cli::Action action;
  t2v::cli::register_generate(app, &action);
  t2v::cli::register_batch(app, &action);
  t2v::cli::register_info(app, &action);
  t2v::cli::register_bench(app, &action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);  // prints help/version or the parse error
    return rc == 0 ? 0 : 2;
  }

  spdlog::set_default_logger(t2v::logger_ptr());  // the CLI and the library log through one logger
  spdlog::set_pattern(std::getenv("NO_COLOR") ? "[%l] %v" : "[%^%l%$] %v");
  spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::from_str(log_level));
  t2v::install_interrupt_handlers();
  spdlog::debug("CPU kernels: {}", t2v::cpu_kernel_summary());

  try {
    action();
    return 0;
  } catch (const std::exception& e) {
    // One line on stderr; the exception text names the file/key/option and what was expected.
    std::string what = t2v::printable_utf8(e.what());  // t2v errors already are; LibTorch/JSON ones may not be
    if (!verbose) {
      auto nl = what.find('\n');
      if (nl != std::string::npos) what = what.substr(0, nl);
    }
    std::fprintf(stderr, "t2v: error: %s\n", what.c_str());
    return t2v::exit_code_for(e);
  }
}
