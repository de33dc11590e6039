// Constructors of the concrete samplers (each lives in its own file); use make_sampler() instead.
#pragma once

#include <memory>

#include "t2v/sampling/sampler.h"

namespace t2v::sampling {

std::unique_ptr<Sampler> make_flow_unipc_sampler();  // flow_unipc.cpp
std::unique_ptr<Sampler> make_flow_dpm_sampler();    // flow_dpm.cpp
std::unique_ptr<Sampler> make_flow_euler_sampler();  // flow_euler.cpp

}  // namespace t2v::sampling
