// SentencePiece model access through the isolated libt2v_spm shim (see src/spm/spm_shim.cpp for
// why it lives in its own link namespace). Thread-compatible; one instance per model.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace t2v::text {

class SentencePieceModel {
 public:
  // From a serialized model (the bytes of spiece.model). `source` names it in errors.
  SentencePieceModel(const std::string& serialized, const std::string& source);
  static SentencePieceModel from_file(const std::filesystem::path& path);
  ~SentencePieceModel();
  SentencePieceModel(const SentencePieceModel&) = delete;
  SentencePieceModel& operator=(const SentencePieceModel&) = delete;

  // Raw SentencePiece ids of `text` (normalisation as the model defines it; no specials added).
  std::vector<int> encode(const std::string& text) const;
  int piece_size() const;
  int piece_to_id(const std::string& piece) const;  // unk id when absent
  std::string id_to_piece(int id) const;
  int unk_id() const;
  int eos_id() const;
  int pad_id() const;

  struct Api;  // function table of the shim (defined in the .cpp)

 private:
  const Api* api_;
  void* handle_ = nullptr;
};

}  // namespace t2v::text
