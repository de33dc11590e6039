#include "t2v/io/json_file.h"

#include <fstream>

namespace t2v::io {

nlohmann::json read_json_file(const std::filesystem::path& path) {
  std::ifstream f(path);
  if (!f) throw ConfigError(path.string() + ": cannot read (missing config file?)");
  try {
    return nlohmann::json::parse(f);
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError(path.string() + ": not valid JSON (" + e.what() + ")");
  }
}

nlohmann::json parse_json_text(const std::string& text, const std::string& source) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError(source + ": not valid JSON (" + e.what() + ")");
  }
}

}  // namespace t2v::io
