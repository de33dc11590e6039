// Shared by the fuzz targets. A target feeds its bytes to a parser and accepts exactly one outcome
// besides success: a t2v::Error whose message is printable UTF-8. Any other exception escapes
// LLVMFuzzerTestOneInput, which libFuzzer (and the corpus replay) report as a crash.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "t2v/error.h"

namespace t2v::fuzz {

// Aborts (a finding) when an error message could make stderr undecodable.
inline void check_message(const t2v::Error& e) {
  const std::string what = e.what();
  if (!t2v::is_valid_utf8(what) || what.find('\x1b') != std::string::npos) {
    std::fprintf(stderr, "fuzz: error message is not printable UTF-8: %s\n", t2v::printable_utf8(what).c_str());
    std::abort();
  }
}

// Runs `fn`; t2v errors are expected outcomes (their message is checked), everything else escapes.
template <class F>
void expect_ok_or_error(F&& fn) {
  try {
    fn();
  } catch (const t2v::Error& e) {
    check_message(e);
  }
}

}  // namespace t2v::fuzz
