// CPU kernel selection: the OpenBLAS core rule (pure), CPUID against the kernel's /proc/cpuinfo
// flags, and what `t2v info --system` reports about the kernels the binary really runs on.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "support/run_binary.h"
#include "t2v/cpu_kernels.h"

using namespace t2v;
using nlohmann::json;

namespace {
CpuFeatures cpu_with(VectorIsa isa, bool bf16 = false) {
  CpuFeatures f;
  f.isa = isa;
  f.avx512_bf16 = bf16;
  return f;
}

std::set<std::string> proc_cpuinfo_flags() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("flags", 0) == 0) {
      std::istringstream words(line.substr(line.find(':') + 1));
      std::set<std::string> out;
      for (std::string w; words >> w;) out.insert(w);
      return out;
    }
  }
  return {};
}
}  // namespace

TEST(CpuKernels, WeakerAutodetectedCoreIsReplacedByTheCpusIsa) {
  // Intel Sapphire Rapids under OpenBLAS 0.3.21: autodetection falls back to Prescott.
  EXPECT_EQ(preferred_openblas_core("Prescott", cpu_with(VectorIsa::kAvx512)), "SkylakeX");
  EXPECT_EQ(preferred_openblas_core("Prescott", cpu_with(VectorIsa::kAvx512, true)), "Cooperlake");
  EXPECT_EQ(preferred_openblas_core("Haswell", cpu_with(VectorIsa::kAvx512)), "SkylakeX");
  EXPECT_EQ(preferred_openblas_core("Zen", cpu_with(VectorIsa::kAvx512)), "SkylakeX");
  EXPECT_EQ(preferred_openblas_core("Nehalem", cpu_with(VectorIsa::kAvx2)), "Haswell");
  EXPECT_EQ(preferred_openblas_core("Core2", cpu_with(VectorIsa::kAvx)), "Sandybridge");
  EXPECT_EQ(preferred_openblas_core("Unknown", cpu_with(VectorIsa::kAvx2)), "Haswell");
}

TEST(CpuKernels, MatchingOrStrongerCoreIsKept) {
  EXPECT_EQ(preferred_openblas_core("Cooperlake", cpu_with(VectorIsa::kAvx512, true)), "");
  EXPECT_EQ(preferred_openblas_core("SkylakeX", cpu_with(VectorIsa::kAvx512, true)), "");
  EXPECT_EQ(preferred_openblas_core("Zen", cpu_with(VectorIsa::kAvx2)), "");
  EXPECT_EQ(preferred_openblas_core("HASWELL", cpu_with(VectorIsa::kAvx2)), "");  // names compare case-insensitively
  EXPECT_EQ(preferred_openblas_core("Prescott", cpu_with(VectorIsa::kSse)), "");  // nothing better to ask for
  EXPECT_EQ(openblas_core_isa("SapphireRapids"), VectorIsa::kAvx512);
  EXPECT_EQ(openblas_core_isa("Bulldozer"), VectorIsa::kAvx);
  EXPECT_EQ(openblas_core_isa("Katmai"), VectorIsa::kSse);
}

TEST(CpuKernels, CpuidAgreesWithProcCpuinfo) {
  const auto flags = proc_cpuinfo_flags();
  ASSERT_FALSE(flags.empty());
  const auto has = [&](const char* f) { return flags.count(f) > 0; };
  const CpuFeatures cpu = detect_cpu_features();
  VectorIsa expected = VectorIsa::kSse;
  if (has("avx")) expected = VectorIsa::kAvx;
  if (expected == VectorIsa::kAvx && has("avx2") && has("fma")) expected = VectorIsa::kAvx2;
  if (expected == VectorIsa::kAvx2 && has("avx512f") && has("avx512cd") && has("avx512bw") && has("avx512dq") &&
      has("avx512vl")) {
    expected = VectorIsa::kAvx512;
  }
  EXPECT_EQ(cpu.isa, expected) << isa_name(cpu.isa) << " vs " << isa_name(expected);
  EXPECT_EQ(cpu.avx512_bf16, expected == VectorIsa::kAvx512 && has("avx512_bf16"));
  EXPECT_FALSE(cpu.vendor.empty());
}

// The binary runs on kernels that use the CPU's widest ISA, whatever OpenBLAS autodetected, with as
// many BLAS threads as LibTorch threads.
TEST(CpuKernels, InfoSystemReportsKernelsMatchingTheCpu) {
  auto r = test::run_t2v({"info", "--system", "--json"}, {"OPENBLAS_CORETYPE=", "T2V_OPENBLAS_AUTODETECTED="});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  const json& blas = j["blas"];
  if (blas["library"] != "OpenBLAS") GTEST_SKIP() << "BLAS is " << blas["library"] << ", not OpenBLAS";
  const std::string isa = j["cpu"]["isa"];
  const std::map<std::string, int> rank = {{"SSE", 0}, {"AVX", 1}, {"AVX2", 2}, {"AVX-512", 3}};
  EXPECT_GE(rank.at(blas["core_isa"]), rank.at(isa)) << blas.dump();
  EXPECT_EQ(blas["threads"], j["libtorch"]["intra_op_threads"]);
  EXPECT_FALSE(j["libtorch"]["version"].get<std::string>().empty());
}

TEST(CpuKernels, UsersOwnSettingsAreNeverOverridden) {
  auto r = test::run_t2v({"info", "--system", "--json"},
                         {"OPENBLAS_CORETYPE=Haswell", "OPENBLAS_NUM_THREADS=1", "T2V_OPENBLAS_AUTODETECTED="});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  if (j["blas"]["library"] != "OpenBLAS") GTEST_SKIP() << "BLAS is not OpenBLAS";
  EXPECT_EQ(j["blas"]["core"], "Haswell");
  EXPECT_EQ(j["blas"]["core_chosen_by"], "OPENBLAS_CORETYPE");
  EXPECT_EQ(j["blas"]["threads"], 1);
  EXPECT_EQ(j["env"]["OPENBLAS_CORETYPE"], "Haswell");
}

TEST(CpuKernels, InfoSystemTakesNoModel) {
  auto r = test::run_t2v({"info", "--system", "/tmp"});
  EXPECT_EQ(r.exit_code, 2);
}
