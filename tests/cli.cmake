# End-to-end tests running the real binary.
t2v_test(test_cli_info e2e ${CMAKE_CURRENT_SOURCE_DIR}/cli/test_cli_info.cpp)
add_dependencies(test_cli_info t2v)
t2v_test(test_cli_generate e2e ${CMAKE_CURRENT_SOURCE_DIR}/cli/test_cli_generate.cpp)
add_dependencies(test_cli_generate t2v)
