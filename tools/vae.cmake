# VAE benchmark: streaming decode of the real-size Wan2.1 VAE (random weights) on the CPU.
add_executable(bench_vae ${PROJECT_SOURCE_DIR}/tools/bench_vae.cpp)
target_link_libraries(bench_vae PRIVATE t2v_core)
target_precompile_headers(bench_vae REUSE_FROM t2v_core)
