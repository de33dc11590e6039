// umT5 tokenizer as Wan2.1 uses it: W21 wan/modules/tokenizers.py HuggingfaceTokenizer(name,
// seq_len=text_len, clean='whitespace') wrapping HF T5TokenizerFast for google/umt5-xxl.
//
// Deliberate differences from the reference (see also clean_prompt below):
// * Pieces come from the SentencePiece library running spiece.model, not from HF's fast tokenizer.
//   For in-vocabulary text both give the same ids (spec §1.4). For characters outside the
//   vocabulary we emit what SentencePiece emits: its byte fallback, one `<0xXX>` piece per UTF-8
//   byte (ids 3..258 in umT5's model). HF T5TokenizerFast (tokenizer.json converted without byte
//   fallback) instead emits one `<unk>` (id 2) per run of unknown characters. The golden fixture
//   pins the first behaviour (`oov.ids_byte_fallback`); `oov.ids_unk` is the HF one.
// * Literal special-token strings typed in a prompt ("</s>", "<pad>", "<extra_id_0>") are not
//   mapped to their special ids (HF would); SentencePiece splits them into ordinary pieces.
// HF-T5 conventions kept: no BOS, one `</s>` appended, truncation to text_len keeps the `</s>`
// (first text_len-1 pieces + eos), right padding with `<pad>`, mask 1 on pieces + eos.
#pragma once

#include <torch/types.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "t2v/text/sentencepiece.h"

namespace t2v::wan {
struct WanModelSource;
}

namespace t2v::text {

// Wan's 'whitespace' cleaning: whitespace_clean(basic_clean(text)) =
//   ftfy.fix_text -> html.unescape twice -> strip -> every run of Unicode whitespace (regex `\s`)
//   to one space -> strip.
// ftfy has no C++ counterpart. We apply the two ftfy fixes that change real prompts and that the
// tokenizer's NFKC normaliser does not already cover: uncurl_quotes (U+02BC, U+2018..U+201B -> ',
// U+201C..U+201F -> ") and remove_control_chars (U+0000..0008, 000B, 000E..001F, 007F,
// 206A..206F, FEFF, FFF9..FFFC). Not done: mojibake repair (fix_encoding and its byte-level
// heuristics), terminal escape removal, ftfy's own extra HTML unescape of text without '<'.
// Width/ligature fixes and NFC are subsumed by spiece.model's nmt_nfkc normaliser.
// html.unescape follows Python's rules: numeric references (decimal/hex, ';' optional, Python's
// replacement table for invalid code points), and named references from the HTML 4 set plus
// &apos; (HTML5 values; the legacy Latin-1 names also without ';', longest-prefix rule).
// Input must be valid UTF-8 (InputError otherwise).
std::string clean_prompt(const std::string& text);

// Python's html.unescape on UTF-8 text (one pass), with the entity table described above.
std::string html_unescape(const std::string& text);

struct TokenizedPrompts {
  torch::Tensor ids;   // int64 [B, text_len]
  torch::Tensor mask;  // int64 [B, text_len]
};

class UMT5Tokenizer {
 public:
  UMT5Tokenizer(std::unique_ptr<SentencePieceModel> model, int64_t text_len, std::string source);
  // spiece.model on disk, or the bytes of a serialized model (ComfyUI `spiece_model`).
  static UMT5Tokenizer from_file(const std::filesystem::path& path, int64_t text_len);
  static UMT5Tokenizer from_blob(const std::string& serialized, int64_t text_len, const std::string& source);
  // tokenizer_file when set, otherwise tokenizer_blob; text_len from the source.
  static UMT5Tokenizer from_source(const wan::WanModelSource& source);

  // Cleaned, tokenized, eos appended, truncated to text_len (not padded): the mask-1 part.
  std::vector<int64_t> encode(const std::string& prompt) const;
  // Padded batch, as the reference tokenizer call returns it (ids, attention_mask).
  TokenizedPrompts operator()(const std::vector<std::string>& prompts) const;

  int64_t text_len() const { return text_len_; }
  int64_t pad_id() const { return pad_id_; }
  int64_t eos_id() const { return eos_id_; }
  const SentencePieceModel& model() const { return *model_; }

 private:
  std::unique_ptr<SentencePieceModel> model_;
  int64_t text_len_;
  int64_t pad_id_ = 0;
  int64_t eos_id_ = 1;
  std::string source_;
};

}  // namespace t2v::text
