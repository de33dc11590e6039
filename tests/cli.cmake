# End-to-end tests running the real binary.
t2v_test(test_cli_info e2e ${CMAKE_CURRENT_SOURCE_DIR}/cli/test_cli_info.cpp)
add_dependencies(test_cli_info t2v)
t2v_test(test_cli_generate e2e ${CMAKE_CURRENT_SOURCE_DIR}/cli/test_cli_generate.cpp)
add_dependencies(test_cli_generate t2v)
t2v_test(test_cli_refusals e2e ${CMAKE_CURRENT_SOURCE_DIR}/cli/test_cli_refusals.cpp)
add_dependencies(test_cli_refusals t2v)
t2v_test(test_cli_batch e2e ${CMAKE_CURRENT_SOURCE_DIR}/cli/test_cli_batch.cpp)
add_dependencies(test_cli_batch t2v)
t2v_test(test_cli_bench e2e ${CMAKE_CURRENT_SOURCE_DIR}/cli/test_cli_bench.cpp)
add_dependencies(test_cli_bench t2v)
t2v_test(test_cli_conditions e2e ${CMAKE_CURRENT_SOURCE_DIR}/cli/test_cli_conditions.cpp)
add_dependencies(test_cli_conditions t2v)
target_link_libraries(test_cli_conditions PRIVATE PkgConfig::FFMPEG)  # writes a frameless video
# The Wan2.2 full-run fixtures through the binary: --save-intermediates compared tensor by tensor.
t2v_test(test_cli_golden golden ${CMAKE_CURRENT_SOURCE_DIR}/cli/test_cli_golden.cpp)
add_dependencies(test_cli_golden t2v)
