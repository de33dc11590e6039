// The prompt file of `t2v batch` and its output names: parsing .txt / .jsonl lines into entries
// (a bad line becomes an entry with an error, reported and skipped; never an exception) and
// expanding the --name-template. Kept apart from the command so that it can be fuzzed.
#pragma once

#include <cstdint>
#include <istream>
#include <string>
#include <vector>

#include "cli/generate_options.h"

namespace t2v::cli {

struct BatchEntry {
  int line = 0;   // 1-based line number in the file
  int index = 0;  // 0-based position among the prompt lines (stable when other lines change)
  GenerateOptions options;
  std::string error;  // parse error: the entry is reported and skipped (printable UTF-8)
};

// .txt: one prompt per line; .jsonl: one JSON object per line ("prompt" plus generate options as
// overrides of `defaults`). Blank lines and lines starting with # are skipped; CRLF is accepted.
// The entries' seeds are unset (in batch, the seed of a line is the base seed + its index).
std::vector<BatchEntry> parse_batch_lines(std::istream& in, bool jsonl, const GenerateOptions& defaults);

// "{index:04}-{slug}-{seed}.mp4": {index}, {index:0N}, {line}, {slug}, {seed} (N <= 20). UsageError
// naming the template on an unknown field or a width out of range.
std::string expand_name_template(const std::string& tpl, const BatchEntry& e, uint64_t seed);

}  // namespace t2v::cli
