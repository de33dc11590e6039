#include "t2v/demo/demo_model.h"

#include <unistd.h>

#include <cstdlib>
#include <system_error>

#include "t2v/error.h"
#include "t2v_build_config.h"  // generated: T2V_DEMO_MODEL_DIR

namespace t2v::demo {
namespace fs = std::filesystem;

std::vector<fs::path> demo_model_candidates() {
  if (const char* env = std::getenv("T2V_DEMO_MODEL"); env && *env) return {fs::path(env)};
  std::vector<fs::path> out;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) out.push_back((exe.parent_path() / ".." / "models" / "t2v-demo").lexically_normal());
  const fs::path configured = T2V_DEMO_MODEL_DIR;
  if (out.empty() || out.front() != configured) out.push_back(configured);
  return out;
}

fs::path find_demo_model() {
  std::string looked;
  for (const auto& dir : demo_model_candidates()) {
    std::error_code ec;
    if (fs::exists(dir / "model_index.json", ec)) return dir;
    looked += (looked.empty() ? "" : ", ") + dir.string();
  }
  throw InputError("no model given and the bundled demo model was not found (looked in " + looked +
                   "): use -m/--model DIR or --transformer/--text-encoder/--vae, or set T2V_DEMO_MODEL");
}

std::string demo_model_notice(const fs::path& dir) {
  return "no model given: using the bundled demo model " + dir.string() +
         " (64x64 clips of a coloured circle/square/triangle moving left/right/up/down on a plain background; "
         "-m DIR for a real Wan model)";
}

}  // namespace t2v::demo
