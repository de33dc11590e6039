# The fuzz targets (tests/fuzz/fuzz_<name>.cpp) and what they need.
set(T2V_FUZZ_TARGETS safetensors index config batch prompt media)
set(T2V_FUZZ_SPIECE ${PROJECT_SOURCE_DIR}/models/t2v-demo/tokenizer/spiece.model)
