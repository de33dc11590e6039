// The project's Wan VAE and DiT were written for inference; tools/train_demo.cpp trains them with
// autograd. These tests pin what training relies on: encode/decode and the DiT forward build a
// graph when the parameters require grad, every parameter receives a finite gradient, the
// gradient matches a finite difference, and with requires_grad off nothing is recorded.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "t2v/models/layers.h"
#include "t2v/models/wan/transformer.h"
#include "t2v/models/wan/vae.h"

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

void require_grad(torch::nn::Module& m, uint64_t seed) {
  nn::randomize_parameters(m, seed, 0.2);
  for (auto& p : m.parameters()) p.set_requires_grad(true);
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
  const double eps = 1e-2;
  auto value = [&](double delta) {
    torch::NoGradGuard no_grad;
    p.view({-1})[5].add_(delta);
    auto r = vae->decode(vae->encode(video), VAEDecodeOptions{0, 0, false});
    p.view({-1})[5].sub_(delta);
    return (r - video).pow(2).mean().item<double>();
  };
  const double numeric = (value(eps) - value(-eps)) / (2 * eps);
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
  const double eps = 1e-2;
  auto value = [&](double delta) {
    torch::NoGradGuard no_grad;
    p.view({-1})[3].add_(delta);
    const double v = dit->forward(x, t, ctx).pow(2).mean().item<double>();
    p.view({-1})[3].sub_(delta);
    return v;
  };
  const double numeric = (value(eps) - value(-eps)) / (2 * eps);
  EXPECT_NEAR(analytic, numeric, 1e-4 + 0.05 * std::abs(numeric));
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
}

}  // namespace
}  // namespace t2v::wan
