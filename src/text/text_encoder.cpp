// TextEncoder: W21 wan/modules/t5.py T5EncoderModel (tokenizer + umT5 encoder) and the context
// handling of wan/text2video.py / WanModel.forward. See t2v/text/text_encoder.h.
#include "t2v/text/text_encoder.h"

#include "t2v/log.h"
#include <torch/torch.h>

#include <chrono>

#include "t2v/error.h"
#include "t2v/io/state_dict_loader.h"
#include "t2v/models/wan/model_source.h"

namespace t2v::text {

TextEncoderOptions TextEncoderOptions::official(const torch::Device& device) {
  TextEncoderOptions o;
  o.device = device;
  o.dtype = torch::kBFloat16;
  return o;
}

TextEncoder::TextEncoder(const wan::WanModelSource& source, const TextEncoderOptions& options)
    : tokenizer_(UMT5Tokenizer::from_source(source)), config_(source.text_encoder_config), options_(options) {
  const auto start = std::chrono::steady_clock::now();
  const auto& component = source.text_encoder;
  if (component.store.empty()) {
    throw WeightsError(source.root.string() + ": no text encoder weights in the model source");
  }
  UMT5Options model_options;
  model_options.dtype = options_.dtype;
  model_options.device = options_.device;
  model_options.compute_dtype = options_.compute_dtype;
  model_ = UMT5EncoderModel(config_, model_options);
  model_->eval();
  io::LoadOptions load_options;
  load_options.what = "text_encoder";
  const io::LoadReport report = io::load_state_dict(*model_, component.store, load_options);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::string dtype = c10::toString(options_.dtype);
  if (options_.compute_dtype && *options_.compute_dtype != options_.dtype) {
    dtype += std::string(" (math ") + c10::toString(*options_.compute_dtype) + ")";
  }
  t2v::logger().info("text encoder: umT5 {} layers, d_model {}, layout {}, config from {}, {} on {}, {:.1f}M params, "
               "{:.1f} s ({})",
               config_.num_layers, config_.d_model, component.layout, component.config_origin, dtype,
               options_.device.str(), static_cast<double>(report.parameters) / 1e6, seconds,
               component.store.source().string());
}

UMT5EncoderModel& TextEncoder::model() {
  if (model_.is_empty()) throw Error("text encoder: weights were released; create a new TextEncoder");
  return model_;
}

std::vector<torch::Tensor> TextEncoder::encode(const std::vector<std::string>& prompts) {
  auto& model = this->model();
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> out;
  out.reserve(prompts.size());
  // Batch 1 per prompt, as T5EncoderModel.__call__ is used by WanT2V (prompt, then negative).
  for (const auto& prompt : prompts) {
    const TokenizedPrompts tok = tokenizer_({prompt});
    const int64_t seq_len = tok.mask.sum().item<int64_t>();
    auto hidden = model->forward(tok.ids, tok.mask);                      // [1, text_len, d_model]
    out.push_back(hidden[0].slice(0, 0, seq_len).to(torch::kFloat32).contiguous());  // [seq_len, d_model]
  }
  return out;
}

torch::Tensor TextEncoder::pad_context(const torch::Tensor& context, int64_t text_len) {
  if (context.dim() != 2 || context.size(0) > text_len) {
    throw InputError("text context must be [L <= " + std::to_string(text_len) + ", d], got " +
                     c10::str(context.sizes()));
  }
  auto padded = torch::zeros({text_len, context.size(1)}, context.options());  // [text_len, d_model]
  padded.slice(0, 0, context.size(0)).copy_(context);
  return padded;
}

torch::Tensor TextEncoder::encode_padded(const std::vector<std::string>& prompts) {
  std::vector<torch::Tensor> rows;
  for (const auto& ctx : encode(prompts)) rows.push_back(pad_context(ctx, text_len()));
  if (rows.empty()) {
    return torch::zeros({0, text_len(), config_.d_model}, torch::TensorOptions().device(options_.device));
  }
  return torch::stack(rows);  // [B, text_len, d_model]
}

void TextEncoder::release() {
  if (model_.is_empty()) return;
  model_ = UMT5EncoderModel(nullptr);
  t2v::logger().debug("text encoder: weights released");
}

}  // namespace t2v::text
