// Process-wide runtime settings: interrupt flag, thread counts, device selection.
#pragma once

#include <torch/types.h>

#include <string>

namespace t2v {

// SIGINT/SIGTERM set a flag instead of killing the process, so that long loops can stop between
// steps and temporary outputs are removed while unwinding. A second signal exits at once (130).
void install_interrupt_handlers();
bool interrupted();
// Throws t2v::Interrupted if a signal arrived.
void check_interrupted();

// Intra-op threads for LibTorch and OpenBLAS (the same count: LibTorch calls the BLAS from the calling
// thread); 0 = OMP_NUM_THREADS when set, else all available cores. A user's OPENBLAS_NUM_THREADS is
// kept. Returns the number used.
int configure_threads(int requested);

// Parses "auto" | "cpu" | "cuda" | "cuda:N"; "auto" = CUDA when available. UsageError otherwise.
torch::Device parse_device(const std::string& spec);

// glibc hands every block above its mmap threshold (adaptive, at most 32 MiB) back to the kernel when
// it is freed, so the next one of that size starts on fresh pages and page-faults on every first touch.
// A DiT layer allocates its attention scores (117 MB at 1560 tokens) and FFN activations (56 MB), a VAE
// decode 60+ MB per conv, again and again: about 12% of CPU time went to those faults. This keeps freed
// blocks up to 1 GiB in the heap for reuse (M_MMAP_THRESHOLD, M_TRIM_THRESHOLD), unless the user set
// MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ themselves. Call once, first thing in main().
void configure_memory_allocator();
// Returns the heap's free pages to the system (malloc_trim), e.g. after a model's weights were freed.
void release_free_memory();

// Peak resident set size of this process in bytes (VmHWM).
uint64_t peak_rss_bytes();

// Peak bytes allocated by the CUDA caching allocator on `device` since the last reset; `reset` starts a
// new window and returns 0. Always 0 for a CPU device or a CPU-only build.
uint64_t gpu_peak_bytes(const torch::Device& device, bool reset);

}  // namespace t2v
