// Strict state-dict loading: a module whose registered parameter names are the canonical
// checkpoint keys receives every tensor of a (renamed) TensorStore. Missing, unexpected and
// mis-shaped tensors are all reported in one WeightsError; dtype conversion happens on copy
// (into each parameter's own dtype and device) and is logged. fp8 "scaled" checkpoints (ComfyUI:
// `X.weight` fp8 + `X.scale_weight`) are dequantised on the fly.
#pragma once

#include <torch/nn/module.h>

#include <map>
#include <string>
#include <vector>

#include "t2v/io/tensor_store.h"

namespace t2v::io {

struct LoadOptions {
  std::string what = "model";        // component name used in messages ("transformer", ...)
  std::vector<std::string> ignore;   // canonical key prefixes (RenameTable patterns) allowed to be unused
};

struct LoadReport {
  size_t tensors = 0;
  uint64_t parameters = 0;
  std::map<std::string, size_t> conversions;  // "BF16 -> Float": count
  double seconds = 0.0;
};

LoadReport load_state_dict(torch::nn::Module& module, const TensorStore& store,
                           const LoadOptions& options);

// Number of parameters (elements) in a store, leaving out what is not a model weight: the
// tokenizer blob `spiece_model`, the tied alias `encoder.embed_tokens.weight`, fp8 scale tensors.
uint64_t count_parameters(const TensorStore& store);
// True for keys that carry no model weight (see count_parameters).
bool is_auxiliary_key(const std::string& key);

}  // namespace t2v::io
