// The library's logger: "t2v", writing to stderr (stdout belongs to the caller's own output, such as
// `--json`). Embedders may change its level, pattern or sinks; the CLI makes it spdlog's default
// logger and sets its level from --log-level / -v.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>

namespace t2v {

std::shared_ptr<spdlog::logger> logger_ptr();
inline spdlog::logger& logger() { return *logger_ptr(); }

}  // namespace t2v
