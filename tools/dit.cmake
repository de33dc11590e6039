# DiT benchmark (issue 4): Wan2.1 T2V-1.3B config with random weights, one forward on the CPU.
add_executable(bench_dit ${PROJECT_SOURCE_DIR}/tools/bench_dit.cpp)
target_link_libraries(bench_dit PRIVATE t2v_core)
target_precompile_headers(bench_dit REUSE_FROM t2v_core)
