# Foundation: safetensors, tensor stores, loader, model sources, video writer, CLI.
add_library(t2v_test_support STATIC ${CMAKE_CURRENT_SOURCE_DIR}/support/golden.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/support/run_binary.cpp)
target_compile_definitions(t2v_test_support PRIVATE T2V_BINARY="$<TARGET_FILE:t2v>")
add_dependencies(t2v_test_support t2v)
target_link_libraries(t2v_test_support PUBLIC t2v_core GTest::gtest)
target_include_directories(t2v_test_support PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_compile_definitions(t2v_test_support PUBLIC T2V_TEST_DATA="${T2V_TEST_DATA}")
target_precompile_headers(t2v_test_support REUSE_FROM t2v_core)

t2v_test(test_safetensors unit ${CMAKE_CURRENT_SOURCE_DIR}/io/test_safetensors.cpp)
t2v_test(test_model_source unit ${CMAKE_CURRENT_SOURCE_DIR}/io/test_model_source.cpp)
t2v_test(test_video_writer unit ${CMAKE_CURRENT_SOURCE_DIR}/io/test_video_writer.cpp)
t2v_test(test_cpu_kernels unit ${CMAKE_CURRENT_SOURCE_DIR}/io/test_cpu_kernels.cpp)
t2v_test(test_untrusted_text unit ${CMAKE_CURRENT_SOURCE_DIR}/io/test_untrusted_text.cpp)
target_link_libraries(test_untrusted_text PRIVATE t2v_cli)
