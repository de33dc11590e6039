// The CPU kernels t2v runs on: which BLAS LibTorch calls, which OpenBLAS core (kernel set) it
// chose, which vector ISA LibTorch's own kernels use, and the thread counts.
//
// Debian's OpenBLAS is a DYNAMIC_ARCH build: when libopenblas initialises (before main) it picks a
// core from the CPU's family/model numbers, and falls back to its Prescott (SSE3) kernels for models
// it does not know -- 0.3.21 on Intel Sapphire Rapids, for one -- at 4-10x lower GEMM speed. The
// core is read once, from OPENBLAS_CORETYPE, at that initialisation, so the only fix from inside the
// process is to set it and re-execute the program before any work (select_cpu_kernels()).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace t2v {

// The vector ISA levels that matter for fp32 GEMM kernels, in increasing order.
enum class VectorIsa { kSse = 0, kAvx = 1, kAvx2 = 2, kAvx512 = 3 };
const char* isa_name(VectorIsa isa);

// From CPUID (and XGETBV: the OS must save the wide registers).
struct CpuFeatures {
  std::string vendor, brand;
  VectorIsa isa = VectorIsa::kSse;  // widest level whose every required feature is present
  bool avx512_bf16 = false;
};
CpuFeatures detect_cpu_features();

// The widest ISA an OpenBLAS core's kernels use (its sgemm); kSse for unknown names.
VectorIsa openblas_core_isa(const std::string& core);

// The OpenBLAS core to force when the autodetected one uses a narrower ISA than the CPU has;
// empty = keep the detected one. AVX-512 -> SkylakeX (Cooperlake where AVX512-BF16 exists: same fp32
// kernels, plus bf16 GEMM), AVX2 -> Haswell, AVX -> Sandybridge.
std::string preferred_openblas_core(const std::string& detected, const CpuFeatures& cpu);

// Call first thing in main(), before any LibTorch work. When the loaded BLAS is OpenBLAS, the user
// has not set OPENBLAS_CORETYPE, and the detected core is weaker than the CPU (see above), sets
// OPENBLAS_CORETYPE and re-executes /proc/self/exe with the same arguments (once: a marker variable
// stops a loop). Returns normally otherwise. Never throws; a failed exec keeps the slow kernels.
void select_cpu_kernels(char** argv);

// What `t2v info --system` and the -v log report: the BLAS library and its config, the OpenBLAS core
// and who chose it ("autodetected", "t2v (autodetected X)", "OPENBLAS_CORETYPE"), the CPU, LibTorch's
// version, CPU capability (the ISA of its own vectorised kernels) and thread counts.
nlohmann::json cpu_kernel_info();
// One line of it for logs: "OpenBLAS 0.3.21 core SkylakeX (t2v: autodetected Prescott), ATen AVX512, 2 threads".
std::string cpu_kernel_summary();

}  // namespace t2v
