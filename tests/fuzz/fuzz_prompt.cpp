// Fuzz target: a prompt through clean_prompt (ftfy/html/whitespace cleaning) and the umT5 tokenizer
// with the demo model's spiece.model, truncated to 64 tokens.
#include <cstddef>
#include <cstdint>

#include "fuzz_common.h"
#include "t2v/text/tokenizer.h"

#ifndef T2V_FUZZ_SPIECE
#error "T2V_FUZZ_SPIECE (path of a spiece.model) must be defined"
#endif

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace t2v;
  static const auto tokenizer = text::UMT5Tokenizer::from_file(T2V_FUZZ_SPIECE, 64);
  const std::string prompt(reinterpret_cast<const char*>(data), size);
  fuzz::expect_ok_or_error([&] {
    const std::string cleaned = text::clean_prompt(prompt);
    if (!is_valid_utf8(cleaned)) std::abort();  // cleaning must keep text valid
    const auto batch = tokenizer({prompt, cleaned});
    if (batch.ids.size(0) != 2 || batch.ids.size(1) != 64) std::abort();
  });
  return 0;
}
