#include "t2v/models/registry.h"

#include "t2v/error.h"
#include "t2v/io/json_file.h"
#include "t2v/models/wan/family.h"

namespace t2v::models {
namespace fs = std::filesystem;

namespace {
struct Family {
  const char* name;
  const char* pipeline_classes;  // for the error message
  bool (*claims_pipeline_class)(const std::string& class_name);
  std::unique_ptr<VideoModel> (*open)(const ModelLocation&, const RuntimeOptions&);
};

const Family kFamilies[] = {
    {"wan", "WanPipeline", wan::is_wan_pipeline_class, wan::open_model},
};
}  // namespace

std::vector<std::string> known_families() {
  std::vector<std::string> out;
  for (const auto& f : kFamilies) out.emplace_back(f.name);
  return out;
}

std::unique_ptr<VideoModel> open_model(const ModelLocation& location, const RuntimeOptions& options) {
  if (!location.folder.empty() && !location.files.empty()) {
    throw UsageError("model: give a folder or single files, not both");
  }
  if (location.folder.empty() && location.files.empty()) throw UsageError("model: no folder or files given");
  if (location.folder.empty()) return kFamilies[0].open(location, options);  // the only single-file family so far

  const fs::path index_path = location.folder / "model_index.json";
  std::error_code ec;
  if (!fs::is_regular_file(index_path, ec)) return kFamilies[0].open(location, options);  // its own "not a folder" error
  const auto index = io::read_json_file(index_path);
  const std::string cls = io::json_get<std::string>(index, "_class_name", "", index_path.string());
  std::string known;
  for (const auto& f : kFamilies) {
    if (f.claims_pipeline_class(cls)) return f.open(location, options);
    known += (known.empty() ? "" : ", ") + std::string(f.pipeline_classes);
  }
  throw ConfigError(index_path.string() + ": unknown pipeline class \"" + cls + "\" (t2v runs " + known +
                    " folders); t2v does not run it");
}

std::unique_ptr<VideoModel> open_supported_model(const ModelLocation& location, const RuntimeOptions& options) {
  auto model = open_model(location, options);
  if (auto why = model->unsupported_reason()) throw ConfigError(*why);
  return model;
}

}  // namespace t2v::models
