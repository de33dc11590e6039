// Exceptions thrown by the t2v library. The CLI catches them once in main() and maps them to exit
// codes: UsageError/ConfigError/WeightsError/InputError -> 2, Interrupted -> 130, anything else -> 1.
#pragma once

#include <stdexcept>
#include <string>

namespace t2v {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bad command-line usage or option values.
class UsageError : public Error {
 public:
  using Error::Error;
};

// A config.json (or config metadata) that is missing, malformed or describes something unsupported.
class ConfigError : public Error {
 public:
  using Error::Error;
};

// A weights file that is malformed, or whose tensors do not fit the model.
class WeightsError : public Error {
 public:
  using Error::Error;
};

// Other bad user input: a prompt file, an output path, an unreadable file.
class InputError : public Error {
 public:
  using Error::Error;
};

// The user pressed Ctrl-C (SIGINT/SIGTERM); outputs in flight were removed.
class Interrupted : public Error {
 public:
  Interrupted() : Error("interrupted") {}
};

// Exit code for an exception escaping to main().
int exit_code_for(const std::exception& e) noexcept;

}  // namespace t2v
