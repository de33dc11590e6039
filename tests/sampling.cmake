# Sampling: sigma grids, FlowUniPC / dpm++ / Euler samplers, factory.
# Golden: grids and FlowUniPC rollouts against the official Wan2.1 scheduler fixtures.
t2v_test(test_sampling_golden golden
  ${CMAKE_CURRENT_SOURCE_DIR}/sampling/test_sigma_tables.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/sampling/test_flow_unipc_golden.cpp)
# Unit: dpm++ and Euler (no fixture: hand-computed float64 references), grid properties, errors.
t2v_test(test_sampling_unit unit
  ${CMAKE_CURRENT_SOURCE_DIR}/sampling/test_flow_dpm.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/sampling/test_flow_euler.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/sampling/test_sampler_api.cpp)
