// Structure of the Wan DiT: registered parameter names and shapes equal the checkpoint key sets
// (tiny fixtures in both layouts; real-size headers), and configs derived from the tensor shapes of
// real checkpoints. Real files are GBs, so their safetensors HEADERS are written with the official
// key names and real shapes and the file is extended to its full length with ftruncate (a sparse
// file: no disk used, nothing read).
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "support/golden.h"
#include "t2v/models/wan/clip.h"
#include "t2v/models/wan/model_source.h"
#include "t2v/models/wan/support.h"
#include "t2v/models/wan/transformer.h"
#include "t2v/models/wan/vae.h"

namespace t2v::test {
namespace {
namespace fs = std::filesystem;
using Shapes = std::map<std::string, std::vector<int64_t>>;

Shapes parameter_shapes(torch::nn::Module& module) {
  Shapes shapes;
  for (const auto& p : module.named_parameters()) shapes[p.key()] = p.value().sizes().vec();
  return shapes;
}

Shapes store_shapes(const io::TensorStore& store) {
  Shapes shapes;
  for (const auto& key : store.keys()) shapes[key] = store.info(key).shape;
  return shapes;
}

// Lists names present on one side only, and shape differences.
::testing::AssertionResult same_keys_and_shapes(const Shapes& module, const Shapes& checkpoint) {
  std::string report;
  for (const auto& [k, s] : module) {
    auto it = checkpoint.find(k);
    if (it == checkpoint.end()) report += " missing-in-checkpoint:" + k;
    else if (it->second != s) report += " shape:" + k;
  }
  for (const auto& [k, s] : checkpoint) {
    if (!module.count(k)) report += " unexpected:" + k;
  }
  if (report.empty()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << report.substr(0, 2000);
}

wan::SingleFilePaths tiny_single_files(const fs::path& transformer) {
  wan::SingleFilePaths paths;
  paths.transformer = transformer;
  paths.text_encoder = tiny_comfy_dir() / "umt5_tiny_bf16.safetensors";
  paths.vae = tiny_comfy_dir() / "wan_2.1_vae_tiny_bf16.safetensors";
  return paths;
}

TEST(DitStructure, ParameterNamesEqualFixtureKeysInBothLayouts) {
  auto diffusers = wan::open_diffusers_folder(tiny_model_dir());
  auto single = wan::open_single_files(tiny_single_files(tiny_comfy_dir() / "wan2.1_t2v_tiny_bf16.safetensors"));
  EXPECT_EQ(single.transformer.layout, "official");
  for (const auto* src : {&diffusers, &single}) {
    wan::WanTransformer3DModel model(src->transformer_config);
    EXPECT_TRUE(same_keys_and_shapes(parameter_shapes(*model), store_shapes(src->transformer.store)))
        << src->kind;
    EXPECT_EQ(src->transformer_config.head_dim, 48);
    EXPECT_EQ(src->transformer_config.text_len, 16);
  }
}

// ---------------------------------------------------------------- real-size headers (sparse files)

struct RealModel {
  const char* name;
  int64_t dim, heads, layers, ffn, in, out;
  const char* dtype;  // stored dtype; fp8 for 14B keeps the file's mapping under this machine's RAM
  int64_t itemsize;
  const char* prefix;  // ComfyUI files may carry "model.diffusion_model."
  int64_t image_dim = 0;  // Wan2.1 I2V / FLF2V: the CLIP width of img_emb (1280)
  bool flf2v = false;     // + img_emb.emb_pos [1, 514, image_dim]
};

// Official WanModel keys and shapes (spec §2.6): 15 global + 27 per block.
std::vector<std::pair<std::string, std::vector<int64_t>>> official_tensors(const RealModel& m) {
  const int64_t d = m.dim;
  std::vector<std::pair<std::string, std::vector<int64_t>>> t = {
      {"patch_embedding.weight", {d, m.in, 1, 2, 2}}, {"patch_embedding.bias", {d}},
      {"text_embedding.0.weight", {d, 4096}},          {"text_embedding.0.bias", {d}},
      {"text_embedding.2.weight", {d, d}},             {"text_embedding.2.bias", {d}},
      {"time_embedding.0.weight", {d, 256}},           {"time_embedding.0.bias", {d}},
      {"time_embedding.2.weight", {d, d}},             {"time_embedding.2.bias", {d}},
      {"time_projection.1.weight", {6 * d, d}},        {"time_projection.1.bias", {6 * d}},
      {"head.modulation", {1, 2, d}},                  {"head.head.weight", {4 * m.out, d}},
      {"head.head.bias", {4 * m.out}}};
  if (m.image_dim) {  // W21 model.py MLPProj: LayerNorm, Linear, GELU, Linear, LayerNorm
    const int64_t w = m.image_dim;
    t.insert(t.end(), {{"img_emb.proj.0.weight", {w}}, {"img_emb.proj.0.bias", {w}}, {"img_emb.proj.1.weight", {w, w}},
                       {"img_emb.proj.1.bias", {w}}, {"img_emb.proj.3.weight", {d, w}}, {"img_emb.proj.3.bias", {d}},
                       {"img_emb.proj.4.weight", {d}}, {"img_emb.proj.4.bias", {d}}});
    if (m.flf2v) t.push_back({"img_emb.emb_pos", {1, 514, w}});
  }
  for (int64_t i = 0; i < m.layers; ++i) {
    const std::string b = "blocks." + std::to_string(i) + ".";
    t.push_back({b + "modulation", {1, 6, d}});
    if (m.image_dim) {  // WanI2VCrossAttention
      t.insert(t.end(), {{b + "cross_attn.k_img.weight", {d, d}}, {b + "cross_attn.k_img.bias", {d}},
                         {b + "cross_attn.v_img.weight", {d, d}}, {b + "cross_attn.v_img.bias", {d}},
                         {b + "cross_attn.norm_k_img.weight", {d}}});
    }
    for (const char* attn : {"self_attn.", "cross_attn."}) {
      for (const char* proj : {"q", "k", "v", "o"}) {
        t.push_back({b + attn + proj + ".weight", {d, d}});
        t.push_back({b + attn + proj + ".bias", {d}});
      }
      t.push_back({b + attn + "norm_q.weight", {d}});
      t.push_back({b + attn + "norm_k.weight", {d}});
    }
    t.push_back({b + "norm3.weight", {d}});
    t.push_back({b + "norm3.bias", {d}});
    t.push_back({b + "ffn.0.weight", {m.ffn, d}});
    t.push_back({b + "ffn.0.bias", {m.ffn}});
    t.push_back({b + "ffn.2.weight", {d, m.ffn}});
    t.push_back({b + "ffn.2.bias", {d}});
  }
  return t;
}

// Header with real shapes, then ftruncate to the full data length (sparse).
uint64_t write_sparse_checkpoint(const fs::path& path, const RealModel& m) {
  nlohmann::json header = nlohmann::json::object();
  uint64_t offset = 0;
  for (const auto& [name, shape] : official_tensors(m)) {
    uint64_t bytes = static_cast<uint64_t>(m.itemsize);
    for (auto s : shape) bytes *= static_cast<uint64_t>(s);
    header[std::string(m.prefix) + name] = {{"dtype", m.dtype}, {"shape", shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    uint64_t n = text.size();
    for (int i = 0; i < 8; ++i) f.put(static_cast<char>((n >> (8 * i)) & 0xff));  // little-endian
    f.write(text.data(), static_cast<std::streamsize>(text.size()));
  }
  const uint64_t total = 8 + text.size() + offset;
  EXPECT_EQ(::truncate(path.c_str(), static_cast<off_t>(total)), 0);
  return total;
}

class RealConfigs : public ::testing::TestWithParam<RealModel> {};

TEST_P(RealConfigs, ConfigFromTensorShapesAndModuleKeys) {
  const RealModel m = GetParam();
  const fs::path dir = fs::temp_directory_path() / ("t2v_dit_sparse_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path file = dir / (std::string(m.name) + ".safetensors");
  const uint64_t size = write_sparse_checkpoint(file, m);
  ASSERT_EQ(fs::file_size(file), size);

  // The real entry point for ComfyUI files (the tiny umT5/VAE stand in for the other components).
  auto src = wan::open_single_files(tiny_single_files(file));
  EXPECT_EQ(src.transformer.layout, "official");
  EXPECT_EQ(src.transformer.config_origin, "tensor shapes");
  const auto& c = src.transformer_config;
  EXPECT_EQ(c.dim(), m.dim);
  EXPECT_EQ(c.num_heads, m.heads);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.num_layers, m.layers);
  EXPECT_EQ(c.ffn_dim, m.ffn);
  EXPECT_EQ(c.in_channels, m.in);
  EXPECT_EQ(c.out_channels, m.out);
  EXPECT_EQ(c.text_dim, 4096);
  EXPECT_EQ(c.freq_dim, 256);
  EXPECT_EQ(c.text_len, 512);
  EXPECT_EQ(c.patch_size, (std::array<int64_t, 3>{1, 2, 2}));
  // in_dim 36 = noise + mask + image latent (Wan2.2 I2V-A14B without img_emb: no CLIP; Wan2.1
  // I2V / FLF2V with it); 48 = TI2V-5B.
  EXPECT_EQ(c.model_type, m.flf2v ? "flf2v" : m.in == 36 ? "i2v" : m.in == 48 ? "ti2v" : "t2v");
  EXPECT_EQ(c.image_dim, m.image_dim);
  EXPECT_EQ(c.pos_embed_seq_len, m.flf2v ? 514 : 0);
  const size_t image_tensors = m.image_dim ? 8 + (m.flf2v ? 1 : 0) + 5 * m.layers : 0;
  EXPECT_EQ(src.transformer.store.size(), static_cast<size_t>(15 + 27 * m.layers) + image_tensors);
  if (m.in != 48 && !m.image_dim) {  // with the 16-channel Wan2.1 VAE (the tiny one): a model t2v runs
    EXPECT_FALSE(wan::unsupported_reason(src).has_value()) << *wan::unsupported_reason(src);
  }

  // Parameters are never written, so a real-size model costs address space only.
  wan::WanTransformer3DModel model(c, torch::kBFloat16, torch::kCPU);
  EXPECT_TRUE(same_keys_and_shapes(parameter_shapes(*model), store_shapes(src.transformer.store)));
  src = {};
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(
    Wan, RealConfigs,
    ::testing::Values(RealModel{"wan21_t2v_1_3B", 1536, 12, 30, 8960, 16, 16, "BF16", 2, ""},
                      RealModel{"wan21_t2v_14B", 5120, 40, 40, 13824, 16, 16, "F8_E4M3", 1, ""},
                      RealModel{"wan22_ti2v_5B", 3072, 24, 30, 14336, 48, 48, "BF16", 2, ""},
                      RealModel{"wan22_t2v_A14B_high_noise", 5120, 40, 40, 13824, 16, 16, "F8_E4M3", 1,
                                "model.diffusion_model."},
                      RealModel{"wan22_t2v_A14B_low_noise", 5120, 40, 40, 13824, 16, 16, "F8_E4M3", 1, ""},
                      RealModel{"wan22_i2v_A14B_high_noise", 5120, 40, 40, 13824, 36, 16, "F8_E4M3", 1, ""},
                      RealModel{"wan22_i2v_A14B_low_noise", 5120, 40, 40, 13824, 36, 16, "F8_E4M3", 1,
                                "model.diffusion_model."},
                      RealModel{"wan21_i2v_14B_480p", 5120, 40, 40, 13824, 36, 16, "F8_E4M3", 1, "", 1280},
                      RealModel{"wan21_flf2v_14B_720p", 5120, 40, 40, 13824, 36, 16, "F8_E4M3", 1, "", 1280, true}),
    [](const auto& info) { return std::string(info.param.name); });


// ComfyUI's clip_vision_h.safetensors (open-clip names, no config): the real ViT-H/14 from shapes.
TEST(RealClipVision, ViTH14FromOpenClipTensorShapes) {
  const int64_t w = 1280, mlp = 5120, layers = 32, embed = 1024;
  std::vector<std::pair<std::string, std::vector<int64_t>>> t = {
      {"visual.class_embedding", {w}},  {"visual.conv1.weight", {w, 3, 14, 14}}, {"visual.positional_embedding", {257, w}},
      {"visual.ln_pre.weight", {w}},    {"visual.ln_pre.bias", {w}},             {"visual.ln_post.weight", {w}},
      {"visual.ln_post.bias", {w}},     {"visual.proj", {w, embed}}};
  for (int64_t i = 0; i < layers; ++i) {
    const std::string b = "visual.transformer.resblocks." + std::to_string(i) + ".";
    t.insert(t.end(), {{b + "ln_1.weight", {w}}, {b + "ln_1.bias", {w}}, {b + "attn.in_proj_weight", {3 * w, w}},
                       {b + "attn.in_proj_bias", {3 * w}}, {b + "attn.out_proj.weight", {w, w}},
                       {b + "attn.out_proj.bias", {w}}, {b + "ln_2.weight", {w}}, {b + "ln_2.bias", {w}},
                       {b + "mlp.c_fc.weight", {mlp, w}}, {b + "mlp.c_fc.bias", {mlp}}, {b + "mlp.c_proj.weight", {w, mlp}},
                       {b + "mlp.c_proj.bias", {w}}});
  }
  nlohmann::json header = nlohmann::json::object();
  uint64_t offset = 0;
  for (const auto& [name, shape] : t) {
    uint64_t bytes = 2;
    for (auto d : shape) bytes *= static_cast<uint64_t>(d);
    header[name] = {{"dtype", "F16"}, {"shape", shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  const fs::path file = fs::temp_directory_path() / ("t2v_clip_sparse_" + std::to_string(::getpid()) + ".safetensors");
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  {
    std::ofstream f(file, std::ios::binary | std::ios::trunc);
    uint64_t n = text.size();
    for (int i = 0; i < 8; ++i) f.put(static_cast<char>((n >> (8 * i)) & 0xff));
    f.write(text.data(), static_cast<std::streamsize>(text.size()));
  }
  ASSERT_EQ(::truncate(file.c_str(), static_cast<off_t>(8 + text.size() + offset)), 0);

  const auto c = wan::canonical_component("image_encoder", io::TensorStore::open(file), nullptr);
  EXPECT_EQ(c.layout, "open-clip");
  const auto cfg = wan::ClipVisionConfig::from_tensors(c.store);
  EXPECT_EQ(cfg.hidden_size, 1280);
  EXPECT_EQ(cfg.num_heads, 16);
  EXPECT_EQ(cfg.num_layers, 32);
  EXPECT_EQ(cfg.intermediate_size, 5120);
  EXPECT_EQ(cfg.image_size, 224);
  EXPECT_EQ(cfg.tokens(), 257);
  // The module (31 blocks: use_31_block) matches the store minus the keys Wan leaves unused.
  wan::ClipVisionModel model(cfg, torch::kFloat16, torch::kCPU);
  Shapes used;
  for (const auto& [k, shape] : store_shapes(c.store)) {
    bool unused = false;
    for (const auto& p : wan::clip_unused_keys(cfg)) unused = unused || k.rfind(p, 0) == 0;
    if (!unused) used[k] = shape;
  }
  EXPECT_TRUE(same_keys_and_shapes(parameter_shapes(*model), used));
  EXPECT_EQ(c.store.info("vision_model.encoder.layers.5.self_attn.k_proj.weight").shape, (std::vector<int64_t>{w, w}));
  fs::remove(file);
}

// Every fixture checkpoint, both layouts: the module built from the resolved config has exactly the
// checkpoint's keys and shapes (DiTs, both experts, the VAE, the CLIP tower minus what Wan leaves unused).
TEST(FixtureKeySets, EveryComponentMatchesItsModule) {
  const fs::path g = golden_dir();
  auto comfy = [&](const std::string& dir, const std::string& dit, const std::string& dit2, const std::string& vae,
                   const std::string& clip) {
    wan::SingleFilePaths p;
    p.transformer = g / dir / dit;
    if (!dit2.empty()) p.transformer_2 = g / dir / dit2;
    p.text_encoder = g / dir / "umt5_tiny_bf16.safetensors";
    p.vae = g / dir / vae;
    if (!clip.empty()) p.image_encoder = g / dir / clip;
    return wan::open_single_files(p);
  };
  std::vector<wan::WanModelSource> sources;
  for (const char* folder : {"wan22-a14b-tiny", "wan22-ti2v-tiny", "wan22-i2v-tiny", "wan21-i2v-tiny", "wan21-flf2v-tiny"}) {
    sources.push_back(wan::open_diffusers_folder(g / folder));
  }
  sources.push_back(comfy("wan22-a14b-tiny-comfy", "wan2.2_t2v_high_noise_tiny_bf16.safetensors",
                          "wan2.2_t2v_low_noise_tiny_bf16.safetensors", "wan_2.1_vae_tiny_bf16.safetensors", ""));
  sources.push_back(comfy("wan22-ti2v-tiny-comfy", "wan2.2_ti2v_tiny_bf16.safetensors", "", "wan2.2_vae_tiny_bf16.safetensors", ""));
  sources.push_back(comfy("wan22-i2v-tiny-comfy", "wan2.2_i2v_high_noise_tiny_bf16.safetensors",
                          "wan2.2_i2v_low_noise_tiny_bf16.safetensors", "wan_2.1_vae_tiny_bf16.safetensors", ""));
  for (const char* dit : {"wan2.1_i2v_480p_tiny_bf16.safetensors", "wan2.1_flf2v_720p_tiny_bf16.safetensors"}) {
    sources.push_back(comfy("wan21-i2v-tiny-comfy", dit, "", "wan_2.1_vae_tiny_bf16.safetensors", "clip_vision_h_tiny_bf16.safetensors"));
  }
  for (const auto& src : sources) {
    const std::string where = src.transformer.store.source().string();
    wan::WanTransformer3DModel dit(src.transformer_config);
    EXPECT_TRUE(same_keys_and_shapes(parameter_shapes(*dit), store_shapes(src.transformer.store))) << where;
    if (src.two_experts) {
      wan::WanTransformer3DModel dit2(src.transformer_2_config);
      EXPECT_TRUE(same_keys_and_shapes(parameter_shapes(*dit2), store_shapes(src.transformer_2.store))) << where;
    }
    auto vae = wan::make_wan_vae(src.vae_config, torch::kCPU);
    EXPECT_TRUE(same_keys_and_shapes(parameter_shapes(*vae), store_shapes(src.vae.store))) << src.vae.store.source();
    if (src.has_image_encoder) {
      wan::ClipVisionModel clip(src.image_encoder_config, torch::kFloat32, torch::kCPU);
      Shapes used;
      for (const auto& [k, shape] : store_shapes(src.image_encoder.store)) {
        bool unused = false;
        for (const auto& p : wan::clip_unused_keys(src.image_encoder_config)) unused = unused || k.rfind(p, 0) == 0;
        if (!unused) used[k] = shape;
      }
      EXPECT_TRUE(same_keys_and_shapes(parameter_shapes(*clip), used)) << src.image_encoder.store.source();
    }
  }
}
}  // namespace
}  // namespace t2v::test
