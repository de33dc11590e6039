// Helpers of tools/train_demo.cpp: parameter initialisation for training, the loss log, the
// diffusers-layout writers (config.json formats that src/models/wan/config.cpp reads back).
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "t2v/models/wan/config.h"

namespace t2v::demo_train {

// The project's layers are built without initialisation and with requires_grad=false (they are
// meant to be loaded). For training: biases 0, norm gains 1, Wan's modulation tables
// randn/sqrt(dim), other weights PyTorch's default fan-in uniform bound 1/sqrt(fan_in) (conv) or
// Xavier (linear), drawn from torch's global generator (seed it first); then requires_grad=true.
// embedding_std > 0: the DiT's time/text embedding MLPs (condition_embedder.*) from N(0, std) instead
// (W21 init_weights: 0.02).
void init_for_training(torch::nn::Module& module, double embedding_std = 0.0);

// Number of parameters and fp32 bytes.
int64_t parameter_count(torch::nn::Module& module);

// Writes every named parameter (diffusers names: the module tree uses them) to a safetensors file.
void save_module(torch::nn::Module& module, const std::filesystem::path& path);
// Copies parameters by name from `from` into `to` (same architecture; `to` may live on another
// device) and makes `to`'s parameters require grad; throws on a mismatch.
void copy_parameters(torch::nn::Module& from, torch::nn::Module& to);
// Loads a safetensors file written by save_module into `module` (strict).
void load_module(torch::nn::Module& module, const std::filesystem::path& path);

// diffusers config.json contents.
nlohmann::json vae_config_json(const wan::WanVAEConfig& c);
nlohmann::json transformer_config_json(const wan::WanTransformerConfig& c);
void write_json(const std::filesystem::path& path, const nlohmann::json& j);

// Appends "stage,step,loss,lr,seconds" rows to a CSV file (header on creation), flushed per row
// so a crashed or interrupted run keeps its curve.
class LossLog {
 public:
  explicit LossLog(const std::filesystem::path& path);
  // Drops the rows of `stage` from step `from_step` on (a fresh stage: 0; a resumed one: its
  // first step), so the file holds exactly one curve per stage.
  void prune(const std::string& stage, int64_t from_step);
  void add(const std::string& stage, int64_t step, double loss, double lr, double seconds);

 private:
  std::filesystem::path path_;
  std::ofstream out_;
};

// Learning rate with linear warm-up then cosine decay to 10%.
double lr_at(int64_t step, int64_t total, int64_t warmup, double peak);

// Global-norm gradient clipping over `params`; returns the norm before clipping.
double clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm);

inline double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace t2v::demo_train
