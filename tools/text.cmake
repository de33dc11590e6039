# Text benchmarks (issue 3).
add_executable(bench_umt5 ${PROJECT_SOURCE_DIR}/tools/bench_umt5.cpp)
target_link_libraries(bench_umt5 PRIVATE t2v_core)
target_precompile_headers(bench_umt5 REUSE_FROM t2v_core)
