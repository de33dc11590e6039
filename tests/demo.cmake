# Demo world (issue 7): renderer, captions, held-out split and the clip analysis used by the
# semantic smoke test of the demo model.
t2v_test(test_demo_world unit ${CMAKE_CURRENT_SOURCE_DIR}/demo/test_demo_world.cpp)
# The Wan VAE and DiT modules are differentiable (tools/train_demo.cpp trains through them).
t2v_test(test_demo_autograd unit ${CMAKE_CURRENT_SOURCE_DIR}/demo/test_demo_autograd.cpp)
# The bundled demo model, end to end: held-out prompts -> decoded MP4 -> colour and direction.
t2v_test(test_demo_semantic e2e ${CMAKE_CURRENT_SOURCE_DIR}/demo/test_demo_semantic.cpp)
add_dependencies(test_demo_semantic t2v)
