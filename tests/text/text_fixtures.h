// Shared helpers of the text tests: fixture prompts (from the case files' __metadata__) and the
// tiny model sources.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/golden.h"
#include "t2v/io/safetensors.h"
#include "t2v/models/wan/model_source.h"

namespace t2v::test {

inline std::string case_metadata(const std::string& file, const std::string& key) {
  return io::SafetensorsFile::open(case_path(file))->metadata().at(key);
}

// A JSON-encoded metadata entry (lists of prompts, pieces, ...).
inline nlohmann::json case_metadata_json(const std::string& file, const std::string& key) {
  return nlohmann::json::parse(case_metadata(file, key));
}

inline std::vector<std::string> fixture_prompts(const std::string& file = "tokenizer.safetensors") {
  return case_metadata_json(file, "prompts").get<std::vector<std::string>>();
}

inline wan::WanModelSource tiny_diffusers() { return wan::open_diffusers_folder(tiny_model_dir()); }

inline wan::WanModelSource tiny_comfy() {
  wan::SingleFilePaths paths;
  paths.transformer = tiny_comfy_dir() / "wan2.1_t2v_tiny_bf16.safetensors";
  paths.text_encoder = tiny_comfy_dir() / "umt5_tiny_bf16.safetensors";
  paths.vae = tiny_comfy_dir() / "wan_2.1_vae_tiny_bf16.safetensors";
  return wan::open_single_files(paths);
}

}  // namespace t2v::test
