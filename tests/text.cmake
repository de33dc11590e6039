# Text: prompt cleaning, umT5 tokenizer, umT5 encoder (issue 3).
set(T2V_TEXT_TESTS ${CMAKE_CURRENT_SOURCE_DIR}/text)
t2v_test(test_prompt_clean unit ${T2V_TEXT_TESTS}/test_prompt_clean.cpp)
t2v_test(test_umt5_structure unit ${T2V_TEXT_TESTS}/test_umt5_structure.cpp)
t2v_test(test_tokenizer golden ${T2V_TEXT_TESTS}/test_tokenizer.cpp)
t2v_test(test_umt5_golden golden ${T2V_TEXT_TESTS}/test_umt5_golden.cpp)
