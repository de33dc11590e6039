// Reading JSON config files with errors that name the file and key.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "t2v/error.h"

namespace t2v::io {

// Parses a JSON file; ConfigError naming the file if it is missing or malformed.
nlohmann::json read_json_file(const std::filesystem::path& path);
// Parses JSON text (e.g. a safetensors metadata entry); `source` names it in errors.
nlohmann::json parse_json_text(const std::string& text, const std::string& source);

// j as JSON text that never throws: strings holding bytes that are not UTF-8 (a file name, a path from
// the command line) get U+FFFD in their place, where nlohmann's dump() would throw type_error 316.
inline std::string to_json_text(const nlohmann::json& j, int indent = -1) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

// j[key] converted to T, or `fallback` when the key is absent or null. A present value of the
// wrong type is a ConfigError naming `source` and the key.
template <typename T>
T json_get(const nlohmann::json& j, const char* key, const T& fallback, const std::string& source) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    throw ConfigError(source + ": \"" + key + "\" has an unexpected value " + it->dump());
  }
}

// Like json_get but the key must be present.
template <typename T>
T json_require(const nlohmann::json& j, const char* key, const std::string& source) {
  if (!j.contains(key) || j[key].is_null()) {
    throw ConfigError(source + ": missing \"" + key + "\"");
  }
  return json_get<T>(j, key, T{}, source);
}

}  // namespace t2v::io
