// `t2v bench`: each benchmark runs at a tiny size and reports, as one JSON object, the keys that
// ../reference/bench_official.py reports too (median_s, min_s, max_s, peak_rss_bytes, peak_gpu_bytes)
// plus the backend used; bad sizes are refused with exit 2.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/run_binary.h"

using t2v::test::run_t2v;
using nlohmann::json;

namespace {

// Runs `t2v bench ARGS --json --runs 2 --threads 2` and checks the keys every benchmark reports.
json bench(std::vector<std::string> args) {
  args.insert(args.begin(), "bench");
  for (const char* a : {"--json", "--runs", "2", "--threads", "2"}) args.push_back(a);
  const auto r = run_t2v(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  json j;
  try {
    j = json::parse(r.out);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "stdout is not one JSON object: " << r.out << "\n" << r.err;
    return j;
  }
  EXPECT_EQ(j["runs_s"].size(), 2u);
  const double lo = j["min_s"], med = j["median_s"], hi = j["max_s"];
  EXPECT_GT(lo, 0.0);
  EXPECT_LE(lo, med);
  EXPECT_LE(med, hi);
  EXPECT_DOUBLE_EQ(med, (j["runs_s"][0].get<double>() + j["runs_s"][1].get<double>()) / 2);  // median of two
  EXPECT_GT(j["warmup_s"].get<double>(), 0.0);
  EXPECT_GT(j["peak_rss_bytes"].get<uint64_t>(), 1u << 20);
  EXPECT_EQ(j["peak_gpu_bytes"].get<uint64_t>(), 0u);  // CPU
  EXPECT_EQ(j["device"], "cpu");
  EXPECT_EQ(j["threads"], 2);
  const std::string backend = j["backend"];
  EXPECT_EQ(backend.rfind("cpu: ", 0), 0u) << backend;
  EXPECT_NE(backend.find("attention "), std::string::npos) << backend;
  EXPECT_NE(backend.find("2 threads"), std::string::npos) << backend;
  return j;
}

TEST(CliBench, DitAtTheRealWidth) {
  const auto j = bench({"dit", "--layers", "1", "--frames", "2", "--height", "4", "--width", "6", "--context", "16"});
  EXPECT_EQ(j["bench"], "dit");
  EXPECT_EQ(j["config"]["tokens"], 2 * 2 * 3);
  EXPECT_EQ(j["config"]["layers"], 1);
  EXPECT_EQ(j["dtype"], "fp32");
  EXPECT_NE(j["label"].get<std::string>().find("dim 1536"), std::string::npos) << j["label"];
}

TEST(CliBench, VaeDecode) {
  const auto j = bench({"vae", "--latent-frames", "2", "--height", "2", "--width", "3"});
  EXPECT_EQ(j["bench"], "vae");
  EXPECT_EQ(j["config"]["frames"], 5);
}

TEST(CliBench, TextEncoder) {
  const auto j = bench({"text", "--layers", "1", "--tokens", "8"});
  EXPECT_EQ(j["bench"], "text");
  EXPECT_EQ(j["config"]["math"], "fp32");  // the CPU default: fp32 math over bf16 weights
}

TEST(CliBench, GenerateOnTheDemoModel) {
  const auto j = bench({"generate", "--steps", "2", "--frames", "5", "--size", "64x64"});
  EXPECT_EQ(j["bench"], "generate");
  ASSERT_EQ(j["stages"].size(), 3u);  // warm-up + 2 runs
  for (const auto& s : j["stages"]) EXPECT_GT(s["denoise_s"].get<double>(), 0.0);
  EXPECT_EQ(j["config"]["steps"], 2);
}

TEST(CliBench, BadSizesAreRefused) {
  auto r = run_t2v({"bench", "dit", "--height", "5", "--layers", "1"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("multiples of the patch size 2"), std::string::npos) << r.err;
  r = run_t2v({"bench", "vae", "--tile", "20"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("multiples of 8"), std::string::npos) << r.err;
  r = run_t2v({"bench"});
  EXPECT_EQ(r.exit_code, 2);
}

}  // namespace
