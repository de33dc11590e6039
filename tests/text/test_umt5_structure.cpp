// umT5 unit tests that need no fixture outputs: the relative-position bucket function (exact
// boundaries), parameter names vs real checkpoint key sets, config validation, small numerics.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <set>

#include "t2v/error.h"
#include "t2v/io/state_dict_loader.h"
#include "t2v/text/umt5.h"
#include "text/text_fixtures.h"

using namespace t2v;
using namespace t2v::test;

namespace {
std::set<std::string> parameter_names(torch::nn::Module& m) {
  std::set<std::string> out;
  for (const auto& p : m.named_parameters()) out.insert(p.key());
  return out;
}
std::set<std::string> weight_keys(const io::TensorStore& store) {
  std::set<std::string> out;
  for (const auto& k : store.keys()) {
    if (!io::is_auxiliary_key(k)) out.insert(k);
  }
  return out;
}

// Mathematical bucket (exact real arithmetic): a value that is an integer up to rounding noise
// counts as that integer (|rel| = max_exact * ratio^(k/n) exactly).
int64_t exact_bucket(int64_t rel, int64_t num_buckets, int64_t max_distance) {
  const int64_t half = num_buckets / 2, max_exact = half / 2;
  int64_t b = rel > 0 ? half : 0;
  const int64_t a = std::llabs(rel);
  if (a < max_exact) return b + a;
  const long double x = std::log(static_cast<long double>(a) / max_exact) /
                        std::log(static_cast<long double>(max_distance) / max_exact) * (half - max_exact);
  const long double r = std::round(x);
  const int64_t k = std::fabs(x - r) < 1e-9L ? static_cast<int64_t>(r) : static_cast<int64_t>(std::floor(x));
  return b + std::min(max_exact + k, half - 1);
}
}  // namespace

TEST(umt5Buckets, Umt5XxlBoundaries) {
  // rel = key - query: row 0 of [1, 400] gives rel = 0..399 (> 0 -> +16), column 0 of [400, 1]
  // gives rel = 0..-399.
  auto right = text::relative_position_buckets(1, 400, 32, 128)[0];
  auto left = text::relative_position_buckets(400, 1, 32, 128).select(1, 0);
  ASSERT_EQ(right.scalar_type(), torch::kInt64);
  auto magnitude = [](int64_t a) -> int64_t {
    if (a < 8) return a;
    if (a <= 11) return 8;
    if (a <= 15) return 9;
    if (a <= 22) return 10;
    if (a <= 31) return 11;
    if (a <= 45) return 12;
    if (a <= 63) return 13;
    if (a <= 90) return 14;
    return 15;
  };
  for (int64_t a = 0; a < 400; ++a) {
    EXPECT_EQ(left[a].item<int64_t>(), magnitude(a)) << "rel = -" << a;
    EXPECT_EQ(right[a].item<int64_t>(), (a > 0 ? 16 : 0) + magnitude(a)) << "rel = +" << a;
  }
  // The exact integer boundaries called out in the spec.
  EXPECT_EQ(left[16].item<int64_t>(), 10);
  EXPECT_EQ(left[32].item<int64_t>(), 12);
  EXPECT_EQ(left[64].item<int64_t>(), 14);
  EXPECT_EQ(left[91].item<int64_t>(), 15);
  EXPECT_EQ(left[90].item<int64_t>(), 14);
}

TEST(umt5Buckets, OtherConfigsFollowTheSameRule) {
  for (auto [nb, md] : std::vector<std::pair<int64_t, int64_t>>{{32, 128}, {64, 256}, {16, 64}, {32, 64}, {8, 20}}) {
    auto rel = torch::arange(-700, 701, torch::kInt64);
    auto got = text::relative_position_bucket(rel, nb, md);
    for (int64_t i = 0; i < rel.numel(); ++i) {
      const int64_t r = rel[i].item<int64_t>();
      ASSERT_EQ(got[i].item<int64_t>(), exact_bucket(r, nb, md)) << "num_buckets " << nb << " max_distance " << md
                                                                 << " rel " << r;
    }
  }
  // Shape of the matrix form: [Lq, Lk], diagonal = bucket 0.
  auto m = text::relative_position_buckets(5, 7, 32, 128);
  EXPECT_EQ(m.sizes(), (std::vector<int64_t>{5, 7}));
  EXPECT_EQ(m.diagonal().abs().sum().item<int64_t>(), 0);
}

TEST(umt5Structure, ParameterNamesEqualCheckpointKeys) {
  for (const auto& source : {tiny_diffusers(), tiny_comfy()}) {
    text::UMT5EncoderModel model(source.text_encoder_config);
    EXPECT_EQ(parameter_names(*model), weight_keys(source.text_encoder.store)) << source.kind;
    // Shapes too.
    for (const auto& p : model->named_parameters()) {
      EXPECT_EQ(p.value().sizes(), torch::IntArrayRef(source.text_encoder.store.info(p.key()).shape)) << p.key();
    }
  }
}

TEST(umt5Structure, Umt5XxlKeySet) {
  // The real config on the meta device (no memory): 242 tensors with the names of spec §1.5 (b).
  wan::UMT5Config config;  // defaults = umT5-XXL
  text::UMT5Options options;
  options.dtype = torch::kBFloat16;
  options.device = torch::Device(torch::kMeta);
  text::UMT5EncoderModel model(config, options);
  const auto names = parameter_names(*model);
  EXPECT_EQ(names.size(), 242u);
  EXPECT_TRUE(names.count("shared.weight"));
  EXPECT_TRUE(names.count("encoder.final_layer_norm.weight"));
  EXPECT_TRUE(names.count("encoder.block.23.layer.0.SelfAttention.relative_attention_bias.weight"));
  EXPECT_TRUE(names.count("encoder.block.23.layer.1.DenseReluDense.wi_0.weight"));
  auto params = model->named_parameters();
  EXPECT_EQ(params["shared.weight"].sizes(), (std::vector<int64_t>{256384, 4096}));
  EXPECT_EQ(params["encoder.block.0.layer.1.DenseReluDense.wo.weight"].sizes(), (std::vector<int64_t>{4096, 10240}));
  EXPECT_EQ(params["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"].sizes(),
            (std::vector<int64_t>{32, 64}));
  uint64_t n = 0;
  for (const auto& p : params) n += static_cast<uint64_t>(p.value().numel());
  EXPECT_EQ(n, 5680910336u);  // 256384*4096 + 24*(4*4096^2 + 3*4096*10240 + 32*64 + 2*4096) + 4096
}

TEST(umt5Structure, RejectsBadConfig) {
  wan::UMT5Config c = tiny_diffusers().text_encoder_config;
  c.num_buckets = 3;
  EXPECT_THROW(text::UMT5EncoderModel{c}, ConfigError);
  c = tiny_diffusers().text_encoder_config;
  c.d_kv = 0;
  EXPECT_THROW(text::UMT5EncoderModel{c}, ConfigError);
}

TEST(umt5Numerics, RmsNormCastsBeforeWeight) {
  auto x = torch::randn({2, 3, 8}).to(torch::kBFloat16);
  auto w = (torch::rand({8}) + 0.5).to(torch::kBFloat16);
  auto got = text::t5_rms_norm(x, w, 1e-6);
  ASSERT_EQ(got.scalar_type(), torch::kBFloat16);
  auto xf = x.to(torch::kFloat32);
  auto normed = (xf * torch::rsqrt(xf.pow(2).mean(-1, true) + 1e-6)).to(torch::kBFloat16);
  EXPECT_TRUE(torch::equal(got, w * normed));
  // fp32 weight: no intermediate rounding.
  auto got32 = text::t5_rms_norm(xf, w.to(torch::kFloat32), 1e-6);
  EXPECT_TRUE(torch::allclose(got32, w.to(torch::kFloat32) * xf * torch::rsqrt(xf.pow(2).mean(-1, true) + 1e-6)));
}

TEST(umt5Numerics, GeluIsTanhApproximation) {
  auto x = torch::linspace(-6, 6, 101, torch::kFloat64);
  auto expected = 0.5 * x * (1 + torch::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x.pow(3))));
  EXPECT_TRUE(torch::allclose(text::gelu_tanh(x), expected, 0, 1e-12));
}

TEST(umt5Numerics, Fp16ClampOnlyActsOnFp16Infs) {
  auto x = torch::tensor({1.0f, std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()});
  auto h = text::fp16_clamp(x.to(torch::kFloat16)).to(torch::kFloat32);
  EXPECT_EQ(h[0].item<float>(), 1.0f);
  // Bound finfo(float16).max - 1000 = 64504, applied in fp16 -> the nearest fp16 value 64512.
  EXPECT_EQ(h[1].item<float>(), 64512.0f);
  EXPECT_EQ(h[2].item<float>(), -64512.0f);
  EXPECT_TRUE(torch::equal(text::fp16_clamp(x), x));  // fp32: untouched (inf stays)
  auto finite = torch::tensor({60000.0f, -3.0f}).to(torch::kFloat16);
  EXPECT_TRUE(torch::equal(text::fp16_clamp(finite), finite));  // no inf: untouched
}
