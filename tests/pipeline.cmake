# End-to-end pipeline (library level) against the official WanT2V run.
t2v_test(test_t2v_golden golden ${CMAKE_CURRENT_SOURCE_DIR}/pipeline/test_t2v_golden.cpp)
# Conditions: frame -> latent rule, placements, layouts, sizes, fitting, composer.
t2v_test(test_conditions unit ${CMAKE_CURRENT_SOURCE_DIR}/pipeline/test_conditions.cpp)
# Wan2.2 T2V-A14B: two experts, the boundary switch, per-expert guidance, against the official run.
t2v_test(test_a14b_golden golden ${CMAKE_CURRENT_SOURCE_DIR}/pipeline/test_a14b_golden.cpp)
# Wan2.2 TI2V-5B: text-to-video and the image mechanism (known frame at t = 0) against the official run.
t2v_test(test_ti2v_golden golden ${CMAKE_CURRENT_SOURCE_DIR}/pipeline/test_ti2v_golden.cpp)
# Wan2.2 I2V-A14B: mask + image latent channels, two experts, against the official run; mask planning.
t2v_test(test_i2v_a14b_golden golden ${CMAKE_CURRENT_SOURCE_DIR}/pipeline/test_i2v_a14b_golden.cpp)
# Wan2.1 I2V / FLF2V: CLIP vision tower, DiT with image context, full runs against the official code.
t2v_test(test_i2v21_golden golden ${CMAKE_CURRENT_SOURCE_DIR}/pipeline/test_i2v21_golden.cpp)
