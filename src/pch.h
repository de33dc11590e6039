// Precompiled header for t2v_core, the CLI and the tests: the torch headers dominate compile time.
#pragma once
#include <torch/torch.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>
