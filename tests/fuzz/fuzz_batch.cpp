// Fuzz target: a `t2v batch` prompt file. The first byte picks .txt or .jsonl, the next up to 32 bytes
// (to a newline) are the --name-template; the rest is the file. Every entry is named from the template
// and serialised as the manifest would.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/batch_file.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace t2v;
  if (size == 0) return 0;
  const bool jsonl = data[0] & 1;
  std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const size_t nl = rest.find('\n');
  const std::string tpl = nl != std::string::npos && nl <= 32 ? rest.substr(0, nl) : "{index:04}-{slug}-{seed}.mp4";
  if (nl != std::string::npos && nl <= 32) rest = rest.substr(nl + 1);
  std::istringstream in(rest);
  cli::GenerateOptions defaults;
  const auto entries = cli::parse_batch_lines(in, jsonl, defaults);  // never throws: bad lines carry an error
  for (const auto& e : entries) {
    nlohmann::json record = {{"line", e.line}, {"index", e.index}};
    if (!e.error.empty()) {
      record["error"] = e.error;
    } else {
      fuzz::expect_ok_or_error([&] { record["output"] = cli::expand_name_template(tpl, e, 42); });
      record["prompt"] = e.options.prompt.value_or("");
    }
    (void)record.dump();  // throws on invalid UTF-8: a manifest line that cannot be written
  }
  return 0;
}
