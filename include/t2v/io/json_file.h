// Reading JSON config files with errors that name the file and key.
#pragma once

#include <filesystem>
#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <type_traits>
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
  const auto bad = [&] {
    return ConfigError(source + ": \"" + key + "\" has an unexpected value " + to_json_text(*it));
  };
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    // nlohmann converts a float (or a too-large integer) with a plain cast: undefined behaviour when the
    // value does not fit T (found by fuzzing: "decoder_base_dim": 6.7e29). Whole numbers in range only.
    if (!it->is_number()) throw bad();
    if (it->is_number_float()) {
      const double v = it->template get<double>();
      if (!(v == std::floor(v)) || v < static_cast<double>(std::numeric_limits<T>::lowest()) ||
          v >= std::ldexp(1.0, std::numeric_limits<T>::digits))
        throw bad();
      return static_cast<T>(v);
    }
    if (it->is_number_unsigned()) {
      const auto v = it->template get<uint64_t>();
      if (v > static_cast<uint64_t>(std::numeric_limits<T>::max())) throw bad();
      return static_cast<T>(v);
    }
    const auto v = it->template get<int64_t>();
    if constexpr (std::is_signed_v<T>) {
      if (v < static_cast<int64_t>(std::numeric_limits<T>::lowest()) ||
          v > static_cast<int64_t>(std::numeric_limits<T>::max()))
        throw bad();
    } else {
      if (v < 0 || static_cast<uint64_t>(v) > static_cast<uint64_t>(std::numeric_limits<T>::max())) throw bad();
    }
    return static_cast<T>(v);
  } else {
    try {
      return it->template get<T>();
    } catch (const nlohmann::json::exception&) {
      throw bad();
    }
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
