// The project's Wan VAE and DiT were written for inference; tools/train_demo.cpp trains them with
// autograd. These tests pin what training relies on: encode/decode and the DiT forward build a
// graph when the parameters require grad, every parameter receives a finite gradient, the
// gradient matches a finite difference, and with requires_grad off nothing is recorded.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>

#include "t2v/models/layers.h"
#include "t2v/models/wan/transformer.h"
#include "t2v/models/wan/vae.h"
#include "t2v/text/umt5.h"

namespace t2v::wan {
namespace {

WanVAEConfig tiny_vae_config() {
  WanVAEConfig c;
  c.base_dim = 4;
  c.num_res_blocks = 1;
  c.latents_mean.assign(16, 0.1f);
  c.latents_std.assign(16, 2.0f);
  return c;
}

WanTransformerConfig tiny_dit_config() {
  WanTransformerConfig c;
  c.num_heads = 2;
  c.head_dim = 12;
  c.num_layers = 2;
  c.ffn_dim = 32;
  c.text_dim = 8;
  c.text_len = 6;
  c.freq_dim = 16;
  return c;
}

wan::UMT5Config tiny_umt5_config() {
  wan::UMT5Config c;
  c.vocab_size = 40;
  c.d_model = 8;
  c.d_kv = 4;
  c.num_heads = 2;
  c.d_ff = 16;
  c.num_layers = 2;
  return c;
}

void require_grad(torch::nn::Module& m, uint64_t seed) {
  nn::randomize_parameters(m, seed, 0.2);
  for (auto& p : m.parameters()) p.set_requires_grad(true);
}

// Central difference of `loss` in element i of parameter p (restored afterwards).
double numeric_gradient(torch::Tensor p, int64_t i, const std::function<double()>& loss, double eps = 1e-2) {
  torch::NoGradGuard no_grad;
  auto at = [&](double delta) {
    p.view({-1})[i].add_(delta);
    const double v = loss();
    p.view({-1})[i].sub_(delta);
    return v;
  };
  return (at(eps) - at(-eps)) / (2 * eps);
}

void expect_all_gradients(torch::nn::Module& m) {
  for (const auto& item : m.named_parameters()) {
    const auto& g = item.value().grad();
    ASSERT_TRUE(g.defined()) << item.key();
    EXPECT_TRUE(torch::isfinite(g).all().item<bool>()) << item.key();
  }
}

TEST(DemoAutograd, VAEEncodeDecodeIsDifferentiable) {
  auto vae = make_wan_vae(tiny_vae_config(), torch::kCPU);
  require_grad(*vae, 1);
  torch::manual_seed(0);
  auto video = torch::rand({3, 9, 16, 16}) * 2 - 1;  // [3, F, H, W]
  auto z = vae->encode(video);                       // [16, 3, 2, 2]
  ASSERT_TRUE(z.requires_grad());
  auto rec = vae->decode(z, VAEDecodeOptions{0, 0, /*clamp=*/false});  // [3, 9, 16, 16]
  ASSERT_EQ(rec.sizes(), video.sizes());
  auto loss = (rec - video).pow(2).mean();
  loss.backward();
  expect_all_gradients(*vae);

  // Finite difference on one weight of the encoder's first conv.
  auto p = vae->named_parameters()["encoder.conv_in.weight"];
  const double analytic = p.grad().view({-1})[5].item<double>();
  const double numeric = numeric_gradient(p, 5, [&] {
    auto r = vae->decode(vae->encode(video), VAEDecodeOptions{0, 0, false});
    return (r - video).pow(2).mean().item<double>();
  });
  EXPECT_NEAR(analytic, numeric, 1e-3 + 0.05 * std::abs(numeric));
}

TEST(DemoAutograd, DiTForwardIsDifferentiable) {
  WanTransformer3DModel dit(tiny_dit_config());
  require_grad(*dit, 2);
  torch::manual_seed(0);
  auto x = torch::randn({2, 16, 2, 4, 4});
  auto t = torch::tensor({100, 900}, torch::kInt64);
  auto ctx = torch::randn({2, 4, 8});
  auto loss = dit->forward(x, t, ctx).pow(2).mean();
  loss.backward();
  expect_all_gradients(*dit);

  auto p = dit->named_parameters()["blocks.0.attn1.to_q.weight"];
  const double analytic = p.grad().view({-1})[3].item<double>();
  const double numeric = numeric_gradient(p, 3, [&] { return dit->forward(x, t, ctx).pow(2).mean().item<double>(); });
  EXPECT_NEAR(analytic, numeric, 1e-4 + 0.05 * std::abs(numeric));
}

TEST(DemoAutograd, UMT5ForwardIsDifferentiable) {
  // train_demo --train-text-encoder: gradients reach every encoder weight through the masked
  // attention, and padded positions do not influence the real tokens' outputs.
  text::UMT5EncoderModel model(tiny_umt5_config());
  require_grad(*model, 3);
  auto ids = torch::tensor({5, 9, 17, 1, 0, 0, 7, 3, 22, 31, 12, 1}, torch::kInt64).view({2, 6});
  auto mask = torch::tensor({1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1}, torch::kInt64).view({2, 6});
  auto out = model->forward(ids, mask);  // [2, 6, 8]
  ASSERT_TRUE(out.requires_grad());
  (out * mask.unsqueeze(-1)).pow(2).mean().backward();
  expect_all_gradients(*model);
  auto p = model->named_parameters()["encoder.block.0.layer.0.SelfAttention.q.weight"];
  const double analytic = p.grad().view({-1})[7].item<double>();
  const double numeric = numeric_gradient(
      p, 7, [&] { return (model->forward(ids, mask) * mask.unsqueeze(-1)).pow(2).mean().item<double>(); });
  EXPECT_NEAR(analytic, numeric, 1e-4 + 0.05 * std::abs(numeric));
  // Row 0's first four outputs do not depend on its padding ids.
  torch::NoGradGuard no_grad;
  auto ids2 = ids.clone();
  ids2[0][4] = 30;
  ids2[0][5] = 2;
  EXPECT_TRUE(torch::allclose(model->forward(ids2, mask)[0].slice(0, 0, 4), out[0].slice(0, 0, 4).detach(), 1e-5, 1e-6));
}

TEST(DemoAutograd, InferenceRecordsNoGraph) {
  // Parameters as loaded (requires_grad false): the models' forwards record nothing, so dropping
  // their internal NoGradGuards costs inference nothing.
  auto vae = make_wan_vae(tiny_vae_config(), torch::kCPU);
  nn::randomize_parameters(*vae, 1, 0.2);
  auto z = vae->encode(torch::rand({3, 5, 16, 16}));
  EXPECT_FALSE(z.requires_grad());
  EXPECT_FALSE(vae->decode(z).requires_grad());
  WanTransformer3DModel dit(tiny_dit_config());
  nn::randomize_parameters(*dit, 2, 0.2);
  auto out = dit->forward(torch::randn({1, 16, 2, 4, 4}), torch::tensor({500}, torch::kInt64), torch::randn({1, 3, 8}));
  EXPECT_FALSE(out.requires_grad());
  text::UMT5EncoderModel umt5(tiny_umt5_config());
  nn::randomize_parameters(*umt5, 3, 0.2);
  EXPECT_FALSE(umt5->forward(torch::tensor({{4, 8, 1}}, torch::kInt64), torch::ones({1, 3}, torch::kInt64)).requires_grad());
}

}  // namespace
}  // namespace t2v::wan
