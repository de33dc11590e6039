#include "t2v/cpu_kernels.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <cpuid.h>
#include <dlfcn.h>
#include <spdlog/spdlog.h>
#include <torch/version.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>

namespace t2v {
namespace {
// Set in the re-executed process: the core OpenBLAS had autodetected in the first one.
constexpr const char* kAutodetectedVar = "T2V_OPENBLAS_AUTODETECTED";

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

const char* env_or_null(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

// The OpenBLAS query functions, when the BLAS LibTorch loaded is OpenBLAS (Debian); null otherwise
// (e.g. pip LibTorch's static MKL).
using CharFn = char* (*)();
using IntFn = int (*)();
CharFn openblas_fn(const char* name) { return reinterpret_cast<CharFn>(dlsym(RTLD_DEFAULT, name)); }

uint64_t xgetbv0() {
  uint32_t eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}
}  // namespace

const char* isa_name(VectorIsa isa) {
  switch (isa) {
    case VectorIsa::kAvx512: return "AVX-512";
    case VectorIsa::kAvx2: return "AVX2";
    case VectorIsa::kAvx: return "AVX";
    default: return "SSE";
  }
}

CpuFeatures detect_cpu_features() {
  CpuFeatures f;
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return f;
  const unsigned max_leaf = a;
  char vendor[13] = {};
  std::memcpy(vendor, &b, 4);
  std::memcpy(vendor + 4, &d, 4);
  std::memcpy(vendor + 8, &c, 4);
  f.vendor = vendor;
  char brand[49] = {};
  if (__get_cpuid(0x80000000u, &a, &b, &c, &d) && a >= 0x80000004u) {
    for (unsigned i = 0; i < 3; ++i) {
      __get_cpuid(0x80000002u + i, &a, &b, &c, &d);
      unsigned regs[4] = {a, b, c, d};
      std::memcpy(brand + 16 * i, regs, 16);
    }
  }
  f.brand = brand;
  f.brand.erase(0, f.brand.find_first_not_of(' '));

  __get_cpuid(1, &a, &b, &c, &d);
  const bool osxsave = c & bit_OSXSAVE, avx = c & bit_AVX, fma = c & bit_FMA;
  const uint64_t xcr0 = osxsave ? xgetbv0() : 0;
  const bool ymm_saved = (xcr0 & 0x6) == 0x6;     // SSE + AVX state
  const bool zmm_saved = (xcr0 & 0xe6) == 0xe6;   // + opmask, ZMM0-15 upper halves, ZMM16-31
  if (!(avx && ymm_saved)) return f;
  f.isa = VectorIsa::kAvx;
  if (max_leaf < 7) return f;
  __get_cpuid_count(7, 0, &a, &b, &c, &d);
  if ((b & bit_AVX2) && fma) f.isa = VectorIsa::kAvx2;
  // OpenBLAS's SkylakeX kernels use F, CD, BW, DQ and VL.
  const unsigned avx512_needed = bit_AVX512F | bit_AVX512CD | bit_AVX512BW | bit_AVX512DQ | bit_AVX512VL;
  if (f.isa == VectorIsa::kAvx2 && zmm_saved && (b & avx512_needed) == avx512_needed) {
    f.isa = VectorIsa::kAvx512;
    __get_cpuid_count(7, 1, &a, &b, &c, &d);
    f.avx512_bf16 = a & (1u << 5);
  }
  return f;
}

VectorIsa openblas_core_isa(const std::string& core) {
  // Core names as openblas_get_corename() reports them (OpenBLAS driver/others/dynamic.c).
  const std::string c = lower(core);
  if (c == "skylakex" || c == "cooperlake" || c == "sapphirerapids") return VectorIsa::kAvx512;
  if (c == "haswell" || c == "zen" || c == "excavator") return VectorIsa::kAvx2;
  if (c == "sandybridge" || c == "bulldozer" || c == "piledriver" || c == "steamroller") return VectorIsa::kAvx;
  return VectorIsa::kSse;
}

std::string preferred_openblas_core(const std::string& detected, const CpuFeatures& cpu) {
  if (openblas_core_isa(detected) >= cpu.isa) return {};
  switch (cpu.isa) {
    case VectorIsa::kAvx512: return cpu.avx512_bf16 ? "Cooperlake" : "SkylakeX";
    case VectorIsa::kAvx2: return "Haswell";
    case VectorIsa::kAvx: return "Sandybridge";
    default: return {};
  }
}

void select_cpu_kernels(char** argv) {
  if (env_or_null("OPENBLAS_CORETYPE") || env_or_null(kAutodetectedVar)) return;  // the user's choice, or done
  const CharFn corename = openblas_fn("openblas_get_corename");
  if (!corename) return;
  const std::string detected = corename();
  const std::string core = preferred_openblas_core(detected, detect_cpu_features());
  if (core.empty()) return;
  setenv("OPENBLAS_CORETYPE", core.c_str(), 1);
  setenv(kAutodetectedVar, detected.c_str(), 1);
  execv("/proc/self/exe", argv);
  // exec failed (no /proc?): carry on with the detected kernels, and say why once it is known.
  unsetenv("OPENBLAS_CORETYPE");
  setenv(kAutodetectedVar, (detected + " (re-exec failed)").c_str(), 1);
}

nlohmann::json cpu_kernel_info() {
  const CpuFeatures cpu = detect_cpu_features();
  nlohmann::json blas = {{"library", "unknown"}};
  if (const CharFn config = openblas_fn("openblas_get_config")) {
    blas["library"] = "OpenBLAS";
    blas["config"] = config();
    const std::string core = openblas_fn("openblas_get_corename")();
    blas["core"] = core;
    blas["core_isa"] = isa_name(openblas_core_isa(core));
    const char* ours = env_or_null(kAutodetectedVar);
    const char* forced = env_or_null("OPENBLAS_CORETYPE");
    blas["core_chosen_by"] = ours && forced ? std::string("t2v (autodetected ") + ours + ")"
                             : forced       ? std::string("OPENBLAS_CORETYPE")
                             : ours         ? std::string("autodetected (t2v: ") + ours + ")"
                                            : std::string("autodetected");
    if (auto threads = reinterpret_cast<IntFn>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"))) blas["threads"] = threads();
  } else if (at::hasMKL()) {
    blas["library"] = "MKL";
  }
  // at::native::get_cpu_capability() is not exported by every LibTorch build (Debian's 1.13 hides it);
  // the build summary states the same choice: "CPU capability usage: AVX2".
  std::string capability = "unknown";
  {
    const std::string config = at::show_config();
    const std::string tag = "CPU capability usage: ";
    const auto pos = config.find(tag);
    if (pos != std::string::npos) {
      const auto begin = pos + tag.size();
      capability = config.substr(begin, config.find_first_of("\r\n", begin) - begin);
    }
  }
  nlohmann::json env = nlohmann::json::object();
  for (const char* name : {"OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "ATEN_CPU_CAPABILITY"}) {
    if (const char* v = env_or_null(name)) env[name] = v;
  }
  return {{"cpu", {{"vendor", cpu.vendor}, {"brand", cpu.brand}, {"isa", isa_name(cpu.isa)},
                   {"avx512_bf16", cpu.avx512_bf16}, {"logical_cpus", sysconf(_SC_NPROCESSORS_ONLN)}}},
          {"blas", blas},
          {"libtorch", {{"version", TORCH_VERSION}, {"cpu_capability", capability}, {"mkldnn", at::hasMKLDNN()},
                        {"openmp", at::hasOpenMP()}, {"intra_op_threads", at::get_num_threads()},
                        {"inter_op_threads", at::get_num_interop_threads()}}},
          {"env", env}};
}

std::string cpu_kernel_summary() {
  const auto j = cpu_kernel_info();
  std::string s = j["blas"]["library"].get<std::string>();
  if (j["blas"].contains("core")) {
    s += " core " + j["blas"]["core"].get<std::string>() + " (" + j["blas"]["core_chosen_by"].get<std::string>() + ")";
  }
  if (j["blas"].contains("threads")) s += ", " + std::to_string(j["blas"]["threads"].get<int>()) + " BLAS threads";
  s += "; CPU " + j["cpu"]["isa"].get<std::string>() + "; ATen " + j["libtorch"]["cpu_capability"].get<std::string>() +
       ", " + std::to_string(j["libtorch"]["intra_op_threads"].get<int>()) + " threads; oneDNN " +
       (j["libtorch"]["mkldnn"].get<bool>() ? "yes" : "no");
  return s;
}

}  // namespace t2v
