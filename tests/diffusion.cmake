# Diffusion: the one denoising loop (conditioning, experts, hooks) and the sampler's start rules.
t2v_test(test_diffusion_unit unit
  ${CMAKE_CURRENT_SOURCE_DIR}/diffusion/test_denoise_loop.cpp)
