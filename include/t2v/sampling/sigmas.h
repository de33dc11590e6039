// Sigma / timestep grids of the flow-matching samplers.
//
// All grids follow the same recipe as the reference: a float64 grid s_k, the flow shift
// s <- shift*s / (1 + (shift-1)*s) in float64, integer timesteps int64(s*1000) (truncation toward
// zero; these are what the DiT receives), and float32 sigmas with a final 0 appended (what the solver
// uses). They differ only in the pre-shift grid:
//   wan_flow_sigmas       official FlowUniPC grid (Wan2.1 fm_solvers_unipc.py set_timesteps):
//                         linspace(fp32(0.999), 0, N+1)[:-1]. Used by "unipc" and "euler".
//   wan_dpm_sigmas        official dpm++ grid (Wan2.1 fm_solvers.py get_sampling_sigmas, passed to
//                         FlowDPMSolverMultistepScheduler.set_timesteps(sigmas=...) with shift 1):
//                         linspace(1, 0, N+1)[:N]; the first sigma is exactly 1, first timestep 1000.
//   diffusers_flow_sigmas NOT official: current diffusers UniPCMultistepScheduler(use_flow_sigmas)
//                         grid linspace(1, 1/1000, N+1)[:-1] = 1 - 0.999*k/N (every pre-shift sigma
//                         is 0.001 larger than the official grid; s_0 == 1 is nudged to 1 - 1e-6).
//                         Provided for comparison and --help; the pipeline uses wan_flow_sigmas.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace t2v::sampling {

// Number of training timesteps of every Wan model (config num_train_timesteps).
constexpr int kNumTrainTimesteps = 1000;

struct SigmaSchedule {
  std::vector<double> sigmas64;    // [N] shifted float64 sigmas, before the fp32 cast
  std::vector<int64_t> timesteps;  // [N] int64(sigmas64 * 1000): the DiT's timestep input
  torch::Tensor sigmas;            // [N+1] float32 on the CPU, last = 0: the solver's sigmas
};

// fp32(1 - 1/1000) = 0.9990000128746033: sigma_max of the float32 training table that
// FlowUniPCMultistepScheduler.__init__ builds (with shift 1, as Wan constructs it).
double wan_sigma_max();

// Flow shift in float64, as the reference writes it: shift*s / (1 + (shift-1)*s).
double shift_sigma(double sigma, double shift);

// The grids described above. UsageError if steps < 1 or shift is not a positive finite number.
SigmaSchedule wan_flow_sigmas(int steps, double shift);
SigmaSchedule wan_dpm_sigmas(int steps, double shift);
SigmaSchedule diffusers_flow_sigmas(int steps, double shift);

}  // namespace t2v::sampling
