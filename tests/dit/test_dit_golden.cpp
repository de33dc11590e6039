// Golden tests of the Wan DiT against the official WanModel (fixtures cases/dit_*.safetensors, made
// by W21 wan/modules/model.py on CPU in fp32). Every case runs with the weights of the diffusers
// folder (fp32, two shards) and of the ComfyUI single file (bf16, official names): the weights are
// bf16-representable, so both must give the same result. debug.* intermediates are compared too,
// in forward order, so a failure points at the first stage that diverges.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "support/golden.h"
#include "t2v/error.h"
#include "t2v/io/json_file.h"
#include "t2v/models/wan/model_source.h"
#include "t2v/models/wan/transformer.h"

namespace t2v::test {
namespace {

const std::vector<std::string>& dit_cases() {
  static const std::vector<std::string> cases = {"dit_f3h8w12.safetensors", "dit_f1h6w10.safetensors",
                                                 "dit_f5h4w4.safetensors", "dit_batch2_f2h4w6.safetensors"};
  return cases;
}

wan::WanModelSource open_layout(const std::string& layout) {
  if (layout == "diffusers") return wan::open_diffusers_folder(tiny_model_dir());
  wan::SingleFilePaths paths;
  paths.transformer = tiny_comfy_dir() / "wan2.1_t2v_tiny_bf16.safetensors";
  paths.text_encoder = tiny_comfy_dir() / "umt5_tiny_bf16.safetensors";
  paths.vae = tiny_comfy_dir() / "wan_2.1_vae_tiny_bf16.safetensors";
  return wan::open_single_files(paths);
}

// One fp32 CPU model per layout, loaded once for all cases.
wan::WanTransformer3DModel& model_for(const std::string& layout) {
  static std::map<std::string, wan::WanTransformer3DModel> models;
  auto it = models.find(layout);
  if (it == models.end()) {
    it = models.emplace(layout, wan::load_wan_transformer(open_layout(layout), torch::kFloat, torch::kCPU)).first;
  }
  return it->second;
}

struct Inputs {
  torch::Tensor x, t, context;
};

Inputs case_inputs(const std::string& file) {
  return {load_case_tensor(file, "x"), load_case_tensor(file, "t"), load_case_tensor(file, "context")};
}

// Every debug.* tensor of the case plus `out`, in forward order.
std::vector<std::string> compared_names(const std::string& file, int64_t layers) {
  std::vector<std::string> names = {"e", "e0", "context_emb", "x_patch"};
  for (int64_t i = 0; i < layers; ++i) names.push_back("block" + std::to_string(i) + "_out");
  names.push_back("head_out");
  return names;
}

class DitGolden : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(DitGolden, MatchesOfficialWanModel) {
  const auto& [layout, file] = GetParam();
  auto& model = model_for(layout);
  const auto in = case_inputs(file);
  wan::DebugTensors debug;
  auto out = model->forward(in.x, in.t, in.context, &debug);
  EXPECT_EQ(out.scalar_type(), torch::kFloat);
  for (const auto& name : compared_names(file, model->config().num_layers)) {
    ASSERT_TRUE(debug.count(name)) << "no debug tensor " << name;
    auto result = matches_golden(debug.at(name), file, "debug." + name);
    EXPECT_TRUE(result) << layout << " " << file << " debug." << name << ": " << result.message();
  }
  auto result = matches_golden(out, file, "out");
  EXPECT_TRUE(result) << layout << " " << file << " out: " << result.message();
  // Stricter bound for an implementation that keeps the fp64 islands (README §4 atol_strict).
  EXPECT_TRUE(all_close(out, load_case_tensor(file, "out"), tolerance(file, "out", /*strict=*/true)));
  std::cout << "[ dit ] " << layout << " " << file << " out: " << result.message() << "\n";
}

INSTANTIATE_TEST_SUITE_P(Cases, DitGolden,
                         ::testing::Combine(::testing::Values("diffusers", "single-file"),
                                            ::testing::ValuesIn(dit_cases())),
                         [](const auto& info) {
                           std::string name = std::get<0>(info.param) + "_" + std::get<1>(info.param);
                           for (auto& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

// The prepared-context path (encode_text once, reused) and a forced chunked attention with a
// chunk that does not divide the token count give the reference result too.
TEST(DitGoldenPaths, PreparedContextAndChunkedAttention) {
  const std::string file = "dit_f3h8w12.safetensors";
  auto& model = model_for("diffusers");
  const auto in = case_inputs(file);
  auto text = model->encode_text(in.context);
  const auto saved = model->attention_options();
  wan::AttentionOptions chunked;
  chunked.backend = wan::AttentionBackend::kChunked;
  chunked.chunk_size = 5;  // 72 tokens -> 15 chunks, the last one short
  model->set_attention(chunked);
  auto out = model->forward(in.x, in.t, text);
  model->set_attention(saved);
  EXPECT_TRUE(matches_golden(out, file, "out"));
  // Unpadded context rows (trimmed prompt): the model pads with zero rows itself.
  const int64_t len = load_case_tensor(file, "context_lens")[0].item<int64_t>();
  auto trimmed = model->forward(in.x, in.t, in.context.narrow(1, 0, len));
  EXPECT_TRUE(matches_golden(trimmed, file, "out"));
}

// Per-sample timesteps in a batch: each sample equals its own batch-1 run.
TEST(DitGoldenPaths, BatchEqualsSingleSamples) {
  const std::string file = "dit_batch2_f2h4w6.safetensors";
  auto& model = model_for("single-file");
  const auto in = case_inputs(file);
  auto batched = model->forward(in.x, in.t, in.context);
  ASSERT_NE(in.t[0].item<int64_t>(), in.t[1].item<int64_t>());
  for (int64_t b = 0; b < 2; ++b) {
    auto single = model->forward(in.x.narrow(0, b, 1), in.t.narrow(0, b, 1), in.context.narrow(0, b, 1));
    EXPECT_TRUE(all_close(single, batched.narrow(0, b, 1), 1e-5));
  }
}

// Wan2.2-style per-token timesteps [B, L]: all tokens at the sample's t give the [B] result.
TEST(DitGoldenPaths, PerTokenTimestepsEqualPerSample) {
  const std::string file = "dit_batch2_f2h4w6.safetensors";
  auto& model = model_for("diffusers");
  const auto in = case_inputs(file);
  const int64_t tokens = in.x.size(2) * (in.x.size(3) / 2) * (in.x.size(4) / 2);
  auto per_token = in.t.unsqueeze(1).expand({in.t.size(0), tokens}).contiguous();  // [B, L]
  EXPECT_TRUE(matches_golden(model->forward(in.x, per_token, in.context), file, "out"));
}

TEST(DitGoldenPaths, RejectsBadShapesWithInputError) {
  auto& model = model_for("diffusers");
  const auto in = case_inputs("dit_f3h8w12.safetensors");
  EXPECT_THROW(model->forward(in.x.narrow(3, 0, 7), in.t, in.context), InputError);  // odd latent height
  EXPECT_THROW(model->forward(in.x.narrow(1, 0, 15), in.t, in.context), InputError);  // channels
  EXPECT_THROW(model->forward(in.x, torch::tensor({1, 2}, torch::kInt64), in.context), InputError);
  EXPECT_THROW(model->forward(in.x, in.t, torch::zeros({1, 17, 32})), InputError);  // > text_len rows
  EXPECT_THROW(model->forward(in.x, in.t, torch::zeros({1, 16, 31})), InputError);  // text_dim
}

// bf16 bulk weights with the fp32 islands, on the CPU: a sanity check of the CUDA precision path
// (dtype plumbing, promotions), not of bf16 accuracy. Skipped where the CPU lacks bf16 kernels.
TEST(DitGoldenPaths, Bf16WeightsSanity) {
  const std::string file = "dit_f3h8w12.safetensors";
  auto source = open_layout("single-file");
  auto model = wan::load_wan_transformer(source, torch::kBFloat16, torch::kCPU);
  EXPECT_EQ(model->proj_out->weight.scalar_type(), torch::kFloat);
  EXPECT_EQ(model->scale_shift_table.scalar_type(), torch::kFloat);
  EXPECT_EQ(model->patch_embedding->weight.scalar_type(), torch::kBFloat16);
  const auto in = case_inputs(file);
  torch::Tensor out;
  try {
    out = model->forward(in.x, in.t, in.context);
  } catch (const c10::Error& e) {
    GTEST_SKIP() << "no bf16 CPU kernel: " << e.what_without_backtrace();
  }
  auto expected = load_case_tensor(file, "out");
  EXPECT_EQ(out.scalar_type(), torch::kFloat);
  // bf16 has 8 mantissa bits: errors of a few 1e-2 on values of magnitude ~5 are expected.
  const double rel = ((out - expected).norm() / expected.norm()).item<double>();
  std::cout << "[ dit ] bf16 CPU relative L2 error " << rel << "\n";
  EXPECT_LT(rel, 0.02);
}

}  // namespace
}  // namespace t2v::test

namespace t2v::test {
namespace {
// Wan2.2 TI2V-5B's DiT (48 latent channels) with per-token timesteps, as WanTI2V builds them
// ((mask2[0][0][:, ::2, ::2] * t).flatten(), W22 wan/textimage2video.py): the engine's per-frame
// timesteps expand to exactly those tokens, and the forward matches the official WanModel.
TEST(DitGoldenTi2v, PerFrameTimestepsExpandToTheOfficialPerTokenOnes) {
  // The folder as a whole is TI2V (refused until its VAE runs); its DiT loads on its own.
  const auto dir = golden_dir() / "wan22-ti2v-tiny" / "transformer";
  auto cfg = wan::WanTransformerConfig::from_diffusers_json(io::read_json_file(dir / "config.json"), "config.json");
  cfg.text_len = load_case_tensor("cases-wan22-ti2v/dit_f3h4w6_mask.safetensors", "context").size(1);  // zero-padded
  const auto c = wan::canonical_component("transformer", io::TensorStore::open(dir), nullptr);
  auto dit = wan::load_wan_transformer(cfg, c.store, torch::kFloat, torch::kCPU, c.layout);
  ASSERT_EQ(dit->config().in_channels, 48);
  torch::NoGradGuard no_grad;
  for (const std::string name : {"dit_f3h4w6_mask.safetensors", "dit_batch2_f2h4w4_tokens.safetensors",
                                 "dit_f2h6w4_scalar.safetensors"}) {
    const std::string file = "cases-wan22-ti2v/" + name;
    const auto x = load_case_tensor(file, "x");
    auto t = load_case_tensor(file, "t");
    if (t.dim() == 2) {
      // One value per latent frame: the first token of each frame.
      const auto frames = t.view({t.size(0), x.size(2), -1}).select(2, 0).contiguous();  // [B, F]
      const auto tokens = wan::frame_to_token_timesteps(frames, x.sizes(), dit->config().patch_size);
      ASSERT_TRUE(torch::equal(tokens, t)) << name << ": per-frame timesteps do not expand to the fixture's";
      t = tokens;
    }
    auto out = dit->forward(x, t, load_case_tensor(file, "context"));
    auto result = matches_golden(out, file, "out");
    EXPECT_TRUE(result) << name << ": " << result.message();
  }
  EXPECT_THROW(wan::frame_to_token_timesteps(torch::zeros({1, 2}), {1, 48, 3, 4, 6}, {1, 2, 2}), InputError);
}
}  // namespace
}  // namespace t2v::test
