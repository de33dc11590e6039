// Where a Wan model comes from: a diffusers folder (model_index.json + tokenizer/, text_encoder/,
// transformer/, vae/, scheduler/) or ComfyUI-style single files (--transformer/--text-encoder/
// --vae [--tokenizer]). Opening maps the weights (nothing is read yet), detects each component's
// key layout, renames it to the canonical diffusers/HF names and resolves every config.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "t2v/io/tensor_store.h"
#include "t2v/models/wan/config.h"

namespace t2v::wan {

struct Component {
  std::string role;           // "text_encoder" | "transformer" | "vae"
  std::string class_name;     // "UMT5EncoderModel" | "WanTransformer3DModel" | "AutoencoderKLWan"
  std::string layout;         // key layout found on disk: "diffusers" | "hf" | "official" | "wan-t5"
  std::string config_origin;  // "config.json" | "metadata" | "tensor shapes"
  io::TensorStore store;      // keys renamed to the canonical layout
};

struct WanModelSource {
  std::string kind;  // "diffusers" | "single-file"
  std::filesystem::path root;
  Component text_encoder, transformer, vae;
  UMT5Config text_encoder_config;
  WanTransformerConfig transformer_config;
  WanVAEConfig vae_config;
  std::filesystem::path tokenizer_file;  // spiece.model on disk, or empty
  std::string tokenizer_blob;            // serialized SentencePiece model from `spiece_model`
  int64_t text_len = 512;                // prompt tokens incl. </s> (see resolve rule in .cpp)
  nlohmann::json scheduler_config;       // null when absent
};

struct SingleFilePaths {
  std::filesystem::path transformer, text_encoder, vae, tokenizer;  // tokenizer optional
};

WanModelSource open_diffusers_folder(const std::filesystem::path& dir);
WanModelSource open_single_files(const SingleFilePaths& paths);

// Canonicalises one component's store: detects the layout from its key set, strips ComfyUI's
// "model.diffusion_model." prefix, renames to diffusers/HF names. Exposed for tests and tools.
Component canonical_component(const std::string& role, io::TensorStore store, const WanVAEConfig* vae_config);

}  // namespace t2v::wan
