#include "cli/batch_file.h"

#include <nlohmann/json.hpp>
#include <regex>

#include "t2v/error.h"

namespace t2v::cli {
using nlohmann::json;

std::vector<BatchEntry> parse_batch_lines(std::istream& in, bool jsonl, const GenerateOptions& defaults) {
  std::vector<BatchEntry> out;
  std::string text;
  int line = 0, index = 0;
  while (std::getline(in, text)) {
    ++line;
    if (!text.empty() && text.back() == '\r') text.pop_back();
    const auto first = text.find_first_not_of(" \t");
    if (first == std::string::npos || text[first] == '#') continue;
    BatchEntry e;
    e.line = line;
    e.index = index++;
    e.options = defaults;
    e.options.seed.reset();
    if (jsonl) {
      try {
        apply_overrides(e.options, json::parse(text));
      } catch (const json::exception& ex) {
        e.error = printable_utf8(std::string("invalid JSON (") + ex.what() + ")");  // quotes the line's bytes
      } catch (const UsageError& ex) {
        e.error = ex.what();
      }
    } else if (!is_valid_utf8(text)) {
      e.error = "the prompt is not valid UTF-8 text";
    } else {
      e.options.prompt = text.substr(first, text.find_last_not_of(" \t") - first + 1);
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::string expand_name_template(const std::string& tpl, const BatchEntry& e, uint64_t seed) {
  // Names go into the manifest (JSON) and the log: the template must be text.
  if (!is_valid_utf8(tpl)) throw UsageError("--name-template " + tpl + ": not valid UTF-8 text");
  static const std::regex field(R"(\{(index|line|slug|seed)(?::0?(\d+))?\})");
  std::string out;
  auto begin = std::sregex_iterator(tpl.begin(), tpl.end(), field);
  size_t last = 0;
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    out += tpl.substr(last, static_cast<size_t>(it->position()) - last);
    const std::string name = (*it)[1];
    std::string value = name == "index" ? std::to_string(e.index)
                        : name == "line" ? std::to_string(e.line)
                        : name == "seed" ? std::to_string(seed)
                                         : slugify(e.options.prompt.value_or(""));
    if ((*it)[2].matched && name != "slug") {
      const std::string digits = (*it)[2];
      if (digits.size() > 2 || std::stoi(digits) > 20) {
        throw UsageError("--name-template " + tpl + ": field width " + digits + " is out of range (at most 20)");
      }
      const size_t width = static_cast<size_t>(std::stoi(digits));
      if (value.size() < width) value = std::string(width - value.size(), '0') + value;
    }
    out += value;
    last = static_cast<size_t>(it->position() + it->length());
  }
  out += tpl.substr(last);
  if (out.find('{') != std::string::npos) {
    throw UsageError("--name-template " + tpl + ": unknown field (use {index}, {index:04}, {line}, {slug}, {seed})");
  }
  return out;
}

}  // namespace t2v::cli
