#include "t2v/io/atomic_file.h"

#include <signal.h>
#include <unistd.h>

#include <regex>

#include <atomic>
#include <cerrno>
#include <system_error>

#include "t2v/error.h"

namespace t2v::io {
namespace fs = std::filesystem;

AtomicOutput::AtomicOutput(fs::path target) : target_(std::move(target)) {
  static std::atomic<int> counter{0};
  const fs::path dir = target_.has_parent_path() ? target_.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw InputError("output directory does not exist: " + dir.string());
  }
  temp_ = dir / ("." + target_.stem().string() + ".tmp-" + std::to_string(::getpid()) + "-" +
                 std::to_string(counter++) + target_.extension().string());
}

AtomicOutput::~AtomicOutput() {
  if (!committed_) {
    std::error_code ec;
    fs::remove(temp_, ec);
  }
}

void AtomicOutput::commit() {
  std::error_code ec;
  fs::rename(temp_, target_, ec);
  if (ec) {
    throw InputError("cannot move " + temp_.string() + " to " + target_.string() + ": " +
                     ec.message());
  }
  committed_ = true;
}

size_t remove_stale_temp_files(const fs::path& dir) {
  static const std::regex temp_name(R"(^\..*\.tmp-(\d+)-\d+(\.[^.]*)?$)");
  size_t removed = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::smatch m;
    if (!std::regex_match(name, m, temp_name) || !it->is_regular_file(ec)) continue;
    const long pid = std::stol(m[1]);
    const bool gone = pid != ::getpid() && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
    if (gone && fs::remove(it->path(), ec)) ++removed;
  }
  return removed;
}

}  // namespace t2v::io
