#include "t2v/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace t2v {

std::shared_ptr<spdlog::logger> logger_ptr() {
  // Created on first use; an embedder that registered its own "t2v" logger keeps it.
  static const std::shared_ptr<spdlog::logger> instance = [] {
    if (auto existing = spdlog::get("t2v")) return existing;
    return spdlog::stderr_color_mt("t2v");
  }();
  return instance;
}

}  // namespace t2v
