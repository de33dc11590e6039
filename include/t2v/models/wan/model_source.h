// Where a Wan model comes from: a diffusers folder (model_index.json + tokenizer/, text_encoder/,
// transformer/, vae/, scheduler/) or ComfyUI-style single files (--transformer/--text-encoder/
// --vae [--tokenizer]). Opening maps the weights (nothing is read yet), detects each component's
// key layout, renames it to the canonical diffusers/HF names and resolves every config.
#pragma once

#include <filesystem>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>

#include "t2v/io/tensor_store.h"
#include "t2v/models/wan/config.h"

namespace t2v::wan {

struct Component {
  std::string role;           // "text_encoder" | "transformer" | "vae" | "image_encoder"
  std::string class_name;     // "UMT5EncoderModel" | "WanTransformer3DModel" | "AutoencoderKLWan" | "CLIPVisionModel"
  std::string layout;         // key layout found on disk: "diffusers" | "hf" | "official" | "wan-t5" | "open-clip"
  std::string config_origin;  // "config.json" | "metadata" | "tensor shapes"
  io::TensorStore store;      // keys renamed to the canonical layout
};

// Generation defaults a model folder may declare in model_index.json under "_t2v_defaults"
// (diffusers skips "_" keys): e.g. the bundled demo model's 64x64, 17 frames. Unset = Wan's.
struct GenerationDefaults {
  std::optional<int> width, height, frames, steps;
  std::optional<double> guidance, guidance_2, shift;
  std::optional<std::string> sampler, negative_prompt;
};
// Parses the "_t2v_defaults" object; ConfigError naming `origin` and the key on a bad value.
GenerationDefaults parse_generation_defaults(const nlohmann::json& j, const std::string& origin);

struct WanModelSource {
  std::string kind;  // "diffusers" | "single-file"
  std::filesystem::path root;
  Component text_encoder, transformer, vae;
  UMT5Config text_encoder_config;
  WanTransformerConfig transformer_config;
  // Wan2.2 A14B: `transformer` is the high-noise expert, `transformer_2` the low-noise one (diffusers
  // WanPipeline; official high_noise_model/ and low_noise_model/). The switch is at
  // boundary_ratio x num_train_timesteps: the folder's model_index.json "boundary_ratio", else the
  // official config's (T2V 0.875, I2V 0.9).
  bool two_experts = false;
  Component transformer_2;
  WanTransformerConfig transformer_2_config;
  double boundary_ratio = 0;
  WanVAEConfig vae_config;
  // Wan2.1 I2V / FLF2V: the CLIP vision tower (folder image_encoder/ + image_processor/, or
  // ComfyUI's clip_vision_h file). Absent for every other model.
  bool has_image_encoder = false;
  Component image_encoder;
  ClipVisionConfig image_encoder_config;
  std::filesystem::path tokenizer_file;  // spiece.model on disk, or empty
  std::string tokenizer_blob;            // serialized SentencePiece model from `spiece_model`
  int64_t text_len = 512;                // prompt tokens incl. </s> (see resolve rule in .cpp)
  nlohmann::json scheduler_config;       // null when absent
  GenerationDefaults defaults;           // from model_index.json "_t2v_defaults"
};

struct SingleFilePaths {
  std::filesystem::path transformer, text_encoder, vae, tokenizer;  // tokenizer optional
  std::filesystem::path transformer_2;  // the low-noise expert of a two-expert model (optional)
  std::filesystem::path image_encoder;  // CLIP vision tower of Wan2.1 I2V / FLF2V (optional)
};

WanModelSource open_diffusers_folder(const std::filesystem::path& dir);
WanModelSource open_single_files(const SingleFilePaths& paths);

// Canonicalises one component's store: detects the layout from its key set, strips ComfyUI's
// "model.diffusion_model." prefix, renames to diffusers/HF names. Exposed for tests and tools.
Component canonical_component(const std::string& role, io::TensorStore store, const WanVAEConfig* vae_config);

}  // namespace t2v::wan
