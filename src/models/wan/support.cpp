#include "t2v/models/wan/support.h"

#include "t2v/error.h"

namespace t2v::wan {
namespace {
constexpr const char* kRunsOnly =
    "t2v does not run it (it runs Wan2.1 text-to-video, Wan2.2 T2V-A14B, I2V-A14B and TI2V-5B models so far)";

bool has_prefix(const io::TensorStore& store, const std::string& prefix) {
  for (const auto& k : store.keys())
    if (k.compare(0, prefix.size(), prefix) == 0) return true;
  return false;
}

std::string n(int64_t v) { return std::to_string(v); }
}  // namespace

namespace {
// The DiT: its conditioning inputs (official config model_type; WanModel.__init__ in wan/modules/model.py).
std::optional<std::string> dit_reason(const Component& c, const WanTransformerConfig& t, const WanVAEConfig& v) {
  const std::string dit = c.store.source().string();
  if (has_prefix(c.store, "vace_blocks.") || c.store.contains("vace_patch_embedding.weight")) {
    return dit + ": a Wan VACE DiT (reference/control video inputs); " + kRunsOnly;
  }
  if (t.model_type == "flf2v") return dit + ": a Wan2.1 first-last-frame-to-video DiT (FLF2V, CLIP image context); " + kRunsOnly;
  if (t.model_type == "i2v" && t.image_dim == 0) {
    // Wan2.2 I2V-A14B (W22 wan/image2video.py): x, then y = mask (one channel per frame of a latent
    // frame: the VAE's temporal stride) + the VAE latent of the conditioning video.
    const int64_t mask = v.scale_factor_temporal, want = v.z_dim + mask + v.z_dim;
    if (t.in_channels != want || t.out_channels != v.z_dim) {
      return dit + ": an image-to-video DiT with " + n(t.in_channels) + " input / " + n(t.out_channels) +
             " output channels; with this VAE (" + n(v.z_dim) + " latent channels) it needs " + n(want) + " = " +
             n(v.z_dim) + " noise + " + n(mask) + " mask + " + n(v.z_dim) + " image latent, and " + n(v.z_dim) +
             " output; " + kRunsOnly;
    }
    return std::nullopt;
  }
  if (t.model_type == "i2v" || t.image_dim > 0) {
    return dit + ": a Wan image-to-video DiT (" + n(t.in_channels) + " input channels = noise + mask + image latent" +
           (t.image_dim > 0 ? ", CLIP image context" : "") + "); " + kRunsOnly;
  }
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
  if (src.two_experts) {
    if (auto why = dit_reason(src.transformer_2, src.transformer_2_config, v)) return why;
    const auto& a = src.transformer_config;
    const auto& b = src.transformer_2_config;
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
  // Image-to-video DiTs always take known frames in their mask channels: no text-only mode.
  if (src.transformer_config.model_type == "i2v") return {"image-to-video", "first-last-frame", "extend", "extend-backward", "join"};
  return {"text-to-video", "image-to-video", "first-last-frame", "video-to-video", "extend", "extend-backward", "join"};
}

}  // namespace t2v::wan
