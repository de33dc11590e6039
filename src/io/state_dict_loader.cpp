#include "t2v/io/state_dict_loader.h"

#include "t2v/log.h"
#include <torch/torch.h>

#include <chrono>
#include <set>
#include <sstream>

#include "t2v/error.h"

namespace t2v::io {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string shape_str(c10::IntArrayRef s) {
  std::ostringstream os;
  os << s;
  return os.str();
}

// Lists at most `limit` names, then "... (N more)".
std::string list(const std::vector<std::string>& names, size_t limit = 8) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < limit; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > limit) out += ", ... (" + std::to_string(names.size() - limit) + " more)";
  return out;
}

// The per-tensor fp8 scale stored next to `key` ("X.weight" -> "X.scale_weight"/"X.weight_scale").
std::string scale_key_for(const TensorStore& store, const std::string& key) {
  if (!ends_with(key, ".weight")) return {};
  const std::string base = key.substr(0, key.size() - 7);
  for (const char* suffix : {".scale_weight", ".weight_scale"}) {
    if (store.contains(base + suffix)) return base + suffix;
  }
  return {};
}
}  // namespace

bool is_auxiliary_key(const std::string& key) {
  return key == "spiece_model" || key == "encoder.embed_tokens.weight" || key == "scaled_fp8" ||
         ends_with(key, ".scale_weight") || ends_with(key, ".scale_input") ||
         ends_with(key, ".weight_scale") || ends_with(key, ".input_scale") ||
         ends_with(key, ".comfy_quant");
}

uint64_t count_parameters(const TensorStore& store) {
  uint64_t n = 0;
  for (const auto& key : store.keys()) {
    if (!is_auxiliary_key(key)) n += static_cast<uint64_t>(store.info(key).numel());
  }
  return n;
}

LoadReport load_state_dict(torch::nn::Module& module, const TensorStore& store,
                           const LoadOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  auto params = module.named_parameters(/*recurse=*/true);

  std::vector<std::string> missing, unexpected, mismatched;
  for (const auto& key : store.keys()) {
    if (params.contains(key)) {
      const auto& info = store.info(key);
      const auto& p = params[key];
      if (c10::IntArrayRef(info.shape) != p.sizes()) {
        mismatched.push_back(key + " (checkpoint " + shape_str(info.shape) + ", model " +
                             shape_str(p.sizes()) + ")");
      }
      continue;
    }
    if (is_auxiliary_key(key)) continue;
    bool ignored = false;
    for (const auto& pattern : options.ignore) ignored = ignored || match_start(pattern, key);
    if (!ignored) unexpected.push_back(store.stored_name(key));
  }
  for (const auto& item : params) {
    if (!store.contains(item.key())) missing.push_back(item.key());
  }
  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    std::string msg = store.source().string() + ": checkpoint does not fit the " + options.what + ":";
    if (!missing.empty()) msg += " missing " + std::to_string(missing.size()) + " [" + list(missing) + "];";
    if (!unexpected.empty()) {
      msg += " unexpected " + std::to_string(unexpected.size()) + " [" + list(unexpected) + "];";
    }
    if (!mismatched.empty()) {
      msg += " wrong shape " + std::to_string(mismatched.size()) + " [" + list(mismatched, 4) + "];";
    }
    msg.pop_back();
    throw WeightsError(msg);
  }

  LoadReport report;
  torch::NoGradGuard no_grad;
  for (auto& item : params) {
    const std::string& key = item.key();
    torch::Tensor& p = item.value();
    const TensorInfo& info = store.info(key);
    torch::Tensor src = store.view(key);
    if (info.dtype == DType::F8_E4M3 || info.dtype == DType::F8_E5M2) {
      src = decode_fp8(src, info.dtype);
      const std::string scale = scale_key_for(store, key);
      if (!scale.empty()) src = src * store.load(scale, torch::kFloat32).reshape({});
    }
    if (SafetensorsFile::torch_dtype(info.dtype) != c10::optional<torch::ScalarType>(p.scalar_type())) {
      report.conversions[std::string(dtype_name(info.dtype)) + " -> " + c10::toString(p.scalar_type())]++;
    }
    p.copy_(src);
    ++report.tensors;
    report.parameters += static_cast<uint64_t>(p.numel());
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const auto& [what, n] : report.conversions) {
    t2v::logger().debug("{}: converted {} tensors {}", options.what, n, what);
  }
  return report;
}

}  // namespace t2v::io
