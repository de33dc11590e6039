// The one denoising loop: refactor identity with the hand-written Wan loop, video-to-video start
// (strength -> first step, add_noise), known frames imposed every step, expert routing by timestep,
// cancellation, the step-cache hook, and argument errors. A fake elementwise denoiser keeps every
// latent frame independent, so frames without a condition must come out exactly as without one.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <vector>

#include "t2v/diffusion/denoise.h"
#include "t2v/error.h"

namespace t2v::diffusion {
namespace {

// v = a_branch * x + b_branch: elementwise, different per branch so CFG matters.
class FakeDenoiser final : public Denoiser {
 public:
  explicit FakeDenoiser(double scale = 1.0) : scale_(scale) {}
  torch::Tensor velocity(const torch::Tensor& x, const torch::Tensor& t, int branch) override {
    ++calls;
    if (t.numel() == 1) timesteps.push_back(t.item<int64_t>());
    inputs_t.push_back(t.clone());
    return branch == 0 ? x * (0.3 * scale_) + 0.1 : x * (0.2 * scale_) - 0.05;
  }
  int calls = 0;
  std::vector<int64_t> timesteps;
  std::vector<torch::Tensor> inputs_t;  // every call's t as given

 private:
  double scale_;
};

torch::Tensor noise_like(int64_t frames, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return at::randn({4, frames, 3, 5}, gen, torch::kFloat32);
}

torch::Tensor run(const std::string& sampler_name, int steps, FakeDenoiser& d, const torch::Tensor& noise,
                  const Conditioning& c = {}, const DenoiseHooks& hooks = {}) {
  auto sampler = sampling::make_sampler(sampler_name);
  sampler->set_timesteps(steps, 5.0);
  Expert e;
  e.denoiser = &d;
  e.guidance = 5.0;
  return denoise(*sampler, {e}, noise, c, hooks);
}

TEST(DenoiseLoop, EqualsTheHandWrittenWanLoop) {
  for (const auto* name : {"unipc", "dpm++", "euler"}) {
    const auto noise = noise_like(3, 1);
    FakeDenoiser d;
    const auto got = run(name, 6, d, noise);
    EXPECT_EQ(d.calls, 12) << name;
    // The loop as W21 WanT2V.generate writes it.
    auto sampler = sampling::make_sampler(name);
    sampler->set_timesteps(6, 5.0);
    FakeDenoiser ref_d;
    auto x = noise;
    for (int i = 0; i < 6; ++i) {
      auto t = torch::full({1}, sampler->timesteps()[i], torch::kInt64);
      auto vc = ref_d.velocity(x.unsqueeze(0), t, 0)[0];
      auto vu = ref_d.velocity(x.unsqueeze(0), t, 1)[0];
      x = sampler->step(vu + 5.0 * (vc - vu), i, x);
    }
    EXPECT_TRUE(torch::equal(got, x)) << name << " max err " << (got - x).abs().max().item<double>();
    EXPECT_EQ(d.timesteps, ref_d.timesteps) << name;
  }
}

TEST(DenoiseLoop, StrengthOneIgnoresTheInitLatent) {
  const auto noise = noise_like(2, 3);
  FakeDenoiser a, b;
  Conditioning c;
  c.init_latent = noise_like(2, 4);
  c.strength = 1.0;
  EXPECT_TRUE(torch::equal(run("unipc", 5, a, noise), run("unipc", 5, b, noise, c)));
}

TEST(DenoiseLoop, StrengthZeroKeepsTheInputAndRunsNoStep) {
  const auto noise = noise_like(2, 3);
  FakeDenoiser d;
  Conditioning c;
  c.init_latent = noise_like(2, 4);
  c.strength = 0.0;
  EXPECT_TRUE(torch::equal(run("unipc", 5, d, noise, c), c.init_latent));
  EXPECT_EQ(d.calls, 0);
}

TEST(DenoiseLoop, PartialStrengthStartsLateFromTheNoisedInit) {
  const auto noise = noise_like(2, 5);
  Conditioning c;
  c.init_latent = noise_like(2, 6);
  c.strength = 0.4;  // 10 steps: init = int(4.0) = 4, first step 6
  FakeDenoiser d;
  const auto got = run("unipc", 10, d, noise, c);
  EXPECT_EQ(d.calls, 2 * 4);
  // The same as starting a sampler at step 6 from (1 - sigma_6) init + sigma_6 noise by hand.
  auto sampler = sampling::make_sampler("unipc");
  sampler->set_timesteps(10, 5.0);
  EXPECT_EQ(d.timesteps.front(), sampler->timesteps()[6]);
  const float s6 = sampler->sigmas()[6].item<float>();
  auto x = s6 * noise + (1 - s6) * c.init_latent;
  sampler->begin_at(6);
  FakeDenoiser ref_d;
  for (int i = 6; i < 10; ++i) {
    auto t = torch::full({1}, sampler->timesteps()[i], torch::kInt64);
    auto vc = ref_d.velocity(x.unsqueeze(0), t, 0)[0];
    auto vu = ref_d.velocity(x.unsqueeze(0), t, 1)[0];
    x = sampler->step(vu + 5.0 * (vc - vu), i, x);
  }
  const double err = (got - x).abs().max().item<double>();
  EXPECT_LE(err, 1e-6) << "max err " << err;
  // Closer to the input than a full run is.
  FakeDenoiser full_d;
  const auto full = run("unipc", 10, full_d, noise);
  EXPECT_LT((got - c.init_latent).abs().mean().item<double>(), (full - c.init_latent).abs().mean().item<double>());
}

TEST(DenoiseLoop, KnownFramesComeOutCleanAndFreeFramesAreUntouched) {
  const auto noise = noise_like(4, 7);
  Conditioning c;
  c.known_latent = noise_like(4, 8);
  c.known_weight = torch::tensor({1.0f, 0.0f, 0.0f, 1.0f});
  FakeDenoiser a, b;
  const auto plain = run("unipc", 6, a, noise);
  const auto got = run("unipc", 6, b, noise, c);
  for (int64_t j : {0, 3}) EXPECT_TRUE(torch::equal(got.select(1, j), c.known_latent.select(1, j))) << j;
  // The fake denoiser is elementwise, so unconditioned frames cannot see the imposed ones.
  for (int64_t j : {1, 2}) {
    const double err = (got.select(1, j) - plain.select(1, j)).abs().max().item<double>();
    EXPECT_LE(err, 1e-6) << "frame " << j << " max err " << err;
  }
}

TEST(DenoiseLoop, ImposesKnownFramesAtEachStepsNoiseLevel) {
  const auto noise = noise_like(2, 9);
  Conditioning c;
  c.known_latent = noise_like(2, 10);
  c.known_weight = torch::tensor({1.0f, 0.0f});
  auto sampler = sampling::make_sampler("euler");
  sampler->set_timesteps(4, 5.0);
  std::vector<torch::Tensor> inputs;
  DenoiseHooks hooks;
  hooks.dump = [&](const std::string& name, const torch::Tensor& t) {
    if (name.find(".latent_in") != std::string::npos) inputs.push_back(t);
  };
  FakeDenoiser d;
  Expert e{&d, 0, 1e9, 5.0};
  (void)denoise(*sampler, {e}, noise, c, hooks);
  ASSERT_EQ(inputs.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    const float s = sampler->sigmas()[i].item<float>();
    auto expect = s * noise.select(1, 0) + (1 - s) * c.known_latent.select(1, 0);
    const double err = (inputs[i].select(1, 0) - expect).abs().max().item<double>();
    EXPECT_LE(err, 1e-6) << "step " << i << " max err " << err;
  }
}

// known_at_t0 (Wan2.2 TI2V's rule): known frames imposed clean before every step, their
// timestep 0 per latent frame ((1 - w) t), the free frames at the step's t.
TEST(DenoiseLoop, KnownFramesAtTimestepZero) {
  const auto noise = noise_like(3, 21);
  Conditioning c;
  c.known_latent = torch::zeros_like(noise);
  c.known_latent.select(1, 0).copy_(noise_like(1, 22).select(1, 0));
  c.known_weight = torch::tensor({1.0f, 0.0f, 0.0f});
  c.known_at_t0 = true;
  auto sampler = sampling::make_sampler("unipc");
  sampler->set_timesteps(4, 5.0);
  std::vector<torch::Tensor> latent_in;
  DenoiseHooks hooks;
  hooks.dump = [&](const std::string& name, const torch::Tensor& t) {
    if (name.find(".latent_in") != std::string::npos) latent_in.push_back(t);
  };
  FakeDenoiser d;
  Expert e{&d, 0, 1e9, 5.0};
  const auto out = denoise(*sampler, {e}, noise, c, hooks);
  ASSERT_EQ(d.inputs_t.size(), 8u);
  for (size_t k = 0; k < d.inputs_t.size(); ++k) {
    const auto& t = d.inputs_t[k];
    ASSERT_EQ(t.sizes(), (c10::IntArrayRef{1, 3}));
    EXPECT_EQ(t.scalar_type(), torch::kFloat32);
    const float step_t = static_cast<float>(sampler->timesteps()[k / 2]);
    EXPECT_EQ(t[0][0].item<float>(), 0.0f);
    EXPECT_EQ(t[0][1].item<float>(), step_t);
    EXPECT_EQ(t[0][2].item<float>(), step_t);
  }
  ASSERT_EQ(latent_in.size(), 4u);
  for (const auto& x : latent_in) EXPECT_TRUE(torch::equal(x.select(1, 0), c.known_latent.select(1, 0)));
  EXPECT_TRUE(torch::equal(out.select(1, 0), c.known_latent.select(1, 0)));
  // Without known frames the flag is an error, not ignored.
  Conditioning bad;
  bad.known_at_t0 = true;
  EXPECT_THROW(denoise(*sampler, {e}, noise, bad), Error);
}

TEST(DenoiseLoop, ExpertsServeTheirTimestepRanges) {
  auto sampler = sampling::make_sampler("unipc");
  sampler->set_timesteps(8, 5.0);
  const int64_t boundary = 875;  // Wan2.2 A14B T2V: boundary_ratio 0.875 * 1000
  FakeDenoiser high, low(0.5);
  Expert eh{&high, static_cast<double>(boundary), 1e9, 4.0};
  Expert el{&low, 0, static_cast<double>(boundary), 3.0};
  (void)denoise(*sampler, {eh, el}, noise_like(1, 11), {});
  EXPECT_EQ(high.calls + low.calls, 16);
  for (auto t : high.timesteps) EXPECT_GE(t, boundary);
  for (auto t : low.timesteps) EXPECT_LT(t, boundary);
  EXPECT_GT(high.calls, 0);
  EXPECT_GT(low.calls, 0);
  EXPECT_THROW(expert_for({el}, 900), Error);
}

TEST(DenoiseLoop, CancelTokenStopsBeforeTheNextStep) {
  CancelToken token;
  token.cancel();
  DenoiseHooks hooks;
  hooks.cancel = &token;
  FakeDenoiser d;
  EXPECT_THROW(run("unipc", 4, d, noise_like(1, 12), {}, hooks), Interrupted);
  EXPECT_EQ(d.calls, 0);
}

TEST(DenoiseLoop, StepCacheHookSkipsTheModelPasses) {
  int asked = 0, told = 0;
  DenoiseHooks hooks;
  hooks.cached_velocity = [&](const StepInfo& info, const torch::Tensor& x) {
    ++asked;
    return info.step % 2 == 1 ? torch::zeros_like(x) : torch::Tensor();  // reuse on odd steps
  };
  hooks.after_velocity = [&](const StepInfo&, const torch::Tensor&, const torch::Tensor&) { ++told; };
  FakeDenoiser d;
  (void)run("euler", 6, d, noise_like(1, 13), {}, hooks);
  EXPECT_EQ(asked, 6);
  EXPECT_EQ(told, 6);
  EXPECT_EQ(d.calls, 6);  // 3 even steps x 2 branches
}

TEST(DenoiseLoop, MismatchedConditionsAreRefused) {
  FakeDenoiser d;
  Conditioning c;
  c.init_latent = noise_like(3, 1);
  c.strength = 0.5;
  EXPECT_THROW(run("unipc", 4, d, noise_like(2, 1), c), Error);
  Conditioning k;
  k.known_latent = noise_like(2, 1);
  k.known_weight = torch::ones({3});
  EXPECT_THROW(run("unipc", 4, d, noise_like(2, 1), k), Error);
  Conditioning s;
  s.init_latent = noise_like(2, 1);
  s.strength = 1.5;
  EXPECT_THROW(run("unipc", 4, d, noise_like(2, 1), s), UsageError);
}

TEST(SamplerStart, StrengthToFirstStepFollowsDiffusers) {
  using sampling::first_step_for_strength;
  EXPECT_EQ(first_step_for_strength(50, 1.0), 0);
  EXPECT_EQ(first_step_for_strength(50, 0.0), 50);
  EXPECT_EQ(first_step_for_strength(50, 0.3), 35);  // int(15.0) = 15
  EXPECT_EQ(first_step_for_strength(10, 0.55), 5);  // int(5.5) = 5
  EXPECT_EQ(first_step_for_strength(3, 0.999), 1);  // int(2.997) = 2
  for (double bad : {-0.1, 1.01, std::nan("")}) {
    try {
      first_step_for_strength(10, bad);
      ADD_FAILURE() << bad;
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("strength"), std::string::npos) << e.what();
    }
  }
}

TEST(SamplerStart, AddNoiseIsTheFlowForwardProcess) {
  auto sampler = sampling::make_sampler("dpm++");
  sampler->set_timesteps(5, 3.0);
  const auto x0 = noise_like(2, 20), eps = noise_like(2, 21);
  EXPECT_TRUE(torch::equal(sampler->add_noise(x0, eps, 5), x0));  // sigma_N = 0
  for (int i = 0; i < 5; ++i) {
    const float s = sampler->sigmas()[i].item<float>();
    const double err = (sampler->add_noise(x0, eps, i) - (s * eps + (1 - s) * x0)).abs().max().item<double>();
    EXPECT_LE(err, 1e-6) << i;
  }
  EXPECT_THROW(sampler->add_noise(x0, eps, 6), Error);
  EXPECT_THROW(sampler->add_noise(x0, noise_like(3, 1), 0), Error);
}

TEST(SamplerStart, BeginAtRequiresThatStepNext) {
  auto sampler = sampling::make_sampler("unipc");
  sampler->set_timesteps(6, 5.0);
  sampler->begin_at(3);
  EXPECT_EQ(sampler->begin_index(), 3);
  const auto x = noise_like(1, 1);
  EXPECT_THROW(sampler->step(x, 0, x), Error);
  EXPECT_NO_THROW(sampler->step(x, 3, x));
  EXPECT_EQ(sampler->last_order(), 1);  // history starts empty at the begin step
  EXPECT_THROW(sampler->begin_at(7), Error);
  sampler->set_timesteps(6, 5.0);
  EXPECT_EQ(sampler->begin_index(), 0);
}

}  // namespace
}  // namespace t2v::diffusion
