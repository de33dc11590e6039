#include "support/run_binary.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace t2v::test {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The binary running with stdout/stderr captured in temporary files.
struct Child {
  pid_t pid = 0;
  std::string out_path = "/tmp/t2v_e2e_outXXXXXX";
  std::string err_path = "/tmp/t2v_e2e_errXXXXXX";

  Child(const std::vector<std::string>& args, const std::vector<std::string>& env) {
    const int out_fd = mkstemp(out_path.data());
    const int err_fd = mkstemp(err_path.data());
    std::vector<std::string> argv_s = {T2V_BINARY};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    // `env` replaces inherited variables of the same name (getenv() finds the first); "K=" unsets K.
    const auto name_of = [](const std::string& kv) { return kv.substr(0, kv.find('=')); };
    std::vector<std::string> env_s;
    for (char** e = environ; *e; ++e) {
      const std::string kv = *e;
      bool replaced = false;
      for (const auto& x : env) replaced = replaced || name_of(x) == name_of(kv);
      if (!replaced) env_s.push_back(kv);
    }
    for (const auto& x : env) {
      if (x.size() > name_of(x).size() + 1) env_s.push_back(x);
    }
    std::vector<char*> envp;
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    const int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    close(out_fd);
    close(err_fd);
    if (rc != 0) throw std::runtime_error(std::string("cannot run ") + T2V_BINARY);
  }

  RunResult finish(int status) {
    RunResult r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = slurp(out_path);
    r.err = slurp(err_path);
    std::remove(out_path.c_str());
    std::remove(err_path.c_str());
    return r;
  }
};

}  // namespace

RunResult run_t2v(const std::vector<std::string>& args, const std::vector<std::string>& env) {
  Child child(args, env);
  int status = 0;
  waitpid(child.pid, &status, 0);
  return child.finish(status);
}

RunResult run_t2v_interrupt(const std::vector<std::string>& args, const std::string& marker, double timeout_s,
                            int sig) {
  Child child(args, {});
  int status = 0;
  for (int waited_ms = 0;; waited_ms += 50) {
    if (waitpid(child.pid, &status, WNOHANG) == child.pid) break;
    if (slurp(child.err_path).find(marker) != std::string::npos || waited_ms > timeout_s * 1000) {
      kill(child.pid, sig);
      waitpid(child.pid, &status, 0);
      break;
    }
    usleep(50 * 1000);
  }
  return child.finish(status);
}

}  // namespace t2v::test
