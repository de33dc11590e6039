# Wan2.1 VAE: golden decode/encode against the official code's fixtures (both checkpoint layouts),
# key sets, streaming, tiling.
t2v_test(test_vae_golden golden ${CMAKE_CURRENT_SOURCE_DIR}/vae/test_vae_golden.cpp)
t2v_test(test_vae_unit unit ${CMAKE_CURRENT_SOURCE_DIR}/vae/test_vae_unit.cpp)
# Wan2.2 VAE: golden decode/encode against the official Wan2_2_VAE (three ways to get its config).
t2v_test(test_vae22_golden golden ${CMAKE_CURRENT_SOURCE_DIR}/vae/test_vae22_golden.cpp)
