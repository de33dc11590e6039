#include "t2v/io/atomic_file.h"

#include <unistd.h>

#include <atomic>
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

}  // namespace t2v::io
