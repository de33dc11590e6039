// Options shared by `t2v generate` and `t2v batch` (where they are the per-line defaults), their
// registration on a CLI11 command, and their conversion into pipeline settings with every
// cross-field check in one place.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "t2v/models/video_model.h"
#include "t2v/pipeline/pipeline.h"

namespace t2v::cli {

// Single-file components (ComfyUI-style): --transformer, --text-encoder, --vae, --tokenizer.
struct ModelFiles {
  std::filesystem::path transformer, text_encoder, vae, tokenizer;
  std::filesystem::path transformer_2;  // two-expert models: the low-noise expert
  std::filesystem::path image_encoder;  // Wan2.1 I2V / FLF2V: the CLIP vision tower
  bool any() const {
    return !transformer.empty() || !transformer_2.empty() || !text_encoder.empty() || !vae.empty() || !image_encoder.empty();
  }
};

// The library's model location for a folder or single files (the roles the families know).
models::ModelLocation model_location(const std::string& model_dir, const ModelFiles& files);

struct ModelOptions {
  std::string model_dir;
  ModelFiles files;
  std::string device = "auto";
  std::string dtype = "auto";
  std::string text_encoder_device = "auto";
  int threads = 0;
  std::optional<int> text_len;
  int vae_tile = 0;
  int vae_tile_overlap = 64;
};

// One generation's settings as the user gave them (unset = default).
struct GenerateOptions {
  std::optional<std::string> prompt;
  std::optional<std::string> negative_prompt;
  std::optional<int> width, height;
  std::optional<std::string> size, resolution, aspect;
  std::optional<int> frames;
  std::optional<double> duration;
  std::optional<std::string> fps;
  std::optional<int> steps;         // default: the model's (_t2v_defaults), else 50
  std::optional<double> guidance;   // default: the model's, else 5.0
  std::optional<double> guidance_2; // two-expert models: the low-noise expert's (default: the model's)
  std::optional<double> shift;      // default: the model's, else 5.0
  std::optional<std::string> sampler;  // default: the model's, else unipc
  std::optional<uint64_t> seed;
  std::optional<std::string> output;
  int crf = 18;
  std::string codec = "h264";
  std::string save_intermediates;
  std::string save_latents;
  // Conditions (images and clips).
  std::optional<std::string> image, last_image, init_video, extend;
  std::optional<double> strength;
  bool backward = false;
  std::optional<int> overlap;
  std::vector<std::string> join;  // A B
  std::vector<std::string> cond;  // FILE@FRAME[:STRENGTH]
  std::string fit;  // empty: the model's default (crop; stretch on Wan image-to-video models)
  std::optional<int64_t> max_area;
};

void add_model_options(CLI::App* cmd, ModelOptions* o);
// `with_prompt`: generate has -p; batch takes prompts from its file.
void add_generate_options(CLI::App* cmd, GenerateOptions* o, bool with_prompt);
// --image, --last-image, --init-video/--strength, --extend/--backward/--overlap, --join, --cond,
// --fit, --max-area (generate; batch takes them as per-line defaults).
void add_condition_options(CLI::App* cmd, GenerateOptions* o);

// Applies one JSON object of overrides (batch .jsonl line) onto `o`. UsageError naming the key on
// an unknown key or a value of the wrong type.
void apply_overrides(GenerateOptions& o, const nlohmann::json& line);

// "fp32" | "bf16" | "fp16"; anything else ("auto") = bf16 on CUDA, fp32 on CPU, as the official code.
torch::ScalarType parse_dtype(const std::string& d, const torch::Device& device);

// Opens the model (folder, single files, or the bundled demo model) and builds the pipeline.
std::unique_ptr<pipeline::Pipeline> make_pipeline(const ModelOptions& m);

// Resolves defaults and validates; `default_output` is used when o.output is unset.
pipeline::GenerationSettings resolve_settings(const GenerateOptions& o, const pipeline::Pipeline& p,
                                              const std::string& default_output);

// A filesystem-friendly slug of a prompt ("a red fox running" -> "a-red-fox-running").
std::string slugify(const std::string& text, size_t max_len = 48);
uint64_t random_seed();

}  // namespace t2v::cli
