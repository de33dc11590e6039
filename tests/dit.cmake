# Wan DiT (issue 4): golden cases in both checkpoint layouts, key sets, attention backends, RoPE,
# config derivation from real-size (sparse) checkpoint headers.
t2v_test(test_dit_golden golden ${CMAKE_CURRENT_SOURCE_DIR}/dit/test_dit_golden.cpp)
t2v_test(test_dit_unit unit
  ${CMAKE_CURRENT_SOURCE_DIR}/dit/test_attention.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/dit/test_rope.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/dit/test_dit_structure.cpp)
