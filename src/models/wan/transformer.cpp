// Wan DiT top level. Mirrors W21 wan/modules/model.py WanModel.forward (patch embedding, time and
// text embeddings, blocks, Head, unpatchify); names follow DF transformer_wan.py
// WanTransformer3DModel. Deliberate differences: batched tensors instead of per-sample lists (the
// reference's list path equals this when every sample has the same grid, which one batch requires);
// no zero-padding of the token sequence to `seq_len` (single device: seq_len equals the token count);
// cross-attention keys/values prepared once per text context (encode_text).
#include "t2v/models/wan/transformer.h"

#include "t2v/log.h"
#include <torch/torch.h>

#include <chrono>
#include <sstream>

#include "condition_embedder.h"
#include "rope.h"
#include "t2v/error.h"
#include "t2v/io/state_dict_loader.h"
#include "transformer_block.h"

namespace t2v::wan {

namespace {
std::string shape_str(const torch::Tensor& t) {
  std::ostringstream os;
  os << t.sizes();
  return os.str();
}
}  // namespace

WanTransformer3DModelImpl::WanTransformer3DModelImpl(const WanTransformerConfig& config, torch::ScalarType dtype,
                                                     const torch::Device& device)
    : config_(config), dtype_(dtype), device_(device), rope_cache_(std::make_shared<RopeCache>(config.head_dim)) {
  const WanParamOptions options{torch::TensorOptions().dtype(dtype).device(device),
                                torch::TensorOptions().dtype(torch::kFloat).device(device)};
  const int64_t dim = config.dim();
  const auto& p = config.patch_size;
  patch_embedding = register_module(
      "patch_embedding", nn::ConvNd(config.in_channels, dim, std::vector<int64_t>{p[0], p[1], p[2]},
                                    std::vector<int64_t>{p[0], p[1], p[2]}, std::vector<int64_t>{0, 0, 0}, true,
                                    options.weights));
  condition_embedder = register_module("condition_embedder", std::make_shared<WanConditionEmbedderImpl>(config, options));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < config.num_layers; ++i) blocks->push_back(WanTransformerBlock(config, options));
  // The head is an fp32 island (reference Head.forward runs under autocast(float32)).
  scale_shift_table = register_parameter("scale_shift_table", torch::empty({1, 2, dim}, options.fp32), false);
  proj_out = register_module("proj_out", nn::Linear(dim, p[0] * p[1] * p[2] * config.out_channels, true, options.fp32));
}

WanTextContext WanTransformer3DModelImpl::encode_text(const torch::Tensor& context, DebugTensors* debug) {
  return encode_text(context, torch::Tensor(), debug);
}

WanTextContext WanTransformer3DModelImpl::encode_text(const torch::Tensor& context, const torch::Tensor& clip_features,
                                                      DebugTensors* debug) {
  const bool wants_image = static_cast<bool>(condition_embedder->image_embedder);
  if (wants_image != clip_features.defined()) {
    throw InputError(wants_image ? "transformer: this image-to-video DiT needs CLIP image features"
                                 : "transformer: this DiT takes no image features");
  }
  // No NoGradGuard: the trainer (tools/train_demo) back-propagates through the text embedder.
  if (context.dim() != 3 || context.size(2) != config_.text_dim || context.size(1) > config_.text_len) {
    throw InputError("transformer: text context must be [B, <= " + std::to_string(config_.text_len) + ", " +
                     std::to_string(config_.text_dim) + "], got " + shape_str(context));
  }
  auto ctx = context.to(device_, torch::kFloat);
  if (ctx.size(1) < config_.text_len) {
    // The reference pads every trimmed prompt with zero rows up to text_len before text_embedding.
    ctx = torch::constant_pad_nd(ctx, {0, 0, 0, config_.text_len - ctx.size(1)});  // [B, text_len, text_dim]
  }
  WanTextContext text;
  text.embedding = condition_embedder->text(ctx);  // [B, text_len, dim]
  if (debug) (*debug)["context_emb"] = text.embedding.clone();
  torch::Tensor image;
  if (wants_image) {
    image = condition_embedder->image_embedder->forward(clip_features.to(device_));  // [B, N, dim] fp32
    if (debug) (*debug)["img_emb"] = image.clone();
  }
  for (const auto& module : *blocks) {
    auto* attn2 = module->as<WanTransformerBlockImpl>()->attn2.get();
    auto kv = attn2->context_kv(text.embedding);
    text.keys.push_back(kv.k);
    text.values.push_back(kv.v);
    if (image.defined()) {
      auto img = attn2->image_kv(image);
      text.image_keys.push_back(img.k);
      text.image_values.push_back(img.v);
    }
  }
  return text;
}

torch::Tensor WanTransformer3DModelImpl::forward(const torch::Tensor& x, const torch::Tensor& t,
                                                 const torch::Tensor& context, DebugTensors* debug) {
  return forward(x, t, encode_text(context, debug), debug);
}

torch::Tensor WanTransformer3DModelImpl::forward(const torch::Tensor& x, const torch::Tensor& t,
                                                 const torch::Tensor& context, const torch::Tensor& clip_features,
                                                 DebugTensors* debug) {
  return forward(x, t, encode_text(context, clip_features, debug), debug);
}

torch::Tensor WanTransformer3DModelImpl::forward(const torch::Tensor& x_in, const torch::Tensor& t_in,
                                                 const WanTextContext& text, DebugTensors* debug) {
  // No NoGradGuard: the parameters do not require grad unless a trainer turns it on (then this
  // forward is differentiable); the pipeline runs under its own guard.
  const auto& p = config_.patch_size;
  if (x_in.dim() != 5 || x_in.size(1) != config_.in_channels) {
    throw InputError("transformer: latent must be [B, " + std::to_string(config_.in_channels) +
                     ", F, H, W], got " + shape_str(x_in));
  }
  for (int i = 0; i < 3; ++i) {
    if (x_in.size(2 + i) % p[i] != 0 || x_in.size(2 + i) / p[i] > config_.rope_max_seq_len) {
      throw InputError("transformer: latent " + shape_str(x_in) + " must have F, H, W divisible by the patch size (" +
                       std::to_string(p[0]) + ", " + std::to_string(p[1]) + ", " + std::to_string(p[2]) +
                       ") with at most " + std::to_string(config_.rope_max_seq_len) + " patches per axis");
    }
  }
  const int64_t batch = x_in.size(0);
  const std::array<int64_t, 3> grid = {x_in.size(2) / p[0], x_in.size(3) / p[1], x_in.size(4) / p[2]};
  const int64_t tokens = grid[0] * grid[1] * grid[2];
  const bool per_token_t = t_in.dim() == 2;
  if (!(t_in.dim() == 1 && t_in.size(0) == batch) && !(per_token_t && t_in.size(0) == batch && t_in.size(1) == tokens)) {
    throw InputError("transformer: timesteps must be [" + std::to_string(batch) + "] or [" + std::to_string(batch) +
                     ", " + std::to_string(tokens) + "], got " + shape_str(t_in));
  }
  if (text.batch() != batch && text.batch() != 1) {
    throw InputError("transformer: text context batch " + std::to_string(text.batch()) + " does not match latent batch " +
                     std::to_string(batch));
  }
  TORCH_CHECK(static_cast<int64_t>(text.keys.size()) == config_.num_layers, "text context built for another model");

  // Patch embedding: tokens in row-major (f, h, w) order.
  auto x = patch_embedding->forward(x_in.to(device_, dtype_));  // [B, dim, f, h, w]
  x = x.flatten(2).transpose(1, 2).contiguous();               // [B, L, dim]
  if (debug) (*debug)["x_patch"] = x.clone();

  auto [e, e0] = condition_embedder->time(t_in.to(device_));  // [B(, L), dim], [B(, L), 6, dim] fp32
  if (debug) {
    (*debug)["e"] = e.clone();
    (*debug)["e0"] = e0.clone();
  }

  auto rope = rope_cache_->get(grid, device_);
  for (size_t i = 0; i < blocks->size(); ++i) {
    CrossKV kv;
    kv.k = text.keys[i];
    kv.v = text.values[i];
    if (!text.image_keys.empty()) {
      kv.k_img = text.image_keys[i];
      kv.v_img = text.image_values[i];
    }
    if (text.batch() != batch) {
      kv.k = kv.k.expand({batch, -1, -1, -1});  // [B, Lc, H, D]
      kv.v = kv.v.expand({batch, -1, -1, -1});
      if (kv.k_img.defined()) {
        kv.k_img = kv.k_img.expand({batch, -1, -1, -1});
        kv.v_img = kv.v_img.expand({batch, -1, -1, -1});
      }
    }
    x = blocks[i]->as<WanTransformerBlockImpl>()->forward(x, e0, *rope, kv, attention_);  // [B, L, dim] fp32
    if (debug) (*debug)["block" + std::to_string(i) + "_out"] = x.clone();
  }

  // Head: modulated by e (the time embedding before SiLU/projection), all fp32.
  auto m = modulation(scale_shift_table, per_token_t ? e.unsqueeze(2) : e.unsqueeze(1));  // shift, scale
  auto h = layer_norm_fp32(x.to(torch::kFloat), config_.eps) * (1 + m[1]) + m[0];
  auto out = project(*proj_out, h);  // [B, L, prod(patch)·C_out] fp32
  if (debug) (*debug)["head_out"] = out.clone();
  return unpatchify(out, grid);
}

torch::Tensor WanTransformer3DModelImpl::unpatchify(const torch::Tensor& tokens, const std::array<int64_t, 3>& grid) const {
  const auto& p = config_.patch_size;
  const int64_t batch = tokens.size(0), c = config_.out_channels;
  // Each token's vector is (p_t, p_h, p_w, c) with c fastest (reference einsum 'fhwpqrc->cfphqwr').
  auto u = tokens.view({batch, grid[0], grid[1], grid[2], p[0], p[1], p[2], c});  // [B, f, h, w, pt, ph, pw, C]
  u = u.permute({0, 7, 1, 4, 2, 5, 3, 6});                                          // [B, C, f, pt, h, ph, w, pw]
  return u.reshape({batch, c, grid[0] * p[0], grid[1] * p[1], grid[2] * p[2]}).to(torch::kFloat);
}

WanTransformer3DModel load_wan_transformer(const WanTransformerConfig& config, const io::TensorStore& store,
                                           torch::ScalarType dtype, const torch::Device& device,
                                           const std::string& layout) {
  const auto start = std::chrono::steady_clock::now();
  WanTransformer3DModel model(config, dtype, device);
  const auto report = io::load_state_dict(*model, store, {"transformer", {}});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  t2v::logger().info("transformer: {} layout from {}, {} tensors, {:.2f}M parameters, {} (fp32 islands) on {}, "
               "{} layers, dim {}, {} heads, {:.2f} s",
               layout, store.source().string(), report.tensors, static_cast<double>(report.parameters) / 1e6,
               c10::toString(dtype), device.str(), config.num_layers, config.dim(), config.num_heads, seconds);
  return model;
}

torch::Tensor frame_to_token_timesteps(const torch::Tensor& t_frames, c10::IntArrayRef shape,
                                       const std::array<int64_t, 3>& patch) {
  if (t_frames.dim() != 2 || shape.size() != 5 || t_frames.size(1) * patch[0] != shape[2]) {
    throw InputError("transformer: per-frame timesteps must be [B, frames / " + std::to_string(patch[0]) + "]");
  }
  const int64_t per_frame = (shape[3] / patch[1]) * (shape[4] / patch[2]);
  return t_frames.repeat_interleave(per_frame, /*dim=*/1);  // [B, F'] -> [B, F' * H' * W']
}

WanTransformer3DModel load_wan_transformer(const WanModelSource& source, torch::ScalarType dtype,
                                           const torch::Device& device) {
  return load_wan_transformer(source.transformer_config, source.transformer.store, dtype, device,
                              source.transformer.layout);
}

}  // namespace t2v::wan
