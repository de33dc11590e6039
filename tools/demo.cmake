# Demo model trainer (issue 7): tools/train_demo.cpp regenerates models/ demo weights from a seed.
add_executable(train_demo ${PROJECT_SOURCE_DIR}/tools/train_demo.cpp ${PROJECT_SOURCE_DIR}/tools/train_demo_stages.cpp
                          ${PROJECT_SOURCE_DIR}/tools/train_demo_eval.cpp
                          ${PROJECT_SOURCE_DIR}/tools/train_demo_common.cpp)
target_link_libraries(train_demo PRIVATE t2v_core)
target_precompile_headers(train_demo REUSE_FROM t2v_core)
