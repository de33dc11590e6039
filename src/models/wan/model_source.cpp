#include "t2v/models/wan/model_source.h"

#include "t2v/log.h"

#include "t2v/error.h"
#include "t2v/io/json_file.h"
#include "t2v/models/wan/key_maps.h"

namespace t2v::wan {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {
constexpr int64_t kWanTextLen = 512;  // wan_shared_cfg.text_len

bool has_prefix(const io::TensorStore& store, const std::string& prefix) {
  for (const auto& k : store.keys())
    if (k.compare(0, prefix.size(), prefix) == 0) return true;
  return false;
}

const char* class_for(const std::string& role) {
  if (role == "text_encoder") return "UMT5EncoderModel";
  if (role == "transformer") return "WanTransformer3DModel";
  if (role == "image_encoder") return "CLIPVisionModel";
  return "AutoencoderKLWan";
}

std::string metadata_or_empty(const io::TensorStore& store, const std::string& key) {
  auto it = store.metadata().find(key);
  return it == store.metadata().end() ? std::string() : it->second;
}

fs::path require_dir(const fs::path& root, const std::string& name) {
  const fs::path dir = root / name;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw InputError(root.string() + ": missing component folder '" + name + "/' (expected a diffusers Wan folder)");
  }
  return dir;
}
// The official configs' switch points (W22 wan/configs/wan_t2v_A14B.py boundary 0.875,
// wan_i2v_A14B.py 0.900).
double default_boundary_ratio(const WanTransformerConfig& c) { return c.model_type == "i2v" ? 0.9 : 0.875; }

// A DiT single file: config from `wan_config` metadata, else from shapes (heads = dim / 128).
void open_single_transformer(const fs::path& file, Component& component, WanTransformerConfig& config) {
  component = canonical_component("transformer", io::TensorStore::open(file), nullptr);
  const std::string wan_cfg = metadata_or_empty(component.store, "wan_config");
  if (!wan_cfg.empty()) {
    const std::string where = file.string() + " (wan_config metadata)";
    config = WanTransformerConfig::from_wan_json(io::parse_json_text(wan_cfg, where), where);
    component.config_origin = "metadata";
    // model_type "i2v" is both Wan2.1's (W21 model.py WanModel: img_emb, CLIP context) and Wan2.2's
    // (W22 model.py: no img_emb); the tensors tell which. The official code hard-codes the CLIP
    // width (MLPProj(1280, dim)) and 2 x 257 FLF2V positions; the tensors give the real ones.
    const std::string norm1 = "condition_embedder.image_embedder.norm1.weight";
    const std::string pos = "condition_embedder.image_embedder.pos_embed";
    if (config.image_dim && !component.store.contains(norm1)) {
      config.image_dim = 0;
      config.added_kv_proj_dim = 0;
      config.pos_embed_seq_len = 0;
    } else if (config.image_dim) {
      config.image_dim = component.store.info(norm1).shape.at(0);
      if (component.store.contains(pos)) config.pos_embed_seq_len = component.store.info(pos).shape.at(1);
    }
  } else {
    config = WanTransformerConfig::from_tensors(component.store);
    component.config_origin = "tensor shapes";
  }
}

// Swapped experts denoise with the wrong model at every step and give noise, silently. A file that
// says which expert it is (`wan_expert` in its config metadata, or ComfyUI's "high_noise"/"low_noise"
// file names) must be given in its place.
void check_expert_order(const Component& first_expert, const Component& second_expert) {
  const auto expert_of = [](const Component& c) -> std::string {
    const fs::path file = c.store.source();
    const std::string cfg = metadata_or_empty(c.store, "wan_config");
    if (!cfg.empty()) {
      const auto j = io::parse_json_text(cfg, file.string() + " (wan_config metadata)");
      if (j.contains("wan_expert") && j["wan_expert"].is_string()) return j["wan_expert"].get<std::string>();
    }
    const std::string name = file.filename().string();
    if (name.find("high_noise") != std::string::npos) return "high";
    if (name.find("low_noise") != std::string::npos) return "low";
    return "";
  };
  const std::string first = expert_of(first_expert), second = expert_of(second_expert);
  if (first == "low" || second == "high") {
    throw UsageError("transformer " + first_expert.store.source().string() + " is the " + (first.empty() ? "?" : first) +
                     "-noise expert and transformer_2 " + second_expert.store.source().string() + " the " +
                     (second.empty() ? "?" : second) +
                     "-noise one: transformer must be the high-noise expert, transformer_2 the low-noise expert");
  }
}

}  // namespace

Component canonical_component(const std::string& role, io::TensorStore store, const WanVAEConfig* vae_config) {
  Component c;
  c.role = role;
  c.class_name = class_for(role);
  const std::string src = store.source().string();
  if (role == "transformer") {
    if (has_prefix(store, "model.diffusion_model.")) store = store.renamed({{"model.diffusion_model.", ""}});
    if (store.contains("head.modulation")) {
      c.layout = "official";
      store = store.renamed(transformer_official_to_diffusers());
    } else if (store.contains("condition_embedder.time_proj.weight")) {
      c.layout = "diffusers";
    } else {
      throw WeightsError(src + ": not a Wan DiT checkpoint (neither 'head.modulation' nor "
                         "'condition_embedder.time_proj.weight' found)");
    }
  } else if (role == "image_encoder") {
    if (store.contains("visual.conv1.weight")) {
      c.layout = "open-clip";
      store = store.split_rows(clip_open_clip_qkv_split()).renamed(clip_open_clip_to_hf());
    } else if (store.contains("vision_model.embeddings.patch_embedding.weight")) {
      c.layout = "hf";
    } else {
      throw WeightsError(src + ": not a CLIP vision checkpoint (neither 'visual.conv1.weight' nor "
                         "'vision_model.embeddings.patch_embedding.weight' found)");
    }
  } else if (role == "text_encoder") {
    if (store.contains("shared.weight")) {
      c.layout = "hf";
    } else if (store.contains("token_embedding.weight")) {
      c.layout = "wan-t5";
      store = store.renamed(umt5_wan_to_hf());
    } else {
      throw WeightsError(src + ": not a umT5 encoder checkpoint (neither 'shared.weight' nor "
                         "'token_embedding.weight' found)");
    }
  } else {
    if (has_prefix(store, "decoder.upsamples.")) {
      c.layout = "official";
      WanVAEConfig fallback;
      store = store.renamed(vae_official_to_diffusers(vae_config ? *vae_config : fallback));
    } else if (has_prefix(store, "decoder.up_blocks.")) {
      c.layout = "diffusers";
    } else {
      throw WeightsError(src + ": not a Wan VAE checkpoint (no 'decoder.upsamples.*' or 'decoder.up_blocks.*' tensors)");
    }
  }
  c.store = std::move(store);
  t2v::logger().debug("{}: {} layout detected in {}", role, c.layout, src);
  return c;
}

GenerationDefaults parse_generation_defaults(const json& j, const std::string& origin) {
  GenerationDefaults d;
  if (j.is_null()) return d;
  if (!j.is_object()) throw ConfigError(origin + ": \"_t2v_defaults\" must be an object");
  const auto positive_int = [&](const char* key, std::optional<int>& out) {
    if (!j.contains(key)) return;
    if (!j[key].is_number_integer() || j[key].get<int64_t>() < 1 || j[key].get<int64_t>() > 100000) {
      throw ConfigError(origin + ": \"_t2v_defaults\"." + key + " must be a positive integer, got " + j[key].dump());
    }
    out = j[key].get<int>();
  };
  const auto positive_number = [&](const char* key, std::optional<double>& out) {
    if (!j.contains(key)) return;
    if (!j[key].is_number() || j[key].get<double>() < 0) {
      throw ConfigError(origin + ": \"_t2v_defaults\"." + key + " must be a non-negative number, got " + j[key].dump());
    }
    out = j[key].get<double>();
  };
  const auto string = [&](const char* key, std::optional<std::string>& out) {
    if (!j.contains(key)) return;
    if (!j[key].is_string()) throw ConfigError(origin + ": \"_t2v_defaults\"." + key + " must be a string");
    out = j[key].get<std::string>();
  };
  positive_int("width", d.width);
  positive_int("height", d.height);
  positive_int("frames", d.frames);
  positive_int("steps", d.steps);
  positive_number("guidance", d.guidance);
  positive_number("guidance_2", d.guidance_2);
  positive_number("shift", d.shift);
  string("sampler", d.sampler);
  string("negative_prompt", d.negative_prompt);
  return d;
}

WanModelSource open_diffusers_folder(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw InputError(dir.string() + ": model folder not found");
  const fs::path index_path = dir / "model_index.json";
  if (!fs::exists(index_path, ec)) {
    throw InputError(dir.string() + ": no model_index.json (expected a diffusers folder such as "
                     "Wan2.1-T2V-1.3B-Diffusers; for single files use --transformer/--text-encoder/--vae)");
  }
  const json index = io::read_json_file(index_path);
  const std::string pipeline = io::json_get<std::string>(index, "_class_name", "", index_path.string());
  // Refused before any component is read; diffusers' pipeline classes name what the folder is.
  const std::string runs_only =
      "; t2v does not run it (it runs Wan2.1 text-to-video, Wan2.2 T2V-A14B, I2V-A14B and TI2V-5B models so far)";
  // Wan2.2 I2V-A14B folders declare no image encoder ("image_encoder": [null, null]); Wan2.1's
  // I2V/FLF2V folders have a CLIP one.
  auto declared = [&](const char* key) {
    return index.contains(key) && index[key].is_array() && !index[key].empty() && !index[key][0].is_null();
  };
  if (pipeline == "WanVACEPipeline" || pipeline == "WanVideoToVideoPipeline") {
    throw ConfigError(index_path.string() + ": a " + pipeline + " folder" + runs_only);
  }
  if (pipeline != "WanPipeline" && pipeline != "WanImageToVideoPipeline") {
    throw ConfigError(index_path.string() + ": unknown pipeline class \"" + pipeline +
                      "\" (expected WanPipeline, Wan text-to-video)" + runs_only);
  }

  WanModelSource src;
  src.kind = "diffusers";
  src.root = dir;
  if (index.contains("_t2v_defaults")) src.defaults = parse_generation_defaults(index["_t2v_defaults"], index_path.string());

  const fs::path te_dir = require_dir(dir, "text_encoder");
  const fs::path tr_dir = require_dir(dir, "transformer");
  const fs::path vae_dir = require_dir(dir, "vae");
  const fs::path tok_dir = require_dir(dir, "tokenizer");

  src.text_encoder_config = UMT5Config::from_json(io::read_json_file(te_dir / "config.json"),
                                                  (te_dir / "config.json").string());
  src.transformer_config = WanTransformerConfig::from_diffusers_json(
      io::read_json_file(tr_dir / "config.json"), (tr_dir / "config.json").string());
  src.vae_config = WanVAEConfig::from_diffusers_json(io::read_json_file(vae_dir / "config.json"),
                                                     (vae_dir / "config.json").string());

  src.text_encoder = canonical_component("text_encoder", io::TensorStore::open(te_dir), nullptr);
  src.transformer = canonical_component("transformer", io::TensorStore::open(tr_dir), nullptr);
  // diffusers writes "transformer_2": [null, null] for one-expert Wan2.2 folders.
  src.two_experts = declared("transformer_2");
  if (src.two_experts) {
    const fs::path dir2 = require_dir(dir, "transformer_2");
    src.transformer_2_config = WanTransformerConfig::from_diffusers_json(io::read_json_file(dir2 / "config.json"),
                                                                         (dir2 / "config.json").string());
    src.transformer_2 = canonical_component("transformer", io::TensorStore::open(dir2), nullptr);
    src.transformer_2.role = "transformer_2";
    src.transformer_2.config_origin = "config.json";
    src.boundary_ratio = io::json_get<double>(index, "boundary_ratio", default_boundary_ratio(src.transformer_config),
                                              index_path.string());
    if (!(src.boundary_ratio > 0 && src.boundary_ratio < 1)) {
      throw ConfigError(index_path.string() + ": \"boundary_ratio\" must be in (0, 1), got " +
                        std::to_string(src.boundary_ratio));
    }
  }
  src.vae = canonical_component("vae", io::TensorStore::open(vae_dir), &src.vae_config);
  for (Component* c : {&src.text_encoder, &src.transformer, &src.vae}) c->config_origin = "config.json";
  // Wan2.1 I2V / FLF2V folders: the CLIP tower (transformers CLIPVisionModel(WithProjection)).
  if (declared("image_encoder")) {
    const fs::path ie_dir = require_dir(dir, "image_encoder");
    src.image_encoder_config = ClipVisionConfig::from_hf_json(io::read_json_file(ie_dir / "config.json"),
                                                              (ie_dir / "config.json").string());
    const fs::path pre = dir / "image_processor" / "preprocessor_config.json";
    if (fs::exists(pre, ec)) src.image_encoder_config.read_preprocessor(io::read_json_file(pre), pre.string());
    src.image_encoder = canonical_component("image_encoder", io::TensorStore::open(ie_dir), nullptr);
    src.image_encoder.config_origin = "config.json";
    src.has_image_encoder = true;
  }

  src.tokenizer_file = tok_dir / "spiece.model";
  if (!fs::exists(src.tokenizer_file, ec)) {
    throw InputError(tok_dir.string() + ": no spiece.model (the SentencePiece model of umT5 is required)");
  }
  // text_len: Wan always uses 512 prompt tokens. The tokenizer's model_max_length says so for
  // downloads that set it (HF writes a 1e30 sentinel when unlimited), and gives the fixture value
  // for small test models; anything above 512 is taken as "unlimited" -> 512.
  src.text_len = kWanTextLen;
  const fs::path tok_cfg = tok_dir / "tokenizer_config.json";
  if (fs::exists(tok_cfg, ec)) {
    const json j = io::read_json_file(tok_cfg);
    if (j.contains("model_max_length") && j["model_max_length"].is_number()) {
      const double m = j["model_max_length"].get<double>();
      if (m >= 1 && m < kWanTextLen) src.text_len = static_cast<int64_t>(m);
    }
  }
  src.transformer_config.text_len = src.text_len;
  src.transformer_2_config.text_len = src.text_len;

  const fs::path sched = dir / "scheduler" / "scheduler_config.json";
  if (fs::exists(sched, ec)) src.scheduler_config = io::read_json_file(sched);
  return src;
}

WanModelSource open_single_files(const SingleFilePaths& paths) {
  if (paths.transformer.empty() || paths.text_encoder.empty() || paths.vae.empty()) {
    throw UsageError("single-file models need all of --transformer, --text-encoder and --vae");
  }
  WanModelSource src;
  src.kind = "single-file";
  src.root = paths.transformer.parent_path();

  open_single_transformer(paths.transformer, src.transformer, src.transformer_config);
  if (!paths.transformer_2.empty()) {
    src.two_experts = true;
    open_single_transformer(paths.transformer_2, src.transformer_2, src.transformer_2_config);
    src.transformer_2.role = "transformer_2";
    src.boundary_ratio = default_boundary_ratio(src.transformer_config);
    check_expert_order(src.transformer, src.transformer_2);
  }

  if (!paths.image_encoder.empty()) {
    src.image_encoder = canonical_component("image_encoder", io::TensorStore::open(paths.image_encoder), nullptr);
    const std::string clip_cfg = metadata_or_empty(src.image_encoder.store, "clip_vision_config");
    if (!clip_cfg.empty()) {
      const std::string where = paths.image_encoder.string() + " (clip_vision_config metadata)";
      src.image_encoder_config = ClipVisionConfig::from_hf_json(io::parse_json_text(clip_cfg, where), where);
      src.image_encoder.config_origin = "metadata";
    } else {
      src.image_encoder_config = ClipVisionConfig::from_tensors(src.image_encoder.store);
      src.image_encoder.config_origin = "tensor shapes";
    }
    src.has_image_encoder = true;
  }

  src.text_encoder = canonical_component("text_encoder", io::TensorStore::open(paths.text_encoder), nullptr);
  const std::string t5_cfg = metadata_or_empty(src.text_encoder.store, "umt5_config");
  if (!t5_cfg.empty()) {
    const std::string where = paths.text_encoder.string() + " (umt5_config metadata)";
    src.text_encoder_config = UMT5Config::from_json(io::parse_json_text(t5_cfg, where), where);
    src.text_encoder.config_origin = "metadata";
  } else {
    src.text_encoder_config = UMT5Config::from_tensors(src.text_encoder.store);
    src.text_encoder.config_origin = "tensor shapes";
  }

  // The VAE rename depends on the config (up-block grouping), so read the config from the raw file.
  io::TensorStore vae_raw = io::TensorStore::open(paths.vae);
  const std::string vae_cfg = metadata_or_empty(vae_raw, "wan_vae_config");
  // W22 vae2_2.py nests each level's blocks (upsamples.i.upsamples.j); W21 vae.py's list is flat.
  const bool wan22 = has_prefix(vae_raw, "decoder.upsamples.0.upsamples.");
  if (!vae_cfg.empty()) {
    const std::string where = paths.vae.string() + " (wan_vae_config metadata)";
    src.vae_config = WanVAEConfig::from_wan_json(io::parse_json_text(vae_cfg, where), where);
    if (wan22 && !src.vae_config.is_residual) {
      src.vae_config.decoder_base_dim = WanVAEConfig::wan22_from_official_tensors(vae_raw).decoder_base_dim;
      src.vae_config.set_wan22();
    }
    src.vae = canonical_component("vae", std::move(vae_raw), &src.vae_config);
    src.vae.config_origin = "metadata";
  } else if (wan22) {
    src.vae_config = WanVAEConfig::wan22_from_official_tensors(vae_raw);
    src.vae = canonical_component("vae", std::move(vae_raw), &src.vae_config);
    src.vae.config_origin = "tensor shapes";
  } else {
    src.vae = canonical_component("vae", std::move(vae_raw), nullptr);
    src.vae_config = WanVAEConfig::from_tensors(src.vae.store);
    src.vae.config_origin = "tensor shapes";
  }

  if (!paths.tokenizer.empty()) {
    std::error_code ec;
    if (!fs::is_regular_file(paths.tokenizer, ec)) {
      throw InputError(paths.tokenizer.string() + ": tokenizer file not found (expected spiece.model)");
    }
    src.tokenizer_file = paths.tokenizer;
  } else if (src.text_encoder.store.contains("spiece_model")) {
    auto blob = src.text_encoder.store.view("spiece_model");
    src.tokenizer_blob.assign(static_cast<const char*>(blob.data_ptr()), static_cast<size_t>(blob.numel()));
  } else {
    throw InputError(paths.text_encoder.string() + ": no 'spiece_model' tensor inside; pass --tokenizer spiece.model");
  }
  src.text_len = src.transformer_config.text_len;
  src.transformer_2_config.text_len = src.text_len;
  return src;
}

}  // namespace t2v::wan
