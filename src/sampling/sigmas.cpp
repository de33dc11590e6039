// Sigma / timestep grids (see include/t2v/sampling/sigmas.h).
//
// The float64 arithmetic follows numpy's linspace (start + k*step, step = (stop-start)/div, last
// point set to stop) and the shift expression operation by operation, so the truncated integer
// timesteps come out identical to the reference. It is done with separate float64 tensor ops rather
// than a scalar loop so that the compiler cannot fuse k*step + start into an FMA (which would change
// the last bit on FMA targets and, at a truncation boundary, a timestep).
#include "t2v/sampling/sigmas.h"

#include <cmath>
#include <sstream>

#include "t2v/error.h"

namespace t2v::sampling {
namespace {

void check_args(int steps, double shift) {
  if (steps < 1) {
    std::ostringstream os;
    os << "sampling steps must be at least 1, got " << steps;
    throw UsageError(os.str());
  }
  if (!std::isfinite(shift) || shift <= 0.0) {
    std::ostringstream os;
    os << "flow shift must be a positive number, got " << shift;
    throw UsageError(os.str());
  }
}

// numpy.linspace(start, stop, num) in float64 (num >= 2): y = arange(num)*step + start, y[-1] = stop.
torch::Tensor np_linspace(double start, double stop, int64_t num) {
  const double step = (stop - start) / static_cast<double>(num - 1);
  auto y = torch::arange(num, torch::kFloat64);
  y.mul_(step);
  y.add_(start);
  y[num - 1] = stop;
  return y;
}

// shift*s / (1 + (shift-1)*s), elementwise in float64 (FlowUniPCMultistepScheduler.set_timesteps).
torch::Tensor shift_tensor(const torch::Tensor& s, double shift) {
  auto num = s * shift;
  auto den = s * (shift - 1.0);
  den.add_(1.0);
  return num / den;
}

// timesteps = int64(s * 1000) (truncation), sigmas = float32([s..., 0]).
SigmaSchedule finish(const torch::Tensor& s64) {
  SigmaSchedule out;
  const int64_t n = s64.numel();
  auto s = s64.contiguous();
  out.sigmas64.assign(s.data_ptr<double>(), s.data_ptr<double>() + n);
  auto t = (s * static_cast<double>(kNumTrainTimesteps)).to(torch::kInt64).contiguous();
  out.timesteps.assign(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + n);
  out.sigmas = torch::cat({s, torch::zeros({1}, torch::kFloat64)}).to(torch::kFloat32);
  return out;
}

}  // namespace

double wan_sigma_max() {
  // __init__: alphas = linspace(1, 1/1000, 1000)[::-1]; sigmas = float32(1 - alphas); the first
  // entry is 1 - 0.001 rounded to float32 (the constructor's shift is 1, an identity).
  return static_cast<double>(static_cast<float>(1.0 - 1.0 / kNumTrainTimesteps));
}

double shift_sigma(double sigma, double shift) {
  return shift_tensor(torch::full({1}, sigma, torch::kFloat64), shift).item<double>();
}

SigmaSchedule wan_flow_sigmas(int steps, double shift) {
  check_args(steps, shift);
  // set_timesteps: linspace(sigma_max, sigma_min = 0, N+1)[:-1], then the shift.
  auto s = np_linspace(wan_sigma_max(), 0.0, steps + 1).slice(0, 0, steps);
  return finish(shift_tensor(s, shift));
}

SigmaSchedule wan_dpm_sigmas(int steps, double shift) {
  check_args(steps, shift);
  // get_sampling_sigmas: linspace(1, 0, N+1)[:N], shifted. The scheduler then applies its own shift
  // (1: 1*s / (1 + 0*s), an exact identity) and builds timesteps/sigmas the same way.
  auto s = np_linspace(1.0, 0.0, steps + 1).slice(0, 0, steps);
  return finish(shift_tensor(s, shift));
}

SigmaSchedule diffusers_flow_sigmas(int steps, double shift) {
  check_args(steps, shift);
  // diffusers UniPCMultistepScheduler.set_timesteps with use_flow_sigmas (current code):
  // linspace(1, 1/1000, N+1)[:-1], shifted; a leading sigma of 1 is nudged to 1 - 1e-6.
  auto s = np_linspace(1.0, 1.0 / kNumTrainTimesteps, steps + 1).slice(0, 0, steps);
  auto shifted = shift_tensor(s, shift).contiguous();
  if (std::abs(shifted[0].item<double>() - 1.0) < 1e-6) shifted[0] = shifted[0].item<double>() - 1e-6;
  return finish(shifted);
}

}  // namespace t2v::sampling
