// Output files appear complete or not at all: write to a temporary file in the target directory,
// rename over the target when complete. An AtomicOutput destroyed without commit() removes its
// temporary file (error, exception or Ctrl-C unwinding).
#pragma once

#include <filesystem>

namespace t2v::io {

class AtomicOutput {
 public:
  // Picks a unique temporary name next to `target` ("<dir>/.<name>.tmp-<pid>-<n><ext>"; the
  // extension is kept so that format probing by extension still works).
  explicit AtomicOutput(std::filesystem::path target);
  ~AtomicOutput();
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;

  const std::filesystem::path& temp_path() const { return temp_; }
  const std::filesystem::path& target() const { return target_; }
  // Renames the temporary file over the target. Throws InputError on failure.
  void commit();

 private:
  std::filesystem::path target_;
  std::filesystem::path temp_;
  bool committed_ = false;
};

// Removes the temporary files of AtomicOutputs in `dir` whose process is gone (killed with -9, or
// a crash: nothing ran the destructor). Files of live processes are left alone. Returns the count.
size_t remove_stale_temp_files(const std::filesystem::path& dir);

}  // namespace t2v::io
