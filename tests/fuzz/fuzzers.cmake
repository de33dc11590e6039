# libFuzzer executables fuzz_<target> (T2V_FUZZ=ON, clang). The regular build replays their corpus
# instead (tests/fuzz.cmake). T2V_FUZZ_TARGETS is shared with it.
include(${CMAKE_CURRENT_LIST_DIR}/targets.cmake)
foreach(t ${T2V_FUZZ_TARGETS})
  add_executable(fuzz_${t} ${CMAKE_CURRENT_LIST_DIR}/fuzz_${t}.cpp)
  target_link_libraries(fuzz_${t} PRIVATE t2v_cli)
  target_link_options(fuzz_${t} PRIVATE -fsanitize=fuzzer)
  target_include_directories(fuzz_${t} PRIVATE ${CMAKE_CURRENT_LIST_DIR})
  target_compile_definitions(fuzz_${t} PRIVATE T2V_FUZZ_SPIECE="${T2V_FUZZ_SPIECE}")
endforeach()
