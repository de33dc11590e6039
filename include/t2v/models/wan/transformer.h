// Wan DiT (diffusers WanTransformer3DModel key names), numerically the official WanModel.
// Reference: W21 wan/modules/model.py WanModel (forward, unpatchify), WanAttentionBlock, Head;
// names from DF src/diffusers/models/transformers/transformer_wan.py. Module tree:
//   patch_embedding, condition_embedder.{time_embedder.linear_1/2, time_proj, text_embedder.linear_1/2,
//   image_embedder.* (I2V only)}, blocks.N.{scale_shift_table, attn1.*, norm2, attn2.*, ffn.net.0.proj,
//   ffn.net.2}, scale_shift_table, proj_out.
//
// Precision map (spec §2.5). The official code keeps fp32 weights and runs sampling under
// autocast(bf16) with nested autocast(fp32) regions; this module reproduces that with bf16 bulk
// weights (`dtype`) plus fp32 parameters for the islands, so no autocast is needed:
//   float64: timestep sinusoid (from the integer timestep) and RoPE (angles, cos/sin, rotation;
//            rotated q/k cast to fp32) - fp32 here costs ~1e-5 of output error (golden README §4).
//   fp32 weights + fp32 math: time_embedder, time_proj (e, e0), every scale_shift_table and the
//            modulation arithmetic (`table + e0`, `norm·(1+scale)+shift`), LayerNorms (norm2's affine
//            gains included), q/k RMSNorm reductions and gains, the gated residual adds (so the
//            residual stream is fp32 after the first block, as in the reference), the whole head
//            (LayerNorm, modulation by `e` - not e0 -, proj_out). These are small and set the
//            scale of everything downstream; the reference forces them to fp32 for stability.
//   `dtype` (bf16 on CUDA): patch_embedding, text_embedder, attention projections, FFN, attention
//            itself (q and k cast to v's dtype like flash_attention; softmax statistics in fp32).
// On the CPU everything is fp32 and matches the reference's CPU run (golden fixtures) closely.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <array>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "t2v/io/tensor_store.h"
#include "t2v/models/layers.h"
#include "t2v/models/wan/attention.h"
#include "t2v/models/wan/config.h"
#include "t2v/models/wan/model_source.h"

namespace t2v::wan {

class WanConditionEmbedderImpl;
class RopeCache;

// Named intermediates for bisecting against a reference dump: "e" [B, dim], "e0" [B, 6, dim],
// "context_emb" [B, text_len, dim], "x_patch" [B, L, dim], "block<K>_out" [B, L, dim],
// "head_out" [B, L, prod(patch)·C_out] (fp32 copies except x_patch/context_emb: weights' dtype).
using DebugTensors = std::map<std::string, torch::Tensor>;

// A prompt's text conditioning, computed once and reused for every sampling step: the text
// embedding and each block's cross-attention keys/values ([B, text_len, heads, head_dim]); for
// image-to-video DiTs also the embedded CLIP features' keys/values ([B, 257 (FLF2V 514), heads, head_dim]).
struct WanTextContext {
  torch::Tensor embedding;  // [B, text_len, dim]
  std::vector<torch::Tensor> keys, values;
  std::vector<torch::Tensor> image_keys, image_values;  // empty without image context
  int64_t batch() const { return embedding.size(0); }
};

class WanTransformer3DModelImpl : public torch::nn::Module {
 public:
  // Parameters are created uninitialised in `dtype` (fp32 islands in fp32) on `device`.
  explicit WanTransformer3DModelImpl(const WanTransformerConfig& config, torch::ScalarType dtype = torch::kFloat,
                                     const torch::Device& device = torch::kCPU);

  const WanTransformerConfig& config() const { return config_; }
  torch::ScalarType dtype() const { return dtype_; }
  torch::Device device() const { return device_; }
  void set_attention(const AttentionOptions& options) { attention_ = options; }
  const AttentionOptions& attention_options() const { return attention_; }

  // context [B, Lc <= text_len, text_dim], zero-padded prompts (rows past each prompt are zero);
  // padded to text_len with zero rows, which are embedded and attended like the reference does.
  WanTextContext encode_text(const torch::Tensor& context, DebugTensors* debug = nullptr);
  // The same with CLIP image features [B, 257, image_dim] (FLF2V: [2B, 257, image_dim], first and
  // last image per batch item), required by image-to-video DiTs (W21 model.py: img_emb(clip_fea),
  // the image tokens before the text ones; debug "img_emb").
  WanTextContext encode_text(const torch::Tensor& context, const torch::Tensor& clip_features,
                             DebugTensors* debug = nullptr);

  // x [B, C_in, F, H, W] (F, H, W multiples of the patch size), t [B] (or Wan2.2 per-token [B, L])
  // integer timesteps -> [B, C_out, F, H, W] fp32. A text context with batch 1 is broadcast.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t, const WanTextContext& text,
                        DebugTensors* debug = nullptr);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& context,
                        DebugTensors* debug = nullptr);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& context,
                        const torch::Tensor& clip_features, DebugTensors* debug = nullptr);

  nn::ConvNd patch_embedding{nullptr};
  std::shared_ptr<WanConditionEmbedderImpl> condition_embedder;
  torch::nn::ModuleList blocks{nullptr};
  torch::Tensor scale_shift_table;  // [1, 2, dim] (official head.modulation)
  nn::Linear proj_out{nullptr};

 private:
  torch::Tensor unpatchify(const torch::Tensor& tokens, const std::array<int64_t, 3>& grid) const;
  WanTransformerConfig config_;
  torch::ScalarType dtype_;
  torch::Device device_;
  AttentionOptions attention_;
  std::shared_ptr<RopeCache> rope_cache_;
};
TORCH_MODULE(WanTransformer3DModel);

// Per-latent-frame timesteps [B, F] -> per-token [B, F * H/ph * W/pw] for x of `latent_shape`
// [B, C, F, H, W]: the DiT's tokens are frame-major, so each frame's value is repeated over its
// patches (as WanTI2V builds (mask2[0][0][:, ::2, ::2] * t).flatten(), W22 wan/textimage2video.py).
torch::Tensor frame_to_token_timesteps(const torch::Tensor& t_frames, c10::IntArrayRef latent_shape,
                                       const std::array<int64_t, 3>& patch_size);

// Builds the model from its config and loads a canonical (diffusers-named) store strictly; logs
// one summary line (layout, dtype, parameters, seconds). `layout` only feeds the log line.
WanTransformer3DModel load_wan_transformer(const WanTransformerConfig& config, const io::TensorStore& store,
                                           torch::ScalarType dtype, const torch::Device& device,
                                           const std::string& layout = "diffusers");
WanTransformer3DModel load_wan_transformer(const WanModelSource& source, torch::ScalarType dtype,
                                           const torch::Device& device);

}  // namespace t2v::wan
