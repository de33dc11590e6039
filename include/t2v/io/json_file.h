// Reading JSON config files with errors that name the file and key.
#pragma once

#include <filesystem>
#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>
#include <vector>

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

// v as the integer type T when it holds a whole number T can represent; false otherwise. nlohmann
// converts a float (or a too-large integer) with a plain cast: undefined behaviour when the value
// does not fit T (found by fuzzing: "decoder_base_dim": 6.7e29, and the same inside a list).
template <typename T>
bool json_integer(const nlohmann::json& v, T* out) {
  static_assert(std::is_integral_v<T> && !std::is_same_v<T, bool>);
  if (!v.is_number()) return false;
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!(d == std::floor(d)) || d < static_cast<double>(std::numeric_limits<T>::lowest()) ||
        d >= std::ldexp(1.0, std::numeric_limits<T>::digits))
      return false;
    *out = static_cast<T>(d);
    return true;
  }
  if (v.is_number_unsigned()) {
    const auto u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<T>::max())) return false;
    *out = static_cast<T>(u);
    return true;
  }
  const auto i = v.get<int64_t>();
  if constexpr (std::is_signed_v<T>) {
    if (i < static_cast<int64_t>(std::numeric_limits<T>::lowest()) || i > static_cast<int64_t>(std::numeric_limits<T>::max()))
      return false;
  } else {
    if (i < 0 || static_cast<uint64_t>(i) > static_cast<uint64_t>(std::numeric_limits<T>::max())) return false;
  }
  *out = static_cast<T>(i);
  return true;
}

// v as float when it is a number within float's range (a double -> float cast outside it is
// undefined behaviour too).
inline bool json_float(const nlohmann::json& v, float* out) {
  if (!v.is_number()) return false;
  const double d = v.get<double>();
  if (!(std::abs(d) <= static_cast<double>(std::numeric_limits<float>::max()))) return false;
  *out = static_cast<float>(d);
  return true;
}

namespace detail {
// A list of numbers json_integer / json_float check element by element.
template <typename T>
struct is_checked_vector : std::false_type {};
template <typename T, typename A>
struct is_checked_vector<std::vector<T, A>>
    : std::bool_constant<(std::is_integral_v<T> && !std::is_same_v<T, bool>) || std::is_same_v<T, float>> {};
}  // namespace detail

// j[key] converted to T, or `fallback` when the key is absent or null. A present value of the
// wrong type, or a number T cannot hold, is a ConfigError naming `source` and the key.
template <typename T>
T json_get(const nlohmann::json& j, const char* key, const T& fallback, const std::string& source) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  const auto bad = [&] {
    return ConfigError(source + ": \"" + key + "\" has an unexpected value " + to_json_text(*it));
  };
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    T v{};
    if (!json_integer(*it, &v)) throw bad();
    return v;
  } else if constexpr (std::is_same_v<T, float>) {
    float v = 0;
    if (!json_float(*it, &v)) throw bad();
    return v;
  } else if constexpr (detail::is_checked_vector<T>::value) {
    if (!it->is_array()) throw bad();
    T out;
    out.reserve(it->size());
    for (const auto& e : *it) {
      typename T::value_type v{};
      bool ok = false;
      if constexpr (std::is_same_v<typename T::value_type, float>) ok = json_float(e, &v);
      else ok = json_integer(e, &v);
      if (!ok) throw bad();
      out.push_back(v);
    }
    return out;
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
