// Tokenizer golden tests: ids/masks of every fixture prompt (tokenizer.safetensors, made with the
// official HuggingfaceTokenizer(seq_len=16, clean='whitespace') conventions), the cleaning step and
// the SentencePiece pieces, the OOV byte-fallback case, truncation rules for other text lengths.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "t2v/error.h"
#include "t2v/text/tokenizer.h"
#include "text/text_fixtures.h"

using namespace t2v;
using namespace t2v::test;
using text::UMT5Tokenizer;

namespace {
const char* kFile = "tokenizer.safetensors";

const UMT5Tokenizer& tiny_tokenizer() {
  static const UMT5Tokenizer tok = UMT5Tokenizer::from_source(tiny_diffusers());
  return tok;
}
}  // namespace

TEST(umt5Tokenizer, TextLenAndSpecialsFromSource) {
  const auto& tok = tiny_tokenizer();
  EXPECT_EQ(tok.text_len(), std::stoll(case_metadata(kFile, "text_len")));
  EXPECT_EQ(tok.pad_id(), 0);
  EXPECT_EQ(tok.eos_id(), 1);
}

TEST(umt5Tokenizer, CleanedPromptsMatchReference) {
  const auto prompts = fixture_prompts();
  const auto cleaned = case_metadata_json(kFile, "cleaned").get<std::vector<std::string>>();
  ASSERT_EQ(prompts.size(), cleaned.size());
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(text::clean_prompt(prompts[i]), cleaned[i]) << "prompt " << i;
  EXPECT_EQ(text::clean_prompt(case_metadata(kFile, "oov_prompt")), case_metadata(kFile, "oov_cleaned"));
}

TEST(umt5Tokenizer, PiecesMatchReference) {
  const auto& tok = tiny_tokenizer();
  const auto cleaned = case_metadata_json(kFile, "cleaned").get<std::vector<std::string>>();
  const auto pieces = case_metadata_json(kFile, "pieces").get<std::vector<std::vector<std::string>>>();
  ASSERT_EQ(cleaned.size(), pieces.size());
  for (size_t i = 0; i < cleaned.size(); ++i) {
    std::vector<std::string> got;
    for (int id : tok.model().encode(cleaned[i])) got.push_back(tok.model().id_to_piece(id));
    EXPECT_EQ(got, pieces[i]) << "prompt " << i;
  }
}

TEST(umt5Tokenizer, IdsAndMasksMatchGolden) {
  const auto out = tiny_tokenizer()(fixture_prompts());
  EXPECT_TRUE(matches_golden(out.ids, kFile, "ids"));
  EXPECT_TRUE(matches_golden(out.mask, kFile, "mask"));
  EXPECT_TRUE(matches_golden(out.mask.sum(1), kFile, "lengths"));
  EXPECT_EQ(out.ids.scalar_type(), torch::kInt64);
  EXPECT_EQ(out.mask.scalar_type(), torch::kInt64);
}

TEST(umt5Tokenizer, OovUsesSentencePieceByteFallback) {
  const auto out = tiny_tokenizer()({case_metadata(kFile, "oov_prompt")});
  EXPECT_TRUE(matches_golden(out.ids, kFile, "oov.ids_byte_fallback"));
  EXPECT_TRUE(matches_golden(out.mask, kFile, "oov.mask_byte_fallback"));
  // The HF fast-tokenizer emulation (one <unk> per unknown run) is deliberately not what we emit.
  EXPECT_FALSE(torch::equal(out.ids, load_case_tensor(kFile, "oov.ids_unk")));
}

TEST(umt5Tokenizer, ComfyBlobGivesSameIds) {
  const auto source = tiny_comfy();
  ASSERT_FALSE(source.tokenizer_blob.empty());
  const auto tok = UMT5Tokenizer::from_source(source);
  EXPECT_EQ(tok.text_len(), 16);
  const auto out = tok(fixture_prompts());
  EXPECT_TRUE(matches_golden(out.ids, kFile, "ids"));
  EXPECT_TRUE(matches_golden(out.mask, kFile, "mask"));
}

TEST(umt5Tokenizer, TruncationKeepsEosForAnyTextLen) {
  const auto path = tiny_model_dir() / "tokenizer" / "spiece.model";
  const std::string prompt = fixture_prompts()[4];  // the long one
  const auto full = UMT5Tokenizer::from_file(path, 512).encode(prompt);
  ASSERT_GT(full.size(), 20u);
  EXPECT_EQ(full.back(), 1);
  for (int64_t len : {1, 2, 5, 16, 33}) {
    const auto tok = UMT5Tokenizer::from_file(path, len);
    const auto out = tok({prompt, ""});
    ASSERT_EQ(out.ids.sizes(), (std::vector<int64_t>{2, len}));
    // First len-1 pieces of the untruncated encoding, then </s>.
    for (int64_t j = 0; j < len - 1; ++j) EXPECT_EQ(out.ids[0][j].item<int64_t>(), full[static_cast<size_t>(j)]);
    EXPECT_EQ(out.ids[0][len - 1].item<int64_t>(), 1);
    EXPECT_EQ(out.mask[0].sum().item<int64_t>(), len);
    // Empty prompt: just </s>, then padding.
    EXPECT_EQ(out.ids[1][0].item<int64_t>(), 1);
    EXPECT_EQ(out.mask[1].sum().item<int64_t>(), 1);
    if (len > 1) EXPECT_EQ(out.ids[1].slice(0, 1).abs().sum().item<int64_t>(), 0);
  }
  // Exactly text_len-1 pieces fit without truncation.
  const auto tok = UMT5Tokenizer::from_file(path, static_cast<int64_t>(full.size()));
  EXPECT_EQ(tok.encode(prompt), full);
}

TEST(umt5Tokenizer, Errors) {
  const auto path = tiny_model_dir() / "tokenizer" / "spiece.model";
  EXPECT_THROW(UMT5Tokenizer::from_file(path, 0), ConfigError);
  EXPECT_THROW(UMT5Tokenizer::from_file(tiny_model_dir() / "nope.model", 16), InputError);
  EXPECT_THROW(UMT5Tokenizer::from_blob("not a model", 16, "blob"), InputError);
  EXPECT_THROW(tiny_tokenizer()({std::string("bad \xff utf8")}), InputError);
}
