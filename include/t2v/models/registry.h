// Opens a model of any family t2v knows: the one place a location is routed to a family module
// (a detection table, as llama.cpp's architecture table).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "t2v/models/video_model.h"

namespace t2v::models {

// A folder goes to the family whose diffusers pipeline class is in its model_index.json; single
// files to the family whose key layout they hold. Errors name the folder or file. The model may
// still be one the family cannot run (see VideoModel::unsupported_reason).
std::unique_ptr<VideoModel> open_model(const ModelLocation& location, const RuntimeOptions& options = {});

// The same, then refuses (ConfigError) a model its family cannot run, before any weights load.
std::unique_ptr<VideoModel> open_supported_model(const ModelLocation& location, const RuntimeOptions& options = {});

// The families t2v knows ("wan").
std::vector<std::string> known_families();

}  // namespace t2v::models
