# Corpus replay: each fuzz target built with a plain main() that runs every input of its corpus
# (tests/fuzz/corpus/<target>/, grown by scripts/fuzz.sh) once, so CI re-checks what the fuzzers found.
include(${CMAKE_CURRENT_SOURCE_DIR}/fuzz/targets.cmake)
foreach(t ${T2V_FUZZ_TARGETS})
  add_executable(fuzz_replay_${t} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_${t}.cpp
                                  ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/replay_main.cpp)
  target_link_libraries(fuzz_replay_${t} PRIVATE t2v_cli)
  target_include_directories(fuzz_replay_${t} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)
  target_compile_definitions(fuzz_replay_${t} PRIVATE T2V_FUZZ_SPIECE="${T2V_FUZZ_SPIECE}")
  target_precompile_headers(fuzz_replay_${t} REUSE_FROM t2v_core)
  add_test(NAME FuzzCorpusReplay.${t} COMMAND fuzz_replay_${t} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/${t})
  set_tests_properties(FuzzCorpusReplay.${t} PROPERTIES LABELS unit)
endforeach()
