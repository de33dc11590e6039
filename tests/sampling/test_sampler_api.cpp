// Sampler interface: factory, argument errors, step order, state reset, orders, dtypes.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "t2v/error.h"
#include "t2v/sampling/sampler.h"

namespace t2v::sampling {
namespace {

TEST(SamplerFactory, KnownNames) {
  EXPECT_EQ(sampler_names(), (std::vector<std::string>{"unipc", "dpm++", "euler"}));
  for (const auto& name : sampler_names()) {
    auto s = make_sampler(name);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->name(), name);
    EXPECT_EQ(s->num_steps(), 0);
  }
}

TEST(SamplerFactory, UnknownNameIsUsageErrorListingChoices) {
  for (const char* bad : {"", "UniPC", "dpm", "ddim"}) {
    try {
      make_sampler(bad);
      ADD_FAILURE() << "no exception for '" << bad << "'";
    } catch (const UsageError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(std::string("'") + bad + "'"), std::string::npos) << msg;
      EXPECT_NE(msg.find("unipc, dpm++, euler"), std::string::npos) << msg;
    }
  }
}

TEST(SamplerApi, BadScheduleArgumentsAreUsageErrors) {
  for (const auto& name : sampler_names()) {
    auto s = make_sampler(name);
    EXPECT_THROW(s->set_timesteps(0, 5.0), UsageError) << name;
    EXPECT_THROW(s->set_timesteps(10, 0.0), UsageError) << name;
  }
}

TEST(SamplerApi, MisuseIsAnError) {
  auto s = make_sampler("unipc");
  auto x = torch::zeros({2, 3});
  EXPECT_THROW(s->step(x, 0, x), Error);  // before set_timesteps
  s->set_timesteps(4, 5.0);
  EXPECT_THROW(s->step(x, 4, x), Error);                     // out of range
  EXPECT_THROW(s->step(x, 1, x), Error);                     // skips step 0
  EXPECT_THROW(s->step(torch::zeros({3, 2}), 0, x), Error);  // shape mismatch
  EXPECT_THROW(s->step(torch::zeros({2, 3}, torch::kInt64), 0, x), Error);
  s->step(x, 0, x);
  EXPECT_THROW(s->step(x, 0, x), Error);  // repeated step
  auto d = make_sampler("dpm++");
  d->set_timesteps(4, 5.0);
  EXPECT_THROW(d->step(x, 2, x), Error);
}

TEST(SamplerApi, UniPCOrders) {
  // order_i = min(2, N - i, i + 1): warm-up at the first step, lower_order_final at the last.
  const std::vector<std::vector<int>> want = {{1}, {1, 1}, {1, 2, 1}, {1, 2, 2, 2, 1}};
  for (const auto& orders : want) {
    auto s = make_sampler("unipc");
    const int n = static_cast<int>(orders.size());
    s->set_timesteps(n, 5.0);
    torch::manual_seed(n);
    auto x = torch::randn({3, 3});
    std::vector<int> got;
    for (int i = 0; i < n; ++i) {
      x = s->step(torch::randn({3, 3}), i, x);
      got.push_back(s->last_order());
    }
    EXPECT_EQ(got, orders) << "N=" << n;
    EXPECT_TRUE(torch::equal(x, s->last_x0())) << "N=" << n;  // last step returns x0
  }
}

TEST(SamplerApi, SetTimestepsStartsOver) {
  for (const auto& name : sampler_names()) {
    auto s = make_sampler(name);
    torch::Tensor first;
    for (int rep = 0; rep < 2; ++rep) {
      s->set_timesteps(5, 3.0);
      EXPECT_EQ(s->last_order(), 0);
      EXPECT_FALSE(s->last_x0().defined());
      torch::manual_seed(11);
      auto x = torch::randn({4, 2});
      for (int i = 0; i < 5; ++i) x = s->step(torch::randn({4, 2}), i, x);
      if (rep == 0) first = x;
      else EXPECT_TRUE(torch::equal(first, x)) << name;
    }
  }
}

TEST(SamplerApi, KeepsSampleDtype) {
  for (const auto& name : sampler_names()) {
    for (auto dtype : {torch::kFloat64, torch::kBFloat16}) {
      auto s = make_sampler(name);
      s->set_timesteps(3, 5.0);
      torch::manual_seed(12);
      auto x = torch::randn({2, 3}).to(dtype);
      auto ref = torch::randn({2, 3});
      for (int i = 0; i < 3; ++i) {
        x = s->step((ref * (i + 1)).to(dtype), i, x);
        EXPECT_EQ(x.scalar_type(), dtype) << name;
        EXPECT_TRUE(torch::isfinite(x).all().item<bool>()) << name;
      }
    }
  }
}

}  // namespace
}  // namespace t2v::sampling
