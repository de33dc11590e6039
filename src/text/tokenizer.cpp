// UMT5Tokenizer: HF T5TokenizerFast call conventions as W21 tokenizers.py uses them
// (padding="max_length", truncation=True, max_length=text_len, add_special_tokens=True).
#include "t2v/text/tokenizer.h"

#include <torch/torch.h>

#include <fstream>
#include <sstream>

#include "t2v/error.h"
#include "t2v/models/wan/model_source.h"

namespace t2v::text {

namespace {
// HF T5 names its specials by string ("<pad>", "</s>"), so the ids come from the model's vocabulary.
int64_t special_id(const SentencePieceModel& model, const std::string& piece, const std::string& source) {
  const int id = model.piece_to_id(piece);
  if (id < 0 || id >= model.piece_size() || model.id_to_piece(id) != piece) {
    throw InputError(source + ": tokenizer has no '" + piece + "' piece (expected in a umT5 spiece.model)");
  }
  return id;
}
}  // namespace

UMT5Tokenizer::UMT5Tokenizer(std::unique_ptr<SentencePieceModel> model, int64_t text_len, std::string source)
    : model_(std::move(model)), text_len_(text_len), source_(std::move(source)) {
  if (text_len_ < 1) {
    throw ConfigError(source_ + ": text_len must be >= 1 (room for </s>), got " + std::to_string(text_len_));
  }
  pad_id_ = special_id(*model_, "<pad>", source_);
  eos_id_ = special_id(*model_, "</s>", source_);
}

UMT5Tokenizer UMT5Tokenizer::from_file(const std::filesystem::path& path, int64_t text_len) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw InputError(path.string() + ": cannot read tokenizer model (spiece.model)");
  std::stringstream ss;
  ss << f.rdbuf();
  return from_blob(ss.str(), text_len, path.string());
}

UMT5Tokenizer UMT5Tokenizer::from_blob(const std::string& serialized, int64_t text_len, const std::string& source) {
  return UMT5Tokenizer(std::make_unique<SentencePieceModel>(serialized, source), text_len, source);
}

UMT5Tokenizer UMT5Tokenizer::from_source(const wan::WanModelSource& source) {
  if (!source.tokenizer_file.empty()) return from_file(source.tokenizer_file, source.text_len);
  if (!source.tokenizer_blob.empty()) {
    return from_blob(source.tokenizer_blob, source.text_len,
                     source.text_encoder.store.source().string() + " (spiece_model)");
  }
  throw InputError(source.root.string() + ": model source has no tokenizer (spiece.model or spiece_model tensor)");
}

std::vector<int64_t> UMT5Tokenizer::encode(const std::string& prompt) const {
  const std::vector<int> pieces = model_->encode(clean_prompt(prompt));
  // Truncation keeps the eos: at most text_len-1 pieces, then </s>.
  const size_t keep = std::min(pieces.size(), static_cast<size_t>(text_len_ - 1));
  std::vector<int64_t> ids(pieces.begin(), pieces.begin() + static_cast<std::ptrdiff_t>(keep));
  ids.push_back(eos_id_);
  return ids;
}

TokenizedPrompts UMT5Tokenizer::operator()(const std::vector<std::string>& prompts) const {
  const auto b = static_cast<int64_t>(prompts.size());
  TokenizedPrompts out;
  out.ids = torch::full({b, text_len_}, pad_id_, torch::kInt64);  // [B, text_len]
  out.mask = torch::zeros({b, text_len_}, torch::kInt64);          // [B, text_len]
  auto ids_a = out.ids.accessor<int64_t, 2>();
  auto mask_a = out.mask.accessor<int64_t, 2>();
  for (int64_t i = 0; i < b; ++i) {
    const auto ids = encode(prompts[static_cast<size_t>(i)]);
    for (size_t j = 0; j < ids.size(); ++j) {
      ids_a[i][static_cast<int64_t>(j)] = ids[j];
      mask_a[i][static_cast<int64_t>(j)] = 1;
    }
  }
  return out;
}

}  // namespace t2v::text
