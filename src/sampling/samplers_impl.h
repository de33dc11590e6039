// Constructors of the concrete samplers (each lives in its own file); use make_sampler() instead.
#pragma once

#include <torch/torch.h>

#include <memory>

#include "t2v/sampling/sampler.h"

namespace t2v::sampling {

// Log signal-to-noise ratio of a flow sigma, lambda = ln(1 - sigma) - ln(sigma), as the reference
// computes it on 0-d fp32 tensors (shared by FlowUniPC and FlowDPM++).
inline torch::Tensor log_snr(const torch::Tensor& sigma) { return torch::log(1 - sigma) - torch::log(sigma); }

std::unique_ptr<Sampler> make_flow_unipc_sampler();  // flow_unipc.cpp
std::unique_ptr<Sampler> make_flow_dpm_sampler();    // flow_dpm.cpp
std::unique_ptr<Sampler> make_flow_euler_sampler();  // flow_euler.cpp

}  // namespace t2v::sampling
