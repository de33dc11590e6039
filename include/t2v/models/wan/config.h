// Hyper-parameters of the Wan family components, read from the model's own config files:
// diffusers config.json (canonical), the official WanModel config.json / the single files'
// `__metadata__` JSON (`wan_config`, `umt5_config`, `wan_vae_config`), or - for real single files
// that carry no config - derived from tensor shapes as the official configs define them
// (spec §2.1, §3.1, §7). Unknown keys are ignored with a debug log; unsupported values are errors.
#pragma once

#include <array>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "t2v/io/tensor_store.h"

namespace t2v::wan {

// HF UMT5Config field names (text_encoder/config.json). Reference: W21 wan/modules/t5.py umt5_xxl.
struct UMT5Config {
  int64_t vocab_size = 256384;
  int64_t d_model = 4096;
  int64_t d_kv = 64;
  int64_t num_heads = 64;
  int64_t d_ff = 10240;
  int64_t num_layers = 24;
  int64_t num_buckets = 32;   // relative_attention_num_buckets
  int64_t max_distance = 128;  // relative_attention_max_distance
  double eps = 1e-6;          // layer_norm_epsilon
  int64_t pad_token_id = 0;
  int64_t eos_token_id = 1;

  int64_t inner_dim() const { return d_kv * num_heads; }
  static UMT5Config from_json(const nlohmann::json& j, const std::string& source);
  // From a store in HF layout (shared.weight, encoder.block.N...).
  static UMT5Config from_tensors(const io::TensorStore& store);
  nlohmann::json to_json() const;
};

// diffusers WanTransformer3DModel field names. Reference: W21 wan/modules/model.py WanModel.
struct WanTransformerConfig {
  std::string model_type = "t2v";  // t2v | i2v | flf2v | ti2v (official config field)
  std::array<int64_t, 3> patch_size = {1, 2, 2};
  int64_t num_heads = 12;           // num_attention_heads
  int64_t head_dim = 128;           // attention_head_dim
  int64_t in_channels = 16;
  int64_t out_channels = 16;
  int64_t text_dim = 4096;
  int64_t freq_dim = 256;
  int64_t ffn_dim = 8960;
  int64_t num_layers = 30;
  bool cross_attn_norm = true;
  bool qk_norm = true;              // "rms_norm_across_heads"
  double eps = 1e-6;
  int64_t image_dim = 0;            // 0 = none (I2V: 1280)
  int64_t added_kv_proj_dim = 0;    // 0 = none
  int64_t pos_embed_seq_len = 0;    // 0 = none (FLF2V: 514)
  int64_t rope_max_seq_len = 1024;
  int64_t text_len = 512;           // context rows the DiT pads to (official config only)

  int64_t dim() const { return num_heads * head_dim; }
  static WanTransformerConfig from_diffusers_json(const nlohmann::json& j, const std::string& source);
  // Official WanModel config.json, or the `wan_config` metadata of a single file.
  static WanTransformerConfig from_wan_json(const nlohmann::json& j, const std::string& source);
  // From a store in diffusers (canonical) layout: head count = dim / 128 as in every real model.
  static WanTransformerConfig from_tensors(const io::TensorStore& store);
  nlohmann::json to_json() const;
};

// diffusers AutoencoderKLWan field names. Reference: W21 wan/modules/vae.py WanVAE_.
struct WanVAEConfig {
  int64_t base_dim = 96;
  int64_t decoder_base_dim = 0;  // 0 = same as base_dim (Wan2.2: 256)
  int64_t z_dim = 16;
  std::vector<int64_t> dim_mult = {1, 2, 4, 4};
  int64_t num_res_blocks = 2;
  std::vector<double> attn_scales;
  std::vector<bool> temperal_downsample = {false, true, true};
  bool is_residual = false;      // Wan2.2 VAE
  int64_t in_channels = 3;
  int64_t out_channels = 3;
  int64_t patch_size = 0;        // 0 = none (Wan2.2: 2)
  int64_t scale_factor_spatial = 8;
  int64_t scale_factor_temporal = 4;
  std::vector<float> latents_mean;
  std::vector<float> latents_std;

  static WanVAEConfig from_diffusers_json(const nlohmann::json& j, const std::string& source);
  // `wan_vae_config` metadata (official constructor names: dim, z_dim, ...).
  static WanVAEConfig from_wan_json(const nlohmann::json& j, const std::string& source);
  // From a store in diffusers layout (Wan2.1 structure assumed: 16 or 48 latent channels).
  static WanVAEConfig from_tensors(const io::TensorStore& store);
  // The Wan2.2 VAE from its official key names and shapes (ComfyUI's wan2.2_vae.safetensors carries
  // no config): dims from the convs, num_res_blocks and temporal downsampling from the block layout.
  static WanVAEConfig wan22_from_official_tensors(const io::TensorStore& store);
  // Marks a config as the Wan2.2 VAE (W22 vae2_2.py Wan2_2_VAE): residual blocks, 2x2 patchify
  // (12 channels in and out), stride 16, its 48 latent statistics when none are given.
  void set_wan22();
  nlohmann::json to_json() const;
};

// The CLIP vision tower of Wan2.1's image-to-video models (models/wan/clip.h; methods in clip.cpp).
struct ClipVisionConfig {
  int64_t hidden_size = 1280;  // ViT-H/14 (W21 clip.py clip_xlm_roberta_vit_h_14: vision_dim 1280)
  int64_t intermediate_size = 5120;
  int64_t num_heads = 16;
  int64_t num_layers = 32;
  int64_t patch_size = 14;
  int64_t image_size = 224;
  double layer_norm_eps = 1e-5;
  // torchvision Normalize of W21 clip.py (OpenAI CLIP statistics); image_processor/ may restate them.
  std::array<float, 3> mean = {0.48145466f, 0.4578275f, 0.40821073f};
  std::array<float, 3> std = {0.26862954f, 0.26130258f, 0.27577711f};

  int64_t tokens() const { return (image_size / patch_size) * (image_size / patch_size) + 1; }  // + class token
  // transformers CLIPVisionConfig (image_encoder/config.json, or `clip_vision_config` metadata).
  static ClipVisionConfig from_hf_json(const nlohmann::json& j, const std::string& source);
  // From a store in transformers names (real single files carry no config): widths from the
  // shapes; heads only for the ViT-H width (1280 = 16 heads of 80), otherwise a config is needed.
  static ClipVisionConfig from_tensors(const io::TensorStore& store);
  // image_processor/preprocessor_config.json: image_mean / image_std.
  void read_preprocessor(const nlohmann::json& j, const std::string& source);
  nlohmann::json to_json() const;
};

// Wan2.1 latent normalisation constants (W21 vae.py WanVAE).
const std::vector<float>& wan21_latents_mean();
const std::vector<float>& wan21_latents_std();
// Wan2.2 VAE latent normalisation constants (W22 vae2_2.py Wan2_2_VAE).
const std::vector<float>& wan22_latents_mean();
const std::vector<float>& wan22_latents_std();

}  // namespace t2v::wan
