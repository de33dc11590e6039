// Model sources, layout detection, rename tables and the strict loader, on the golden fixtures:
// the diffusers folder and the ComfyUI single files must describe the same model.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <fstream>

#include "support/golden.h"
#include "t2v/error.h"
#include "t2v/io/json_file.h"
#include "t2v/io/state_dict_loader.h"
#include "t2v/models/layers.h"
#include "t2v/models/wan/model_source.h"

namespace fs = std::filesystem;
using namespace t2v;

namespace {

wan::WanModelSource open_comfy() {
  const fs::path d = test::tiny_comfy_dir();
  return wan::open_single_files({d / "wan2.1_t2v_tiny_bf16.safetensors", d / "umt5_tiny_bf16.safetensors",
                                 d / "wan_2.1_vae_tiny_bf16.safetensors", {}});
}

std::vector<std::string> weight_keys(const io::TensorStore& store) {
  std::vector<std::string> out;
  for (const auto& k : store.keys())
    if (!io::is_auxiliary_key(k)) out.push_back(k);
  return out;
}

TEST(ModelSource, DiffusersFolderResolvesConfigs) {
  auto src = wan::open_diffusers_folder(test::tiny_model_dir());
  EXPECT_EQ(src.kind, "diffusers");
  EXPECT_EQ(src.text_len, 16);  // tokenizer_config.json model_max_length
  EXPECT_EQ(src.transformer.layout, "diffusers");
  EXPECT_EQ(src.transformer.store.files().size(), 2u);  // two shards via the index
  EXPECT_EQ(src.transformer_config.dim(), 96);
  EXPECT_EQ(src.transformer_config.head_dim, 48);
  EXPECT_EQ(src.text_encoder_config.num_heads, 4);
  EXPECT_EQ(src.vae_config.base_dim, 8);
  EXPECT_EQ(src.vae_config.latents_std.size(), 16u);
  EXPECT_FALSE(src.scheduler_config.is_null());
}

TEST(ModelSource, SingleFilesMatchDiffusersFolder) {
  auto a = wan::open_diffusers_folder(test::tiny_model_dir());
  auto b = open_comfy();
  EXPECT_EQ(b.kind, "single-file");
  EXPECT_EQ(b.transformer.layout, "official");
  EXPECT_EQ(b.vae.layout, "official");
  EXPECT_EQ(b.text_encoder.layout, "hf");
  EXPECT_EQ(b.text_len, a.text_len);
  EXPECT_FALSE(b.tokenizer_blob.empty());
  // After renaming, the same canonical keys, shapes and parameter counts.
  EXPECT_EQ(weight_keys(a.transformer.store), weight_keys(b.transformer.store));
  EXPECT_EQ(weight_keys(a.text_encoder.store), weight_keys(b.text_encoder.store));
  EXPECT_EQ(weight_keys(a.vae.store), weight_keys(b.vae.store));
  for (auto [x, y] : {std::pair{&a.transformer, &b.transformer}, {&a.text_encoder, &b.text_encoder}, {&a.vae, &b.vae}}) {
    EXPECT_EQ(io::count_parameters(x->store), io::count_parameters(y->store)) << x->role;
    for (const auto& k : weight_keys(x->store)) {
      ASSERT_EQ(x->store.info(k).shape, y->store.info(k).shape) << k;
    }
  }
  EXPECT_EQ(a.transformer_config.to_json(), b.transformer_config.to_json());
  EXPECT_EQ(a.text_encoder_config.to_json(), b.text_encoder_config.to_json());
  EXPECT_EQ(a.vae_config.to_json(), b.vae_config.to_json());
  // The weights are bf16-representable: values agree exactly after conversion.
  auto w = a.transformer.store.load("blocks.1.attn2.to_out.0.weight", torch::kFloat32);
  auto v = b.transformer.store.load("blocks.1.attn2.to_out.0.weight", torch::kFloat32);
  EXPECT_TRUE(torch::equal(w, v));
}

TEST(ModelSource, TextLenRule) {
  // Real downloads: model_max_length absent or an "unlimited" sentinel -> Wan's 512.
  const fs::path dir = fs::temp_directory_path() / ("t2v_ms_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::copy(test::tiny_model_dir(), dir, fs::copy_options::recursive);
  auto cfg = io::read_json_file(dir / "tokenizer" / "tokenizer_config.json");
  cfg["model_max_length"] = 1e30;
  std::ofstream(dir / "tokenizer" / "tokenizer_config.json") << cfg.dump();
  EXPECT_EQ(wan::open_diffusers_folder(dir).text_len, 512);
  cfg["model_max_length"] = 24;
  std::ofstream(dir / "tokenizer" / "tokenizer_config.json") << cfg.dump();
  EXPECT_EQ(wan::open_diffusers_folder(dir).text_len, 24);
  fs::remove(dir / "tokenizer" / "spiece.model");
  EXPECT_THROW(wan::open_diffusers_folder(dir), InputError);
  fs::remove_all(dir / "vae");
  try {
    wan::open_diffusers_folder(dir);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("vae"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

TEST(ModelSource, NotAModelFolder) {
  try {
    wan::open_diffusers_folder(test::golden_dir() / "cases");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("model_index.json"), std::string::npos) << e.what();
    EXPECT_EQ(exit_code_for(e), 2);
  }
}

// model_index.json may carry t2v's generation defaults under "_t2v_defaults" (the demo model does).
TEST(ModelSource, GenerationDefaultsFromModelIndex) {
  const fs::path dir = fs::temp_directory_path() / ("t2v_defaults_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::copy(test::tiny_model_dir(), dir, fs::copy_options::recursive);
  EXPECT_FALSE(wan::open_diffusers_folder(dir).defaults.width.has_value());
  auto index = io::read_json_file(dir / "model_index.json");
  index["_t2v_defaults"] = {{"width", 64}, {"height", 48}, {"frames", 17}, {"steps", 20}, {"guidance", 4.5},
                            {"shift", 3.0}, {"sampler", "euler"}};
  std::ofstream(dir / "model_index.json") << index.dump();
  const auto d = wan::open_diffusers_folder(dir).defaults;
  EXPECT_EQ(d.width, 64);
  EXPECT_EQ(d.height, 48);
  EXPECT_EQ(d.frames, 17);
  EXPECT_EQ(d.steps, 20);
  EXPECT_EQ(d.guidance, 4.5);
  EXPECT_EQ(d.shift, 3.0);
  EXPECT_EQ(d.sampler, "euler");
  EXPECT_FALSE(d.negative_prompt.has_value());
  index["_t2v_defaults"]["steps"] = -3;
  std::ofstream(dir / "model_index.json") << index.dump();
  try {
    wan::open_diffusers_folder(dir);
    ADD_FAILURE() << "a negative step count was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("model_index.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("steps"), std::string::npos) << e.what();
  }
  EXPECT_THROW(wan::parse_generation_defaults(nlohmann::json::array(), "x"), ConfigError);
  EXPECT_THROW(wan::parse_generation_defaults({{"sampler", 3}}, "x"), ConfigError);
  fs::remove_all(dir);
}

TEST(ModelSource, WrongFileForRole) {
  const fs::path d = test::tiny_comfy_dir();
  // VAE file given as the transformer.
  EXPECT_THROW(wan::open_single_files({d / "wan_2.1_vae_tiny_bf16.safetensors", d / "umt5_tiny_bf16.safetensors",
                                       d / "wan_2.1_vae_tiny_bf16.safetensors", {}}),
               WeightsError);
}

TEST(KeyRename, WildcardsAndOrder) {
  io::RenameTable t = {{"blocks.*.self_attn.o.", "blocks.*.attn1.to_out.0."}, {"a.*.b.*.", "x.*.y.*."}};
  EXPECT_EQ(io::rename_key(t, "blocks.17.self_attn.o.weight"), "blocks.17.attn1.to_out.0.weight");
  EXPECT_EQ(io::rename_key(t, "a.3.b.12.c"), "x.3.y.12.c");
  EXPECT_EQ(io::rename_key(t, "blocks.x.self_attn.o.weight"), "blocks.x.self_attn.o.weight");
  EXPECT_EQ(io::rename_key(io::invert(t), "blocks.2.attn1.to_out.0.bias"), "blocks.2.self_attn.o.bias");
  EXPECT_TRUE(io::match_full("blocks.*.scale_shift_table", "blocks.9.scale_shift_table"));
  EXPECT_FALSE(io::match_full("blocks.*.scale", "blocks.9.scale_shift_table"));
}

// A module with diffusers-style names for the strict loader tests.
struct TinyImpl : torch::nn::Module {
  TinyImpl() {
    auto opts = torch::TensorOptions().dtype(torch::kFloat32);
    proj = register_module("proj", t2v::nn::Linear(96, 96, true, opts));
    table = register_parameter("scale_shift_table", torch::empty({1, 2, 96}, opts), false);
  }
  t2v::nn::Linear proj{nullptr};
  torch::Tensor table;
};

TEST(StrictLoader, LoadsAndConvertsFromBf16) {
  auto src = open_comfy();
  auto store = src.transformer.store.without({"blocks.", "condition_embedder.", "patch_embedding."})
                   .renamed({{"proj_out.", "proj."}});
  // proj_out is [64, 96] in the fixture: a mis-shaped tensor must be reported with both shapes.
  TinyImpl m;
  try {
    io::load_state_dict(m, store, {"tiny", {}});
    FAIL() << "shape mismatch not reported";
  } catch (const WeightsError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("proj.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[64, 96]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[96, 96]"), std::string::npos) << msg;
  }
}

TEST(StrictLoader, ReportsMissingAndUnexpectedTogether) {
  auto src = open_comfy();
  auto store = src.transformer.store.without({"blocks.", "condition_embedder.", "proj_out."});
  TinyImpl m;
  try {
    io::load_state_dict(m, store, {"tiny", {}});
    FAIL();
  } catch (const WeightsError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("missing 2 [proj.weight, proj.bias]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("unexpected 2 [patch_embedding.bias, patch_embedding.weight]"), std::string::npos) << msg;
  }
  // With the extra keys ignored and the right tensors renamed in, loading succeeds and converts.
  auto ok = src.transformer.store.without({"blocks.", "condition_embedder.", "proj_out."})
                .renamed({{"patch_embedding.", "unused."}});
  struct Only : torch::nn::Module {
    Only() { table = register_parameter("scale_shift_table", torch::zeros({1, 2, 96}), false); }
    torch::Tensor table;
  } only;
  auto report = io::load_state_dict(only, ok, {"tiny", {"unused."}});
  EXPECT_EQ(report.tensors, 1u);
  EXPECT_EQ(report.conversions.size(), 1u);  // BF16 -> Float
  EXPECT_TRUE(torch::equal(only.table, src.transformer.store.load("scale_shift_table", torch::kFloat32)));
}

}  // namespace
