// The test programs' main: the same CPU kernel selection as the t2v binary (an OpenBLAS core that
// matches the CPU) and the allocator settings, so the suite runs on the kernels users get, then GoogleTest.
#include <gtest/gtest.h>

#include "t2v/cpu_kernels.h"
#include "t2v/runtime.h"

int main(int argc, char** argv) {
  t2v::select_cpu_kernels(argv);
  t2v::configure_memory_allocator();
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
