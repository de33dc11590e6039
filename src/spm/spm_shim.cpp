// C ABI around SentencePiece, built as its own shared module (libt2v_spm.so) and loaded with
// dlmopen() into a separate link namespace. Why: Debian's libsentencepiece bundles protobuf-lite
// 3.14 and exports those symbols, while LibTorch links libprotobuf 3.21; in one namespace either
// the process crashes during static initialisation or protobuf aborts on the version check.
// Only C types cross this boundary (each namespace has its own libstdc++ and malloc).
#include <sentencepiece_processor.h>

#include <cstring>
#include <string>
#include <vector>

namespace {
void copy_error(const std::string& msg, char* err, size_t errlen) {
  if (!err || errlen == 0) return;
  std::strncpy(err, msg.c_str(), errlen - 1);
  err[errlen - 1] = '\0';
}
}  // namespace

extern "C" {

void* t2v_spm_load(const char* data, size_t size, char* err, size_t errlen) {
  auto* sp = new sentencepiece::SentencePieceProcessor();
  const auto status = sp->LoadFromSerializedProto(std::string(data, size));
  if (!status.ok()) {
    copy_error(status.ToString(), err, errlen);
    delete sp;
    return nullptr;
  }
  return sp;
}

void t2v_spm_free(void* handle) { delete static_cast<sentencepiece::SentencePieceProcessor*>(handle); }

// Encodes UTF-8 text to ids. Returns the number of ids (may exceed cap: call again), -1 on error.
int t2v_spm_encode(void* handle, const char* text, size_t len, int* ids, int cap) {
  std::vector<int> out;
  if (!static_cast<sentencepiece::SentencePieceProcessor*>(handle)->Encode(std::string(text, len), &out).ok()) {
    return -1;
  }
  for (int i = 0; i < static_cast<int>(out.size()) && i < cap; ++i) ids[i] = out[i];
  return static_cast<int>(out.size());
}

int t2v_spm_piece_size(void* handle) {
  return static_cast<sentencepiece::SentencePieceProcessor*>(handle)->GetPieceSize();
}

int t2v_spm_piece_to_id(void* handle, const char* piece) {
  return static_cast<sentencepiece::SentencePieceProcessor*>(handle)->PieceToId(piece);
}

// Writes the piece of `id` (NUL-terminated, truncated to cap); returns its full length.
int t2v_spm_id_to_piece(void* handle, int id, char* out, int cap) {
  const std::string p = static_cast<sentencepiece::SentencePieceProcessor*>(handle)->IdToPiece(id);
  if (cap > 0) {
    std::strncpy(out, p.c_str(), static_cast<size_t>(cap) - 1);
    out[cap - 1] = '\0';
  }
  return static_cast<int>(p.size());
}

// which: 0 unk, 1 bos, 2 eos, 3 pad (-1 when the model has none).
int t2v_spm_special_id(void* handle, int which) {
  auto* sp = static_cast<sentencepiece::SentencePieceProcessor*>(handle);
  switch (which) {
    case 0: return sp->unk_id();
    case 1: return sp->bos_id();
    case 2: return sp->eos_id();
    case 3: return sp->pad_id();
  }
  return -1;
}

}  // extern "C"
