// Prompt -> context embeddings, as W21 wan/modules/t5.py T5EncoderModel.__call__ and
// wan/text2video.py use them: tokenize (text_len, padded), run the umT5 encoder with batch 1 per
// prompt, keep the first seq_len rows (seq_len = tokens incl. </s>). The DiT later zero-pads each
// context back to text_len rows (WanModel.forward; `context_padded` here).
// Deliberate difference: contexts are returned as fp32 (the reference returns the encoder dtype,
// bf16 in Wan; bf16 -> fp32 is exact, so nothing is lost).
#pragma once

#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

#include "t2v/text/tokenizer.h"
#include "t2v/text/umt5.h"

namespace t2v::wan {
struct WanModelSource;
}

namespace t2v::text {

struct TextEncoderOptions {
  // Where the encoder runs; may differ from the DiT's device (--text-encoder-device cpu keeps
  // umT5 on the CPU while the DiT uses the GPU, like Wan's --t5_cpu).
  torch::Device device = torch::kCPU;
  // Storage dtype of the weights. Default CPU fp32; the official setting is bf16 (official()).
  torch::Dtype dtype = torch::kFloat32;
  // Math dtype if different from `dtype` (e.g. bf16 storage, fp32 math on CPUs without fast bf16
  // matmul: each weight is converted just before use, at most one fp32 weight copy alive).
  c10::optional<torch::Dtype> compute_dtype;

  // Wan's setting: bf16 weights and math (wan_shared_cfg.t5_dtype) on `device`.
  static TextEncoderOptions official(const torch::Device& device);
};

class TextEncoder {
 public:
  // Builds the encoder in options.dtype on options.device and loads the weights strictly.
  TextEncoder(const wan::WanModelSource& source, const TextEncoderOptions& options = {});

  // One trimmed context per prompt: fp32 [seq_len_i, d_model] on the encoder's device.
  std::vector<torch::Tensor> encode(const std::vector<std::string>& prompts);
  // Wan's context_padded: fp32 [B, text_len, d_model], rows past seq_len exactly zero.
  torch::Tensor encode_padded(const std::vector<std::string>& prompts);
  // Zero-pads one trimmed context [L, d] to [text_len, d] (WanModel.forward's new_zeros padding).
  static torch::Tensor pad_context(const torch::Tensor& context, int64_t text_len);

  // Frees the encoder weights (the tokenizer stays); encode() afterwards is an error.
  void release();
  bool loaded() const { return !model_.is_empty(); }

  const UMT5Tokenizer& tokenizer() const { return tokenizer_; }
  int64_t text_len() const { return tokenizer_.text_len(); }
  int64_t d_model() const { return config_.d_model; }
  const TextEncoderOptions& options() const { return options_; }
  // The encoder module (throws when released).
  UMT5EncoderModel& model();

 private:
  UMT5Tokenizer tokenizer_;
  wan::UMT5Config config_;
  TextEncoderOptions options_;
  UMT5EncoderModel model_{nullptr};
};

}  // namespace t2v::text
