#include "t2v/models/wan/support.h"

#include "t2v/error.h"

namespace t2v::wan {
namespace {
constexpr const char* kRunsOnly =
    "t2v does not run it (it runs Wan2.1 text-to-video, image-to-video and first-last-frame, Wan2.2 T2V-A14B, "
    "I2V-A14B and TI2V-5B models so far)";

bool has_prefix(const io::TensorStore& store, const std::string& prefix) {
  for (const auto& k : store.keys())
    if (k.compare(0, prefix.size(), prefix) == 0) return true;
  return false;
}

std::string n(int64_t v) { return std::to_string(v); }
}  // namespace

namespace {
// Mask-channel DiTs: x, then y = mask (one channel per frame of a latent frame: the VAE's temporal
// stride) + the VAE latent of the conditioning video (W21/W22 image2video.py).
std::optional<std::string> mask_channels_reason(const std::string& dit, const WanTransformerConfig& t, const WanVAEConfig& v) {
  const int64_t mask = v.scale_factor_temporal, want = v.z_dim + mask + v.z_dim;
  if (t.in_channels == want && t.out_channels == v.z_dim) return std::nullopt;
  return dit + ": " + (t.model_type == "flf2v" ? "a first-last-frame" : "an image-to-video") + " DiT with " + n(t.in_channels) + " input / " + n(t.out_channels) +
         " output channels; with this VAE (" + n(v.z_dim) + " latent channels) it needs " + n(want) + " = " + n(v.z_dim) +
         " noise + " + n(mask) + " mask + " + n(v.z_dim) + " image latent, and " + n(v.z_dim) + " output; " + kRunsOnly;
}

// Wan2.1 I2V / FLF2V (W21 model.py WanModel with img_emb): the CLIP tower must be given and fit.
std::optional<std::string> image_context_reason(const std::string& dit, const WanTransformerConfig& t,
                                                const WanModelSource& src) {
  if (!src.has_image_encoder) {
    return dit + ": a Wan2.1 " + (t.model_type == "flf2v" ? "first-last-frame" : "image-to-video") +
           " DiT takes CLIP image features; its image encoder is missing (the folder's image_encoder/, or "
           "the CLIP vision single file, ComfyUI's clip_vision_h.safetensors, as the image encoder)";
  }
  const auto& c = src.image_encoder_config;
  const std::string clip = src.image_encoder.store.source().string();
  if (c.hidden_size != t.image_dim) {
    return clip + ": a CLIP tower of width " + n(c.hidden_size) + "; the DiT " + dit + " takes image features of width " +
           n(t.image_dim);
  }
  if (t.pos_embed_seq_len && t.pos_embed_seq_len != 2 * c.tokens()) {
    return dit + ": a first-last-frame DiT with " + n(t.pos_embed_seq_len) + " image positions; the CLIP tower gives " +
           n(c.tokens()) + " tokens per image (expected 2 x " + n(c.tokens()) + ")";
  }
  return std::nullopt;
}

// The DiT: its conditioning inputs (official config model_type; WanModel.__init__ in wan/modules/model.py).
std::optional<std::string> dit_reason(const Component& c, const WanTransformerConfig& t, const WanVAEConfig& v) {
  const std::string dit = c.store.source().string();
  if (has_prefix(c.store, "vace_blocks.") || c.store.contains("vace_patch_embedding.weight")) {
    return dit + ": a Wan VACE DiT (reference/control video inputs); " + kRunsOnly;
  }
  // Wan2.2 I2V-A14B (no image context) and Wan2.1 I2V / FLF2V (CLIP context: checked with the source).
  if (t.model_type == "i2v" || t.model_type == "flf2v" || t.image_dim > 0) return mask_channels_reason(dit, t, v);
  if (t.model_type != "t2v" && t.model_type != "ti2v") {
    return dit + ": a Wan DiT of model_type \"" + t.model_type + "\"; " + kRunsOnly;
  }
  // The DiT must denoise exactly the VAE's latent (no extra channels: those would be conditioning).
  if (t.in_channels != v.z_dim && t.out_channels == t.in_channels) {
    // Both are plain latent models, of different VAEs (Wan2.1: 16 channels, Wan2.2: 48).
    return c.store.source().string() + " (" + n(t.in_channels) + " latent channels) and the VAE's " + n(v.z_dim) +
           "-channel latent do not match: " + (t.in_channels == 48 ? "a Wan2.2 TI2V-5B DiT needs the Wan2.2 VAE" : "a Wan2.1 DiT needs the Wan2.1 VAE") +
           "; t2v does not run it";
  }
  if (t.in_channels != v.z_dim || t.out_channels != v.z_dim) {
    return dit + ": the DiT takes " + n(t.in_channels) + " input / " + n(t.out_channels) +
           " output channels but the VAE's latent has " + n(v.z_dim) + "; " + kRunsOnly;
  }
  return std::nullopt;
}
}  // namespace

std::optional<std::string> unsupported_reason(const WanModelSource& src) {
  const std::string vae = src.vae.store.source().string();
  const WanVAEConfig& v = src.vae_config;
  // The VAE: Wan2.1's (z_dim 16, no patchify; W21 wan/modules/vae.py WanVAE_) or Wan2.2's (z_dim 48,
  // patchify 2, residual blocks; W22 wan/modules/vae2_2.py).
  const bool wan21 = v.z_dim == 16 && !v.is_residual && v.patch_size == 0;
  const bool wan22 = v.z_dim == 48 && v.is_residual && v.patch_size == 2;
  if (!wan21 && !wan22) {
    return vae + ": a Wan VAE of z_dim " + n(v.z_dim) + (v.patch_size > 0 ? ", patchify " + n(v.patch_size) : "") +
           (v.is_residual ? ", residual blocks" : "") + "; " + kRunsOnly +
           " (expected the Wan2.1 VAE, z_dim 16, or the Wan2.2 VAE, z_dim 48)";
  }
  if (wan22 && src.transformer_config.in_channels == 16) {
    return vae + ": a Wan2.2 VAE (z_dim 48) with a 16-channel Wan2.1-style DiT (" +
           src.transformer.store.source().string() + "); t2v does not run it (that DiT needs the Wan2.1 VAE)";
  }
  if (auto why = dit_reason(src.transformer, src.transformer_config, v)) return why;
  if (src.transformer_config.image_dim > 0) {
    if (auto why = image_context_reason(src.transformer.store.source().string(), src.transformer_config, src)) return why;
  }
  if (src.two_experts) {
    if (auto why = dit_reason(src.transformer_2, src.transformer_2_config, v)) return why;
    if (src.transformer_2_config.image_dim > 0 || src.transformer_config.image_dim > 0) {
      return src.transformer_2.store.source().string() + ": an image-to-video DiT with CLIP image context in a two-expert " +
             "model (no such Wan model exists); " + kRunsOnly;
    }
    const auto& a = src.transformer_config;
    const auto& b = src.transformer_2_config;
    if (a.in_channels != b.in_channels || a.model_type != b.model_type) {
      return src.transformer_2.store.source().string() + ": the second expert is a " + b.model_type + " DiT (" +
             n(b.in_channels) + " input channels) but " + src.transformer.store.source().string() + " is a " + a.model_type +
             " DiT (" + n(a.in_channels) + "); the two experts of one model take the same inputs";
    }
    if (a.text_dim != b.text_dim || a.patch_size != b.patch_size) {
      return src.transformer_2.store.source().string() + ": the second expert's text width or patch size differs from " +
             src.transformer.store.source().string() + "'s; the two experts of one model share them";
    }
  }
  return std::nullopt;
}

void check_supported(const WanModelSource& src) {
  if (auto why = unsupported_reason(src)) throw ConfigError(*why);
}

std::vector<std::string> supported_modes(const WanModelSource& src) {
  if (unsupported_reason(src)) return {};
  // Image-to-video DiTs always take known frames in their mask channels: no text-only mode. FLF2V
  // needs a first and a last known frame (its CLIP context is both images).
  if (src.transformer_config.model_type == "flf2v") return {"first-last-frame", "join"};
  if (src.transformer_config.model_type == "i2v") return {"image-to-video", "first-last-frame", "extend", "extend-backward", "join"};
  return {"text-to-video", "image-to-video", "first-last-frame", "video-to-video", "extend", "extend-backward", "join"};
}

}  // namespace t2v::wan
