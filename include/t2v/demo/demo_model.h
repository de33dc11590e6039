// Where the bundled demo model (issue 7: a small Wan2.1-architecture model trained on the demo
// world of t2v/demo/world.h, models/t2v-demo) lives, so that `t2v generate -p "..."` without a
// model has something meaningful to run.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace t2v::demo {

// The folders searched, in order: $T2V_DEMO_MODEL (when set, the only candidate), then
// <executable dir>/../models/t2v-demo (a build folder inside the source tree), then the source
// tree's models/t2v-demo recorded at configure time.
std::vector<std::filesystem::path> demo_model_candidates();

// The first candidate holding a model_index.json; InputError listing where it looked otherwise.
std::filesystem::path find_demo_model();

// One line for the log saying that the demo model is used and what it knows.
std::string demo_model_notice(const std::filesystem::path& dir);

}  // namespace t2v::demo
