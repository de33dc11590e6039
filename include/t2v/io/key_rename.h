// Key renaming between checkpoint layouts, as data. A rule maps a key prefix pattern to another:
// `*` matches one decimal index and the replacement's `*`s are filled with the captured indices in
// order, the rest of the key is kept: {"blocks.*.self_attn.o.", "blocks.*.attn1.to_out.0."}
// renames "blocks.7.self_attn.o.weight" to "blocks.7.attn1.to_out.0.weight". The first matching
// rule wins; a key no rule matches is unchanged. Patterns that should match whole keys simply
// spell the whole key.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace t2v::io {

struct RenameRule {
  std::string from;
  std::string to;
};
using RenameTable = std::vector<RenameRule>;

// Matches `pattern` (with `*` = one decimal integer) against the start of `key`. On success
// returns the captured integers and sets *matched_len to the number of key characters consumed.
std::optional<std::vector<std::string>> match_prefix(const std::string& pattern,
                                                     const std::string& key, size_t* matched_len);
// True if `pattern` matches the whole key.
bool match_full(const std::string& pattern, const std::string& key);
// True if `pattern` matches the start of the key ("blocks.*.attn2." or a whole key name).
bool match_start(const std::string& pattern, const std::string& key);
// Applies the first matching rule; returns the key unchanged if none matches.
std::string rename_key(const RenameTable& table, const std::string& key);
// The table with `from` and `to` swapped (for the reverse direction).
RenameTable invert(const RenameTable& table);

}  // namespace t2v::io
