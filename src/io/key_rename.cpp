#include "t2v/io/key_rename.h"

#include <cctype>

namespace t2v::io {

std::optional<std::vector<std::string>> match_prefix(const std::string& pattern,
                                                     const std::string& key, size_t* matched_len) {
  std::vector<std::string> captures;
  size_t k = 0;
  for (size_t p = 0; p < pattern.size(); ++p) {
    if (pattern[p] == '*') {
      size_t start = k;
      while (k < key.size() && std::isdigit(static_cast<unsigned char>(key[k]))) ++k;
      if (k == start) return std::nullopt;
      captures.push_back(key.substr(start, k - start));
    } else {
      if (k >= key.size() || key[k] != pattern[p]) return std::nullopt;
      ++k;
    }
  }
  if (matched_len) *matched_len = k;
  return captures;
}

bool match_full(const std::string& pattern, const std::string& key) {
  size_t len = 0;
  return match_prefix(pattern, key, &len).has_value() && len == key.size();
}

bool match_start(const std::string& pattern, const std::string& key) {
  size_t len = 0;
  return match_prefix(pattern, key, &len).has_value();
}

std::string rename_key(const RenameTable& table, const std::string& key) {
  for (const auto& rule : table) {
    size_t len = 0;
    auto caps = match_prefix(rule.from, key, &len);
    if (!caps) continue;
    std::string out;
    size_t c = 0;
    for (char ch : rule.to) {
      if (ch == '*' && c < caps->size()) {
        out += (*caps)[c++];
      } else {
        out += ch;
      }
    }
    return out + key.substr(len);
  }
  return key;
}

RenameTable invert(const RenameTable& table) {
  RenameTable out;
  out.reserve(table.size());
  for (const auto& r : table) out.push_back({r.to, r.from});
  return out;
}

}  // namespace t2v::io
