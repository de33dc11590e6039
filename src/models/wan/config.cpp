#include "t2v/models/wan/config.h"

#include <spdlog/spdlog.h>

#include <set>

#include "t2v/error.h"
#include "t2v/io/json_file.h"

namespace t2v::wan {
using io::json_get;
using io::json_require;
using nlohmann::json;

namespace {
void check_positive(int64_t v, const char* key, const std::string& source) {
  if (v <= 0) throw ConfigError(source + ": \"" + key + "\" must be positive, got " + std::to_string(v));
}

int64_t count_indexed(const io::TensorStore& store, const std::string& prefix) {
  std::set<int64_t> ids;
  for (const auto& k : store.keys()) {
    if (k.compare(0, prefix.size(), prefix) != 0) continue;
    size_t end = prefix.size();
    while (end < k.size() && std::isdigit(static_cast<unsigned char>(k[end]))) ++end;
    if (end > prefix.size()) ids.insert(std::stoll(k.substr(prefix.size(), end - prefix.size())));
  }
  return static_cast<int64_t>(ids.size());
}

// Callers keep copies (small: shape + dtype): GCC 13's -Wdangling-reference flags a reference returned
// through a call that took a temporary key string, although it points into `store`.
const io::TensorInfo& need(const io::TensorStore& store, const std::string& key, const char* what) {
  if (!store.contains(key)) {
    throw WeightsError(store.source().string() + ": cannot derive the " + what + " config: no tensor '" +
                       key + "'");
  }
  return store.info(key);
}
}  // namespace

// ---------------------------------------------------------------------------------------- UMT5

UMT5Config UMT5Config::from_json(const json& j, const std::string& source) {
  UMT5Config c;
  c.vocab_size = json_require<int64_t>(j, "vocab_size", source);
  c.d_model = json_require<int64_t>(j, "d_model", source);
  c.d_kv = json_require<int64_t>(j, "d_kv", source);
  c.num_heads = json_require<int64_t>(j, "num_heads", source);
  c.d_ff = json_require<int64_t>(j, "d_ff", source);
  c.num_layers = json_require<int64_t>(j, "num_layers", source);
  c.num_buckets = json_get<int64_t>(j, "relative_attention_num_buckets", 32, source);
  c.max_distance = json_get<int64_t>(j, "relative_attention_max_distance", 128, source);
  c.eps = json_get<double>(j, "layer_norm_epsilon", 1e-6, source);
  c.pad_token_id = json_get<int64_t>(j, "pad_token_id", 0, source);
  c.eos_token_id = json_get<int64_t>(j, "eos_token_id", 1, source);
  const std::string act = json_get<std::string>(j, "dense_act_fn", "gelu_new", source);
  const std::string ffp = json_get<std::string>(j, "feed_forward_proj", "gated-gelu", source);
  if ((act != "gelu_new" && act != "gelu_pytorch_tanh") || ffp != "gated-gelu") {
    throw ConfigError(source + ": only the gated tanh-GELU feed-forward of umT5 is supported (got "
                      "dense_act_fn \"" + act + "\", feed_forward_proj \"" + ffp + "\")");
  }
  for (auto [v, k] : {std::pair{c.vocab_size, "vocab_size"}, {c.d_model, "d_model"}, {c.d_kv, "d_kv"},
                      {c.num_heads, "num_heads"}, {c.d_ff, "d_ff"}, {c.num_layers, "num_layers"},
                      {c.num_buckets, "relative_attention_num_buckets"}}) {
    check_positive(v, k, source);
  }
  return c;
}

UMT5Config UMT5Config::from_tensors(const io::TensorStore& store) {
  UMT5Config c;
  const io::TensorInfo emb = need(store, "shared.weight", "umT5");
  const io::TensorInfo bias = need(store, "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", "umT5");
  const io::TensorInfo q = need(store, "encoder.block.0.layer.0.SelfAttention.q.weight", "umT5");
  const io::TensorInfo wi = need(store, "encoder.block.0.layer.1.DenseReluDense.wi_0.weight", "umT5");
  c.vocab_size = emb.shape.at(0);
  c.d_model = emb.shape.at(1);
  c.num_buckets = bias.shape.at(0);
  c.num_heads = bias.shape.at(1);
  c.d_kv = q.shape.at(0) / c.num_heads;
  c.d_ff = wi.shape.at(0);
  c.num_layers = count_indexed(store, "encoder.block.");
  return c;
}

json UMT5Config::to_json() const {
  return {{"vocab_size", vocab_size}, {"d_model", d_model}, {"d_kv", d_kv}, {"num_heads", num_heads},
          {"d_ff", d_ff}, {"num_layers", num_layers}, {"relative_attention_num_buckets", num_buckets},
          {"relative_attention_max_distance", max_distance}, {"layer_norm_epsilon", eps}};
}

// ------------------------------------------------------------------------------------ DiT

namespace {
void validate(const WanTransformerConfig& c, const std::string& source) {
  for (auto [v, k] : {std::pair{c.num_heads, "num_attention_heads"}, {c.head_dim, "attention_head_dim"},
                      {c.in_channels, "in_channels"}, {c.out_channels, "out_channels"},
                      {c.text_dim, "text_dim"}, {c.freq_dim, "freq_dim"}, {c.ffn_dim, "ffn_dim"},
                      {c.num_layers, "num_layers"}}) {
    check_positive(v, k, source);
  }
  if (c.head_dim % 2 != 0) throw ConfigError(source + ": attention_head_dim must be even for RoPE");
  if (c.freq_dim % 2 != 0) throw ConfigError(source + ": freq_dim must be even");
  for (auto p : c.patch_size) check_positive(p, "patch_size", source);
}
}  // namespace

WanTransformerConfig WanTransformerConfig::from_diffusers_json(const json& j, const std::string& source) {
  WanTransformerConfig c;
  c.num_heads = json_require<int64_t>(j, "num_attention_heads", source);
  c.head_dim = json_require<int64_t>(j, "attention_head_dim", source);
  c.in_channels = json_get<int64_t>(j, "in_channels", 16, source);
  c.out_channels = json_get<int64_t>(j, "out_channels", 16, source);
  c.text_dim = json_get<int64_t>(j, "text_dim", 4096, source);
  c.freq_dim = json_get<int64_t>(j, "freq_dim", 256, source);
  c.ffn_dim = json_require<int64_t>(j, "ffn_dim", source);
  c.num_layers = json_require<int64_t>(j, "num_layers", source);
  c.cross_attn_norm = json_get<bool>(j, "cross_attn_norm", true, source);
  c.eps = json_get<double>(j, "eps", 1e-6, source);
  c.image_dim = json_get<int64_t>(j, "image_dim", 0, source);
  c.added_kv_proj_dim = json_get<int64_t>(j, "added_kv_proj_dim", 0, source);
  c.pos_embed_seq_len = json_get<int64_t>(j, "pos_embed_seq_len", 0, source);
  c.rope_max_seq_len = json_get<int64_t>(j, "rope_max_seq_len", 1024, source);
  auto patch = json_get<std::vector<int64_t>>(j, "patch_size", {1, 2, 2}, source);
  if (patch.size() != 3) throw ConfigError(source + ": \"patch_size\" must have 3 entries");
  c.patch_size = {patch[0], patch[1], patch[2]};
  const std::string qk = json_get<std::string>(j, "qk_norm", "rms_norm_across_heads", source);
  if (qk != "rms_norm_across_heads") {
    throw ConfigError(source + ": \"qk_norm\" \"" + qk + "\" is not supported (expected rms_norm_across_heads)");
  }
  // diffusers has no model_type: CLIP image context -> Wan2.1 I2V/FLF2V; more input than output
  // channels (noise + mask + image latent, no image context) -> Wan2.2 I2V; 48 latent channels -> TI2V.
  c.model_type = c.image_dim                         ? (c.pos_embed_seq_len ? "flf2v" : "i2v")
                 : c.in_channels > c.out_channels ? "i2v"
                 : c.in_channels == 48            ? "ti2v"
                                                  : "t2v";
  validate(c, source);
  return c;
}

WanTransformerConfig WanTransformerConfig::from_wan_json(const json& j, const std::string& source) {
  WanTransformerConfig c;
  const int64_t dim = json_require<int64_t>(j, "dim", source);
  c.num_heads = json_require<int64_t>(j, "num_heads", source);
  check_positive(c.num_heads, "num_heads", source);
  if (dim % c.num_heads != 0) {
    throw ConfigError(source + ": \"dim\" " + std::to_string(dim) + " is not a multiple of \"num_heads\" " +
                      std::to_string(c.num_heads));
  }
  c.head_dim = dim / c.num_heads;
  c.model_type = json_get<std::string>(j, "model_type", "t2v", source);
  c.in_channels = json_get<int64_t>(j, "in_dim", 16, source);
  c.out_channels = json_get<int64_t>(j, "out_dim", 16, source);
  c.text_dim = json_get<int64_t>(j, "text_dim", 4096, source);
  c.freq_dim = json_get<int64_t>(j, "freq_dim", 256, source);
  c.ffn_dim = json_require<int64_t>(j, "ffn_dim", source);
  c.num_layers = json_require<int64_t>(j, "num_layers", source);
  c.cross_attn_norm = json_get<bool>(j, "cross_attn_norm", true, source);
  c.qk_norm = json_get<bool>(j, "qk_norm", true, source);
  c.eps = json_get<double>(j, "eps", 1e-6, source);
  c.text_len = json_get<int64_t>(j, "text_len", 512, source);
  auto patch = json_get<std::vector<int64_t>>(j, "patch_size", {1, 2, 2}, source);
  if (patch.size() != 3) throw ConfigError(source + ": \"patch_size\" must have 3 entries");
  c.patch_size = {patch[0], patch[1], patch[2]};
  auto window = json_get<std::vector<int64_t>>(j, "window_size", {-1, -1}, source);
  if (window != std::vector<int64_t>{-1, -1}) {
    throw ConfigError(source + ": local attention (\"window_size\" " + json(window).dump() + ") is not supported");
  }
  if (!c.qk_norm) throw ConfigError(source + ": \"qk_norm\": false is not supported");
  if (c.model_type == "i2v" || c.model_type == "flf2v") {
    c.image_dim = 1280;
    c.added_kv_proj_dim = dim;
    if (c.model_type == "flf2v") c.pos_embed_seq_len = 514;
  }
  validate(c, source);
  return c;
}

WanTransformerConfig WanTransformerConfig::from_tensors(const io::TensorStore& store) {
  WanTransformerConfig c;
  const io::TensorInfo patch = need(store, "patch_embedding.weight", "transformer");  // [dim, in, pt, ph, pw]
  const io::TensorInfo text = need(store, "condition_embedder.text_embedder.linear_1.weight", "transformer");
  const io::TensorInfo time = need(store, "condition_embedder.time_embedder.linear_1.weight", "transformer");
  const io::TensorInfo ffn = need(store, "blocks.0.ffn.net.0.proj.weight", "transformer");
  const io::TensorInfo out = need(store, "proj_out.weight", "transformer");  // [prod(patch)*out, dim]
  if (patch.shape.size() != 5) {
    throw WeightsError(store.source().string() + ": patch_embedding.weight must be 5-D");
  }
  const int64_t dim = patch.shape[0];
  // Every released Wan DiT uses 128-wide heads (spec §2.1); tiny or custom models must carry a config.
  if (dim % 128 != 0) {
    throw WeightsError(store.source().string() + ": model width " + std::to_string(dim) +
                       " is not a multiple of 128; the head count cannot be derived - provide a config "
                       "(wan_config metadata or a config.json)");
  }
  c.head_dim = 128;
  c.num_heads = dim / 128;
  c.in_channels = patch.shape[1];
  c.patch_size = {patch.shape[2], patch.shape[3], patch.shape[4]};
  c.text_dim = text.shape.at(1);
  c.freq_dim = time.shape.at(1);
  c.ffn_dim = ffn.shape.at(0);
  c.out_channels = out.shape.at(0) / (c.patch_size[0] * c.patch_size[1] * c.patch_size[2]);
  c.num_layers = count_indexed(store, "blocks.");
  if (store.contains("condition_embedder.image_embedder.norm1.weight")) {
    c.image_dim = store.info("condition_embedder.image_embedder.norm1.weight").shape.at(0);
    c.added_kv_proj_dim = dim;
    c.model_type = "i2v";
    if (store.contains("condition_embedder.image_embedder.pos_embed")) {
      c.pos_embed_seq_len = store.info("condition_embedder.image_embedder.pos_embed").shape.at(1);
      c.model_type = "flf2v";
    }
  } else if (c.in_channels == 48) {
    c.model_type = "ti2v";
  } else if (c.in_channels == 36) {
    c.model_type = "i2v";  // Wan2.2 I2V-A14B: image latent channels, no CLIP
  }
  return c;
}

json WanTransformerConfig::to_json() const {
  return {{"model_type", model_type}, {"dim", dim()}, {"num_attention_heads", num_heads},
          {"attention_head_dim", head_dim}, {"in_channels", in_channels}, {"out_channels", out_channels},
          {"text_dim", text_dim}, {"freq_dim", freq_dim}, {"ffn_dim", ffn_dim}, {"num_layers", num_layers},
          {"patch_size", patch_size}, {"cross_attn_norm", cross_attn_norm}, {"eps", eps},
          {"text_len", text_len}};
}

// ------------------------------------------------------------------------------------ VAE

const std::vector<float>& wan21_latents_mean() {
  static const std::vector<float> v = {-0.7571f, -0.7089f, -0.9113f, 0.1075f,  -0.1745f, 0.9653f,
                                       -0.1517f, 1.5508f,  0.4134f,  -0.0715f, 0.5517f,  -0.3632f,
                                       -0.1922f, -0.9497f, 0.2503f,  -0.2921f};
  return v;
}

const std::vector<float>& wan21_latents_std() {
  static const std::vector<float> v = {2.8184f, 1.4541f, 2.3275f, 2.6558f, 1.2196f, 1.7708f,
                                       2.6052f, 2.0743f, 3.2687f, 2.1526f, 2.8652f, 1.5579f,
                                       1.6382f, 1.1253f, 2.8251f, 1.9160f};
  return v;
}

const std::vector<float>& wan22_latents_mean() {
  static const std::vector<float> v = {
      -0.2289f, -0.0052f, -0.1323f, -0.2339f, -0.2799f, 0.0174f,  0.1838f,  0.1557f,  -0.1382f, 0.0542f,
      0.2813f,  0.0891f,  0.1570f,  -0.0098f, 0.0375f,  -0.1825f, -0.2246f, -0.1207f, -0.0698f, 0.5109f,
      0.2665f,  -0.2108f, -0.2158f, 0.2502f,  -0.2055f, -0.0322f, 0.1109f,  0.1567f,  -0.0729f, 0.0899f,
      -0.2799f, -0.1230f, -0.0313f, -0.1649f, 0.0117f,  0.0723f,  -0.2839f, -0.2083f, -0.0520f, 0.3748f,
      0.0152f,  0.1957f,  0.1433f,  -0.2944f, 0.3573f,  -0.0548f, -0.1681f, -0.0667f};
  return v;
}

const std::vector<float>& wan22_latents_std() {
  static const std::vector<float> v = {
      0.4765f, 1.0364f, 0.4514f, 1.1677f, 0.5313f, 0.4990f, 0.4818f, 0.5013f, 0.8158f, 1.0344f, 0.5894f, 1.0901f,
      0.6885f, 0.6165f, 0.8454f, 0.4978f, 0.5759f, 0.3523f, 0.7135f, 0.6804f, 0.5833f, 1.4146f, 0.8986f, 0.5659f,
      0.7069f, 0.5338f, 0.4889f, 0.4917f, 0.4069f, 0.4999f, 0.6866f, 0.4093f, 0.5709f, 0.6065f, 0.6415f, 0.4944f,
      0.5726f, 1.2042f, 0.5458f, 1.6887f, 0.3971f, 1.0600f, 0.3943f, 0.5537f, 0.5444f, 0.4089f, 0.7468f, 0.7744f};
  return v;
}

void WanVAEConfig::set_wan22() {
  is_residual = true;
  patch_size = 2;
  in_channels = out_channels = 12;
  scale_factor_spatial = 16;
  if (z_dim == 48 && latents_mean.empty()) latents_mean = wan22_latents_mean();
  if (z_dim == 48 && latents_std.empty()) latents_std = wan22_latents_std();
}

namespace {
// A VAE of another latent width (the Wan2.2 VAE: 48) has no Wan2.1 statistics to fall back on.
[[noreturn]] void refuse_latent_width(const std::string& source, int64_t z_dim) {
  throw ConfigError(source + ": a VAE with " + std::to_string(z_dim) + " latent channels" +
                    (z_dim == 48 ? " (the Wan2.2 VAE)" : "") +
                    " and no latent statistics (latents_mean / latents_std); t2v knows those of the Wan2.1 (16) "
                    "and Wan2.2 (48) VAEs only");
}

void finish_vae(WanVAEConfig& c, const std::string& source) {
  check_positive(c.base_dim, "base_dim", source);
  check_positive(c.z_dim, "z_dim", source);
  check_positive(c.num_res_blocks, "num_res_blocks", source);
  if (c.dim_mult.empty()) throw ConfigError(source + ": \"dim_mult\" is empty");
  if (c.temperal_downsample.size() + 1 != c.dim_mult.size()) {
    throw ConfigError(source + ": \"temperal_downsample\" needs " + std::to_string(c.dim_mult.size() - 1) +
                      " entries (one per down-sampling stage)");
  }
  if (c.z_dim != 16 && (c.latents_mean.empty() || c.latents_std.empty())) refuse_latent_width(source, c.z_dim);
  if (c.latents_mean.empty() && c.z_dim == 16) c.latents_mean = wan21_latents_mean();
  if (c.latents_std.empty() && c.z_dim == 16) c.latents_std = wan21_latents_std();
  if (static_cast<int64_t>(c.latents_mean.size()) != c.z_dim ||
      static_cast<int64_t>(c.latents_std.size()) != c.z_dim) {
    throw ConfigError(source + ": \"latents_mean\"/\"latents_std\" need " + std::to_string(c.z_dim) + " values");
  }
}
}  // namespace

WanVAEConfig WanVAEConfig::from_diffusers_json(const json& j, const std::string& source) {
  WanVAEConfig c;
  c.base_dim = json_get<int64_t>(j, "base_dim", 96, source);
  c.decoder_base_dim = json_get<int64_t>(j, "decoder_base_dim", 0, source);
  c.z_dim = json_get<int64_t>(j, "z_dim", 16, source);
  c.dim_mult = json_get<std::vector<int64_t>>(j, "dim_mult", {1, 2, 4, 4}, source);
  c.num_res_blocks = json_get<int64_t>(j, "num_res_blocks", 2, source);
  c.attn_scales = json_get<std::vector<double>>(j, "attn_scales", {}, source);
  c.temperal_downsample = json_get<std::vector<bool>>(j, "temperal_downsample", {false, true, true}, source);
  c.is_residual = json_get<bool>(j, "is_residual", false, source);
  c.in_channels = json_get<int64_t>(j, "in_channels", 3, source);
  c.out_channels = json_get<int64_t>(j, "out_channels", 3, source);
  c.patch_size = json_get<int64_t>(j, "patch_size", 0, source);
  c.scale_factor_spatial = json_get<int64_t>(j, "scale_factor_spatial", 8, source);
  c.scale_factor_temporal = json_get<int64_t>(j, "scale_factor_temporal", 4, source);
  c.latents_mean = json_get<std::vector<float>>(j, "latents_mean", {}, source);
  c.latents_std = json_get<std::vector<float>>(j, "latents_std", {}, source);
  finish_vae(c, source);
  return c;
}

WanVAEConfig WanVAEConfig::from_wan_json(const json& j, const std::string& source) {
  WanVAEConfig c;
  c.base_dim = json_get<int64_t>(j, "dim", 96, source);
  c.z_dim = json_get<int64_t>(j, "z_dim", 16, source);
  c.dim_mult = json_get<std::vector<int64_t>>(j, "dim_mult", {1, 2, 4, 4}, source);
  c.num_res_blocks = json_get<int64_t>(j, "num_res_blocks", 2, source);
  c.attn_scales = json_get<std::vector<double>>(j, "attn_scales", {}, source);
  c.temperal_downsample = json_get<std::vector<bool>>(j, "temperal_downsample", {false, true, true}, source);
  // W22 WanVAE_(dim, dec_dim, ...): only the Wan2.2 VAE has its own decoder width.
  if (j.contains("dec_dim")) {
    c.decoder_base_dim = json_get<int64_t>(j, "dec_dim", 0, source);
    c.set_wan22();
  }
  finish_vae(c, source);
  return c;
}

WanVAEConfig WanVAEConfig::from_tensors(const io::TensorStore& store) {
  WanVAEConfig c;
  const io::TensorInfo conv_in = need(store, "encoder.conv_in.weight", "VAE");    // [base_dim, 3, 3, 3, 3]
  const io::TensorInfo post = need(store, "post_quant_conv.weight", "VAE");       // [z, z, 1, 1, 1]
  c.base_dim = conv_in.shape.at(0);
  c.in_channels = conv_in.shape.at(1);
  c.z_dim = post.shape.at(0);
  finish_vae(c, store.source().string());  // refuses other latent widths: shapes carry no latent statistics
  return c;
}

WanVAEConfig WanVAEConfig::wan22_from_official_tensors(const io::TensorStore& store) {
  WanVAEConfig c;
  const std::string src = store.source().string();
  const auto conv1 = need(store, "encoder.conv1.weight", "Wan2.2 VAE");  // [dim, 12, 3, 3, 3]
  c.base_dim = conv1.shape.at(0);
  c.z_dim = need(store, "conv2.weight", "Wan2.2 VAE").shape.at(0);       // [z, z, 1, 1, 1]
  c.decoder_base_dim = need(store, "decoder.head.2.weight", "Wan2.2 VAE").shape.at(1);  // [12, dec_dim, 3, 3, 3]
  // Encoder block i: downsamples.i.downsamples.{0..n-1} residual blocks, then an optional Resample
  // (with time_conv when it also halves time); the block's width is dim * dim_mult[i].
  c.num_res_blocks = 0;
  while (store.contains("encoder.downsamples.0.downsamples." + std::to_string(c.num_res_blocks) + ".residual.0.gamma")) {
    ++c.num_res_blocks;
  }
  c.dim_mult.clear();
  c.temperal_downsample.clear();
  for (int64_t i = 0;; ++i) {
    const std::string block = "encoder.downsamples." + std::to_string(i) + ".downsamples.";
    if (!store.contains(block + "0.residual.2.weight")) break;
    const int64_t width = store.info(block + "0.residual.2.weight").shape.at(0);
    if (width % c.base_dim) throw WeightsError(src + ": encoder block " + std::to_string(i) + " width is not a multiple of dim");
    c.dim_mult.push_back(width / c.base_dim);
    const std::string resample = block + std::to_string(c.num_res_blocks) + ".";
    if (store.contains(resample + "resample.1.weight")) c.temperal_downsample.push_back(store.contains(resample + "time_conv.weight"));
  }
  c.set_wan22();
  finish_vae(c, src);
  return c;
}

json WanVAEConfig::to_json() const {
  return {{"base_dim", base_dim}, {"decoder_base_dim", decoder_base_dim}, {"z_dim", z_dim}, {"dim_mult", dim_mult},
          {"num_res_blocks", num_res_blocks}, {"patch_size", patch_size},
          {"temperal_downsample", temperal_downsample}, {"is_residual", is_residual},
          {"scale_factor_spatial", scale_factor_spatial}, {"scale_factor_temporal", scale_factor_temporal}};
}

}  // namespace t2v::wan
