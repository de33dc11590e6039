// Reference: W21 wan/modules/clip.py (VisionTransformer, AttentionBlock, SelfAttention,
// CLIPModel.visual with use_31_block=True); names from transformers CLIPVisionModel.
#include "t2v/models/wan/clip.h"

#include <torch/torch.h>

#include <cmath>

#include "t2v/error.h"
#include "t2v/io/json_file.h"
#include "t2v/io/state_dict_loader.h"
#include "t2v/log.h"
#include "t2v/models/wan/attention.h"

namespace t2v::wan {
namespace {

int64_t count_layers(const io::TensorStore& store, const std::string& prefix) {
  int64_t n = 0;
  while (store.contains(prefix + std::to_string(n) + ".layer_norm1.weight")) ++n;
  return n;
}

const io::TensorInfo& need(const io::TensorStore& store, const std::string& key) {
  if (!store.contains(key)) {
    throw WeightsError(store.source().string() + ": no tensor '" + key + "' (expected a CLIP vision tower)");
  }
  return store.info(key);
}

void check(bool ok, const std::string& source, const std::string& what) {
  if (!ok) throw ConfigError(source + ": " + what);
}

torch::Tensor layer_norm(const torch::Tensor& x, const nn::NormWeight& n, double eps) {
  // W21 clip.py LayerNorm: computed in fp32, cast back to x's dtype.
  return torch::layer_norm(x.to(torch::kFloat), {x.size(-1)}, n->weight, n->bias, eps).to(x.scalar_type());
}

}  // namespace

ClipVisionConfig ClipVisionConfig::from_hf_json(const nlohmann::json& j, const std::string& source) {
  ClipVisionConfig c;
  c.hidden_size = io::json_require<int64_t>(j, "hidden_size", source);
  c.intermediate_size = io::json_require<int64_t>(j, "intermediate_size", source);
  c.num_heads = io::json_require<int64_t>(j, "num_attention_heads", source);
  c.num_layers = io::json_require<int64_t>(j, "num_hidden_layers", source);
  c.patch_size = io::json_get<int64_t>(j, "patch_size", 14, source);
  c.image_size = io::json_get<int64_t>(j, "image_size", 224, source);
  c.layer_norm_eps = io::json_get<double>(j, "layer_norm_eps", 1e-5, source);
  const std::string act = io::json_get<std::string>(j, "hidden_act", "gelu", source);
  check(act == "gelu", source, "\"hidden_act\" \"" + act + "\" is not supported (Wan's ViT-H uses gelu)");
  check(c.hidden_size > 0 && c.num_heads > 0 && c.hidden_size % c.num_heads == 0, source,
        "\"hidden_size\" must be a positive multiple of \"num_attention_heads\"");
  check(c.num_layers >= 2, source, "\"num_hidden_layers\" must be at least 2 (the features come from the second-to-last)");
  check(c.patch_size > 0 && c.image_size > 0 && c.image_size % c.patch_size == 0, source,
        "\"image_size\" must be a positive multiple of \"patch_size\"");
  check(c.intermediate_size > 0, source, "\"intermediate_size\" must be positive");
  return c;
}

ClipVisionConfig ClipVisionConfig::from_tensors(const io::TensorStore& store) {
  ClipVisionConfig c;
  const std::string src = store.source().string();
  const auto& cls = need(store, "vision_model.embeddings.class_embedding");
  const auto& patch = need(store, "vision_model.embeddings.patch_embedding.weight");  // [w, 3, p, p]
  const auto& pos = need(store, "vision_model.embeddings.position_embedding.weight");  // [tokens, w]
  const auto& fc1 = need(store, "vision_model.encoder.layers.0.mlp.fc1.weight");       // [mlp, w]
  if (cls.shape.size() != 1 || patch.shape.size() != 4 || pos.shape.size() != 2 || fc1.shape.size() != 2) {
    throw WeightsError(src + ": unexpected CLIP embedding shapes");
  }
  c.hidden_size = cls.shape[0];
  c.patch_size = patch.shape[2];
  const auto grid = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(pos.shape[0] - 1))));
  if (grid * grid + 1 != pos.shape[0]) throw WeightsError(src + ": position table of " + std::to_string(pos.shape[0]) + " rows is not a square grid + 1");
  c.image_size = grid * c.patch_size;
  c.intermediate_size = fc1.shape[0];
  c.num_layers = count_layers(store, "vision_model.encoder.layers.");
  // open-clip ViT-H/14 (the only tower Wan uses): width 1280, head width 80 -> 16 heads.
  if (c.hidden_size != 1280) {
    throw WeightsError(src + ": a CLIP tower of width " + std::to_string(c.hidden_size) +
                       " has no known head count; provide its config (clip_vision_config metadata)");
  }
  c.num_heads = 16;
  return c;
}

void ClipVisionConfig::read_preprocessor(const nlohmann::json& j, const std::string& source) {
  for (auto [key, out] : {std::pair<const char*, std::array<float, 3>*>{"image_mean", &mean}, {"image_std", &std}}) {
    if (!j.contains(key)) continue;
    const auto v = io::json_get<std::vector<double>>(j, key, {}, source);
    check(v.size() == 3, source, std::string("\"") + key + "\" must have 3 entries");
    for (size_t i = 0; i < 3; ++i) (*out)[i] = static_cast<float>(v[i]);
  }
}

nlohmann::json ClipVisionConfig::to_json() const {
  return {{"hidden_size", hidden_size}, {"intermediate_size", intermediate_size}, {"num_attention_heads", num_heads},
          {"num_hidden_layers", num_layers}, {"patch_size", patch_size}, {"image_size", image_size},
          {"tokens", tokens()}, {"feature_layer", num_layers - 1}};
}

ClipAttentionImpl::ClipAttentionImpl(int64_t width, int64_t heads, const torch::TensorOptions& options) : heads_(heads) {
  q_proj = register_module("q_proj", nn::Linear(width, width, true, options));
  k_proj = register_module("k_proj", nn::Linear(width, width, true, options));
  v_proj = register_module("v_proj", nn::Linear(width, width, true, options));
  out_proj = register_module("out_proj", nn::Linear(width, width, true, options));
}

torch::Tensor ClipAttentionImpl::forward(const torch::Tensor& x) {
  const int64_t n = x.size(0), l = x.size(1), w = x.size(2);
  auto split = [&](nn::Linear& proj) { return proj->forward(x).view({n, l, heads_, w / heads_}); };  // [N, L, H, D]
  auto out = attention(split(q_proj), split(k_proj), split(v_proj));  // softmax(q k^T / sqrt(D)) v, no mask
  return out_proj->forward(out.reshape({n, l, w}));
}

ClipMlpImpl::ClipMlpImpl(int64_t width, int64_t hidden, const torch::TensorOptions& options) {
  fc1 = register_module("fc1", nn::Linear(width, hidden, true, options));
  fc2 = register_module("fc2", nn::Linear(hidden, width, true, options));
}

torch::Tensor ClipMlpImpl::forward(const torch::Tensor& x) { return fc2->forward(torch::gelu(fc1->forward(x))); }  // erf GELU

ClipEncoderLayerImpl::ClipEncoderLayerImpl(const ClipVisionConfig& c, const torch::TensorOptions& options)
    : eps_(c.layer_norm_eps) {
  const auto fp32 = options.dtype(torch::kFloat);
  layer_norm1 = register_module("layer_norm1", nn::NormWeight(std::vector<int64_t>{c.hidden_size}, true, fp32));
  self_attn = register_module("self_attn", ClipAttention(c.hidden_size, c.num_heads, options));
  layer_norm2 = register_module("layer_norm2", nn::NormWeight(std::vector<int64_t>{c.hidden_size}, true, fp32));
  mlp = register_module("mlp", ClipMlp(c.hidden_size, c.intermediate_size, options));
}

torch::Tensor ClipEncoderLayerImpl::forward(torch::Tensor x) {
  x = x + self_attn->forward(layer_norm(x, layer_norm1, eps_));
  return x + mlp->forward(layer_norm(x, layer_norm2, eps_));
}

ClipVisionModelImpl::ClipVisionModelImpl(const ClipVisionConfig& c, torch::ScalarType dtype, const torch::Device& device)
    : config_(c), device_(device) {
  const auto options = torch::TensorOptions().dtype(dtype).device(device);
  const auto fp32 = options.dtype(torch::kFloat);
  // Holders give the parameters their transformers names (vision_model.embeddings.*, ...).
  auto vision = register_module("vision_model", std::make_shared<torch::nn::Module>());
  auto embeddings = vision->register_module("embeddings", std::make_shared<torch::nn::Module>());
  class_embedding = embeddings->register_parameter("class_embedding", torch::empty({c.hidden_size}, options), false);
  patch_embedding = embeddings->register_module(
      "patch_embedding", nn::ConvNd(3, c.hidden_size, std::vector<int64_t>{c.patch_size, c.patch_size},
                                    std::vector<int64_t>{c.patch_size, c.patch_size}, std::vector<int64_t>{0, 0},
                                    /*bias=*/false, options));
  position_embedding = embeddings->register_module("position_embedding", nn::Embedding(c.tokens(), c.hidden_size, options));
  pre_layrnorm = vision->register_module("pre_layrnorm", nn::NormWeight(std::vector<int64_t>{c.hidden_size}, true, fp32));
  auto encoder = vision->register_module("encoder", std::make_shared<torch::nn::Module>());
  layers = encoder->register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i + 1 < c.num_layers; ++i) layers->push_back(ClipEncoderLayer(c, options));  // use_31_block
}

torch::Tensor ClipVisionModelImpl::preprocess(const std::vector<torch::Tensor>& images) const {
  namespace F = torch::nn::functional;
  std::vector<torch::Tensor> out;
  for (const auto& img : images) {
    if (img.dim() != 3 || img.size(0) != 3) throw InputError("image encoder: an image must be [3, H, W]");
    out.push_back(F::interpolate(img.to(torch::kFloat).unsqueeze(0), F::InterpolateFuncOptions()
                                                                         .size(std::vector<int64_t>{config_.image_size, config_.image_size})
                                                                         .mode(torch::kBicubic)
                                                                         .align_corners(false)));  // [1, 3, S, S]
  }
  auto x = torch::cat(out).mul(0.5).add(0.5);  // back to [0, 1]
  const auto mean = torch::tensor(std::vector<float>(config_.mean.begin(), config_.mean.end())).view({1, 3, 1, 1});
  const auto stdv = torch::tensor(std::vector<float>(config_.std.begin(), config_.std.end())).view({1, 3, 1, 1});
  return x.sub(mean).div(stdv);  // [N, 3, S, S]
}

torch::Tensor ClipVisionModelImpl::forward(const torch::Tensor& pixel_values) {
  const auto dtype = patch_embedding->weight.scalar_type();
  auto x = patch_embedding->forward(pixel_values.to(device_, dtype));  // [N, w, S/p, S/p]
  x = x.flatten(2).transpose(1, 2);                                    // [N, tokens - 1, w]
  const int64_t n = x.size(0);
  x = torch::cat({class_embedding.view({1, 1, -1}).expand({n, 1, -1}), x}, 1);  // [N, tokens, w]
  x = x + position_embedding->weight.unsqueeze(0);
  x = layer_norm(x, pre_layrnorm, config_.layer_norm_eps);
  for (const auto& layer : *layers) x = layer->as<ClipEncoderLayerImpl>()->forward(x);
  return x.to(torch::kFloat);  // [N, tokens, w]
}

torch::Tensor ClipVisionModelImpl::encode(const std::vector<torch::Tensor>& images) { return forward(preprocess(images)); }

std::vector<std::string> clip_unused_keys(const ClipVisionConfig& c) {
  return {"vision_model.encoder.layers." + std::to_string(c.num_layers - 1) + ".", "vision_model.post_layernorm.",
          "visual_projection."};
}

ClipVisionModel load_clip_vision(const ClipVisionConfig& config, const io::TensorStore& store, torch::ScalarType dtype,
                                 const torch::Device& device) {
  torch::NoGradGuard no_grad;
  ClipVisionModel model(config, dtype, device);
  io::LoadOptions lo;
  lo.what = "image encoder";
  lo.ignore = clip_unused_keys(config);
  const auto report = io::load_state_dict(*model, store, lo);
  t2v::logger().info("image encoder: CLIP ViT {} layers (features of layer {}), width {}, {} tensors, {:.2f} s",
                     config.num_layers, config.num_layers - 1, config.hidden_size, report.tensors, report.seconds);
  return model;
}

}  // namespace t2v::wan
