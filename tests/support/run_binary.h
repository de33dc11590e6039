// Runs the real t2v binary for end-to-end tests and captures exit code, stdout and stderr.
#pragma once

#include <csignal>
#include <string>
#include <vector>

namespace t2v::test {

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs T2V_BINARY with `args` (no shell). `env` entries "K=V" set K in its environment (replacing an
// inherited K); "K=" removes K.
RunResult run_t2v(const std::vector<std::string>& args, const std::vector<std::string>& env = {});
// Like run_t2v, but sends `sig` (SIGINT: Ctrl-C) once stderr contains `marker` (or after timeout_s seconds).
RunResult run_t2v_interrupt(const std::vector<std::string>& args, const std::string& marker, double timeout_s,
                            int sig = SIGINT);

}  // namespace t2v::test
