// Exceptions thrown by the t2v library. The CLI catches them once in main() and maps them to exit
// codes: UsageError/ConfigError/WeightsError/InputError -> 2, Interrupted -> 130, anything else -> 1.
#pragma once

#include <stdexcept>
#include <string>

namespace t2v {

// `s` made safe to print and to store as JSON: valid UTF-8 is kept, every byte of an invalid sequence
// becomes the text \xNN, and control characters other than newline and tab become \xNN (C0, DEL) or
// \uNNNN (C1), so a message that quotes a file's bytes (a mutated tensor name, a prompt) can never make
// a terminal or a log undecodable.
std::string printable_utf8(const std::string& s);
// True when `s` is well-formed UTF-8 (no overlongs, surrogates or code points above U+10FFFF).
bool is_valid_utf8(const std::string& s);

// Every t2v error's message passes through printable_utf8.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(printable_utf8(what)) {}
  explicit Error(const char* what) : Error(std::string(what)) {}
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
