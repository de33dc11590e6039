// The CLIP vision tower Wan2.1's image-to-video models condition on: open-clip's XLM-RoBERTa-large
// ViT-H/14 visual part (W21 wan/modules/clip.py VisionTransformer, CLIPModel.visual), features from
// the second-to-last block (use_31_block: 257 tokens, no post-norm, no head). Module names are the
// transformers CLIPVisionModel(WithProjection) names of the diffusers folder's image_encoder/;
// ComfyUI's open-clip-named clip_vision_h file comes through a rename table and a row split of the
// fused qkv projection (key_maps.h).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>

#include <string>
#include <vector>

#include "t2v/io/tensor_store.h"
#include "t2v/models/layers.h"
#include "t2v/models/wan/config.h"

namespace t2v::wan {

class ClipAttentionImpl : public torch::nn::Module {
 public:
  ClipAttentionImpl(int64_t width, int64_t heads, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);  // [N, L, w] -> [N, L, w]
  nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, out_proj{nullptr};

 private:
  int64_t heads_;
};
TORCH_MODULE(ClipAttention);

class ClipMlpImpl : public torch::nn::Module {
 public:
  ClipMlpImpl(int64_t width, int64_t hidden, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(ClipMlp);

// W21 clip.py AttentionBlock (pre-norm): x + attn(norm1(x)), then x + mlp(norm2(x)).
class ClipEncoderLayerImpl : public torch::nn::Module {
 public:
  ClipEncoderLayerImpl(const ClipVisionConfig& c, const torch::TensorOptions& options);
  torch::Tensor forward(torch::Tensor x);
  nn::NormWeight layer_norm1{nullptr}, layer_norm2{nullptr};
  ClipAttention self_attn{nullptr};
  ClipMlp mlp{nullptr};

 private:
  double eps_;
};
TORCH_MODULE(ClipEncoderLayer);

class ClipVisionModelImpl : public torch::nn::Module {
 public:
  // Builds the blocks the features need: all but the last (its weights are not loaded).
  ClipVisionModelImpl(const ClipVisionConfig& config, torch::ScalarType dtype, const torch::Device& device);
  const ClipVisionConfig& config() const { return config_; }

  // Images float [3, H, W] in [-1, 1] (TF.to_tensor(img).sub_(0.5).div_(0.5)), any size ->
  // pixel values [N, 3, S, S]: bicubic to S x S (squashed, no antialias, no clamp), then
  // mul(0.5).add(0.5) and (x - mean) / std (W21 clip.py CLIPModel.visual).
  torch::Tensor preprocess(const std::vector<torch::Tensor>& images) const;
  // Pixel values [N, 3, S, S] -> features [N, tokens, width] fp32 (the second-to-last block's output).
  torch::Tensor forward(const torch::Tensor& pixel_values);
  // preprocess + forward.
  torch::Tensor encode(const std::vector<torch::Tensor>& images);

  // transformers names: vision_model.{embeddings.{class_embedding, patch_embedding,
  // position_embedding}, pre_layrnorm, encoder.layers.N}.
  torch::Tensor class_embedding;  // [w]
  nn::ConvNd patch_embedding{nullptr};
  nn::Embedding position_embedding{nullptr};
  nn::NormWeight pre_layrnorm{nullptr};
  torch::nn::ModuleList layers{nullptr};

 private:
  ClipVisionConfig config_;
  torch::Device device_;
};
TORCH_MODULE(ClipVisionModel);

// The canonical keys of the blocks and heads Wan does not use (the last block, post_layernorm,
// visual_projection): allowed to be present and left unloaded.
std::vector<std::string> clip_unused_keys(const ClipVisionConfig& config);

// Builds the tower and loads a canonical (transformers-named) store strictly.
ClipVisionModel load_clip_vision(const ClipVisionConfig& config, const io::TensorStore& store,
                                 torch::ScalarType dtype, const torch::Device& device);

}  // namespace t2v::wan
