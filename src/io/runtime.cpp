#include "t2v/runtime.h"

#include <dlfcn.h>
#include <malloc.h>
#include <torch/cuda.h>
#include <torch/torch.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <csignal>
#include <fstream>
#include <string>
#include <thread>

#include "t2v/error.h"
#include "t2v_build_config.h"  // generated: T2V_HAVE_CUDA

#if T2V_HAVE_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace t2v {
namespace {
std::atomic<int> g_signals{0};

void on_signal(int) {
  if (g_signals.fetch_add(1) >= 1) std::_Exit(130);  // second Ctrl-C: leave now
}
}  // namespace

void install_interrupt_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool interrupted() { return g_signals.load() > 0; }

void check_interrupted() {
  if (interrupted()) throw Interrupted();
}

int configure_threads(int requested) {
  int n = requested;
  if (n <= 0) {
    // The user's OMP_NUM_THREADS, which LibTorch's default already follows; else every core we may use.
    const char* omp = std::getenv("OMP_NUM_THREADS");
    if (omp && *omp) {
      n = torch::get_num_threads();
    } else {
      n = static_cast<int>(std::thread::hardware_concurrency());
      cpu_set_t set;
      if (sched_getaffinity(0, sizeof(set), &set) == 0) n = CPU_COUNT(&set);
    }
    if (n <= 0) n = 1;
  }
  torch::set_num_threads(n);
  // LibTorch calls sgemm from the calling thread (a Linear, a conv's im2col GEMM, a bmm's loop), not
  // from its own worker pool, so OpenBLAS needs as many threads as LibTorch, as in PyTorch, where it
  // keeps its default of all cores: at 1 thread the GEMMs of the DiT ran on one of two cores (1560x1536
  // by 1536x8960: 101 vs 182 GFLOP/s on 2 cores). A user's OPENBLAS_NUM_THREADS is left alone.
  const char* blas_env = std::getenv("OPENBLAS_NUM_THREADS");
  using SetThreads = void (*)(int);
  if (!(blas_env && *blas_env)) {
    if (auto fn = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) fn(n);
  }
  return n;
}

torch::Device parse_device(const std::string& spec) {
  if (spec == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (spec == "cpu") return torch::kCPU;
  if (spec.rfind("cuda", 0) == 0) {
    if (!torch::cuda::is_available()) {
      throw UsageError("--device " + spec + ": CUDA is not available in this build or on this machine");
    }
    int index = 0;
    if (spec.size() > 4) {
      if (spec[4] != ':' || spec.size() == 5 || spec.find_first_not_of("0123456789", 5) != std::string::npos) {
        throw UsageError("--device " + spec + ": expected auto, cpu, cuda or cuda:N");
      }
      index = std::stoi(spec.substr(5));
    }
    if (index >= static_cast<int>(torch::cuda::device_count())) {
      throw UsageError("--device " + spec + ": only " + std::to_string(torch::cuda::device_count()) + " CUDA device(s)");
    }
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw UsageError("--device " + spec + ": expected auto, cpu, cuda or cuda:N");
}

void configure_memory_allocator() {
  auto user_set = [](const char* name) {
    const char* v = std::getenv(name);
    return v && *v;
  };
  constexpr int kKeep = 1 << 30;
  if (!user_set("MALLOC_MMAP_THRESHOLD_")) mallopt(M_MMAP_THRESHOLD, kKeep);
  if (!user_set("MALLOC_TRIM_THRESHOLD_")) mallopt(M_TRIM_THRESHOLD, kKeep);
}

void release_free_memory() { malloc_trim(0); }

uint64_t peak_rss_bytes() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

uint64_t gpu_peak_bytes(const torch::Device& device, bool reset) {
#if T2V_HAVE_CUDA
  if (!device.is_cuda()) return 0;
  // "cuda" without an index means the current device; the allocator wants a real index (-1 throws).
  const c10::DeviceIndex index = device.has_index() ? device.index() : c10::cuda::current_device();
  if (reset) {
    // The caching allocator is set up by CUDA's lazy initialisation (the first CUDA tensor); before it,
    // resetPeakStats throws "Invalid device argument" (LibTorch 2.x). Models may not be on the GPU yet.
    (void)torch::empty({1}, torch::TensorOptions().device(torch::kCUDA, index));
    c10::cuda::CUDACachingAllocator::resetPeakStats(index);
    return 0;
  }
  // allocated_bytes[0] is the aggregate over pool types in every LibTorch version.
  return static_cast<uint64_t>(c10::cuda::CUDACachingAllocator::getDeviceStats(index).allocated_bytes[0].peak);
#else
  (void)device;
  (void)reset;
  return 0;
#endif
}

}  // namespace t2v
