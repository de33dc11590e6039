// The Wan family behind the generic model interface: a WanModelSource (diffusers folder or single
// files) with its DiT, VAE and umT5, the official defaults (W21 wan/configs/shared_config.py,
// wan_t2v_1_3B.py, wan_t2v_14B.py), size rules and supported modes.
#pragma once

#include <memory>
#include <string>

#include "t2v/models/video_model.h"
#include "t2v/models/wan/model_source.h"

namespace t2v::wan {

// wan_shared_cfg.sample_neg_prompt (W21 wan/configs/shared_config.py), used when no negative
// prompt is given.
extern const char* const kDefaultNegativePrompt;

// diffusers pipeline classes of Wan folders (model_index.json "_class_name").
bool is_wan_pipeline_class(const std::string& class_name);

// Opens a folder (location.folder) or single files (roles transformer, text_encoder, vae,
// tokenizer); nothing is read beyond headers and configs.
std::unique_ptr<models::VideoModel> open_model(const models::ModelLocation& location,
                                               const models::RuntimeOptions& options = {});
// Wraps an already opened source (tests, tools).
std::unique_ptr<models::VideoModel> make_model(WanModelSource source, const models::RuntimeOptions& options = {});

}  // namespace t2v::wan
