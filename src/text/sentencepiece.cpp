#include "t2v/text/sentencepiece.h"

#include <dlfcn.h>
#include <unistd.h>

#include <fstream>
#include <mutex>
#include <sstream>

#include "t2v/error.h"
#include "t2v_build_config.h"  // generated: T2V_SPM_SHIM_PATH

namespace t2v::text {
namespace fs = std::filesystem;

struct SentencePieceModel::Api {
  void* (*load)(const char*, size_t, char*, size_t);
  void (*free)(void*);
  int (*encode)(void*, const char*, size_t, int*, int);
  int (*piece_size)(void*);
  int (*piece_to_id)(void*, const char*);
  int (*id_to_piece)(void*, int, char*, int);
  int (*special_id)(void*, int);
};

namespace {
// Candidate locations of libt2v_spm.so: $T2V_SPM_SHIM, next to the executable, ../lib/t2v, and
// the build tree (compile-time path, for tests run from the build directory).
std::vector<fs::path> shim_candidates() {
  std::vector<fs::path> out;
  if (const char* env = std::getenv("T2V_SPM_SHIM")) out.emplace_back(env);
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    out.push_back(exe.parent_path() / "libt2v_spm.so");
    out.push_back(exe.parent_path().parent_path() / "libt2v_spm.so");
    out.push_back(exe.parent_path().parent_path() / "lib" / "t2v" / "libt2v_spm.so");
  }
#ifdef T2V_SPM_SHIM_PATH
  out.emplace_back(T2V_SPM_SHIM_PATH);
#endif
  return out;
}

template <typename F>
void bind(void* lib, const char* name, F* fn) {
  *fn = reinterpret_cast<F>(dlsym(lib, name));
  if (!*fn) throw Error(std::string("libt2v_spm.so lacks symbol ") + name);
}

const SentencePieceModel::Api* load_api() {
  static std::once_flag once;
  static SentencePieceModel::Api api{};
  static std::string error;
  std::call_once(once, [] {
    std::string tried;
    for (const auto& path : shim_candidates()) {
      std::error_code ec;
      if (!fs::exists(path, ec)) {
        tried += " " + path.string();
        continue;
      }
      void* lib = dlmopen(LM_ID_NEWLM, path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (!lib) {
        error = "cannot load " + path.string() + ": " + dlerror();
        return;
      }
      bind(lib, "t2v_spm_load", &api.load);
      bind(lib, "t2v_spm_free", &api.free);
      bind(lib, "t2v_spm_encode", &api.encode);
      bind(lib, "t2v_spm_piece_size", &api.piece_size);
      bind(lib, "t2v_spm_piece_to_id", &api.piece_to_id);
      bind(lib, "t2v_spm_id_to_piece", &api.id_to_piece);
      bind(lib, "t2v_spm_special_id", &api.special_id);
      return;
    }
    error = "libt2v_spm.so (SentencePiece shim) not found; looked in:" + tried + " (set T2V_SPM_SHIM)";
  });
  if (!api.load) throw Error(error);
  return &api;
}
}  // namespace

SentencePieceModel::SentencePieceModel(const std::string& serialized, const std::string& source)
    : api_(load_api()) {
  char err[512] = {0};
  handle_ = api_->load(serialized.data(), serialized.size(), err, sizeof err);
  if (!handle_) throw InputError(source + ": not a valid SentencePiece model (" + err + ")");
}

SentencePieceModel SentencePieceModel::from_file(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw InputError(path.string() + ": cannot read tokenizer model");
  std::stringstream ss;
  ss << f.rdbuf();
  return SentencePieceModel(ss.str(), path.string());
}

SentencePieceModel::~SentencePieceModel() {
  if (handle_) api_->free(handle_);
}

std::vector<int> SentencePieceModel::encode(const std::string& text) const {
  std::vector<int> ids(text.size() * 2 + 16);
  int n = api_->encode(handle_, text.data(), text.size(), ids.data(), static_cast<int>(ids.size()));
  if (n < 0) throw Error("SentencePiece failed to encode the prompt");
  if (n > static_cast<int>(ids.size())) {
    ids.resize(static_cast<size_t>(n));
    n = api_->encode(handle_, text.data(), text.size(), ids.data(), n);
  }
  ids.resize(static_cast<size_t>(n));
  return ids;
}

int SentencePieceModel::piece_size() const { return api_->piece_size(handle_); }
int SentencePieceModel::piece_to_id(const std::string& piece) const { return api_->piece_to_id(handle_, piece.c_str()); }
std::string SentencePieceModel::id_to_piece(int id) const {
  char buf[256];
  api_->id_to_piece(handle_, id, buf, sizeof buf);
  return buf;
}
int SentencePieceModel::unk_id() const { return api_->special_id(handle_, 0); }
int SentencePieceModel::eos_id() const { return api_->special_id(handle_, 2); }
int SentencePieceModel::pad_id() const { return api_->special_id(handle_, 3); }

}  // namespace t2v::text
