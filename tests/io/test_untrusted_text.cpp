// Bytes from files and prompts that reach error messages, manifests and metadata: printable_utf8 /
// is_valid_utf8, the in-memory safetensors and index readers the fuzzers drive, and the batch-file
// rules (bad lines carry an error, template widths bounded).
#include <gtest/gtest.h>

#include <sstream>

#include "cli/batch_file.h"
#include "t2v/error.h"
#include "t2v/io/json_file.h"
#include "t2v/io/safetensors.h"
#include "t2v/io/tensor_store.h"

namespace {
using t2v::is_valid_utf8;
using t2v::printable_utf8;

std::string file_with_header(const std::string& header, size_t data = 0) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + std::string(data, '\0');
}

// The message of the t2v::Error `fn` throws.
template <class F>
std::string error_of(F&& fn) {
  try {
    fn();
  } catch (const t2v::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no t2v::Error thrown";
  return "";
}

TEST(Utf8, ValidityFollowsTheUnicodeTable) {
  EXPECT_TRUE(is_valid_utf8("plain ascii"));
  EXPECT_TRUE(is_valid_utf8("caf\xc3\xa9 \xe4\xb8\x80 \xf0\x9f\xa6\x8a"));  // é 一 🦊
  EXPECT_FALSE(is_valid_utf8("\xff"));
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // surrogate U+D800
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xe4\xb8"));          // truncated
}

TEST(Utf8, PrintableKeepsTextAndEscapesTheRest) {
  EXPECT_EQ(printable_utf8("caf\xc3\xa9\nline\ttab"), "caf\xc3\xa9\nline\ttab");
  EXPECT_EQ(printable_utf8("a\xff" "b"), "a\\xffb");
  EXPECT_EQ(printable_utf8("\x1b[31mred"), "\\x1b[31mred");
  EXPECT_EQ(printable_utf8("\xc2\x9b"), "\\u009b");       // C1 control (CSI)
  EXPECT_EQ(printable_utf8("\xe4\xb8"), "\\xe4\\xb8");    // truncated sequence: each byte
  EXPECT_EQ(printable_utf8(std::string("a\0b", 3)), "a\\x00b");
  for (int b = 0; b < 256; ++b) EXPECT_TRUE(is_valid_utf8(printable_utf8(std::string(1, static_cast<char>(b)))));
}

TEST(Utf8, EveryErrorMessageIsPrintable) {
  EXPECT_EQ(std::string(t2v::WeightsError("x\xff").what()), "x\\xff");
  EXPECT_EQ(std::string(t2v::UsageError(std::string("\x1b")).what()), "\\x1b");
}

TEST(SafetensorsFromBytes, InvalidUtf8InTheHeaderIsEscapedInTheMessage) {
  // A mutated tensor name: not valid UTF-8, so not valid JSON; the parser's message quotes the bytes.
  const auto bytes = file_with_header("{\"w\xff\xfe\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
  const std::string msg = error_of([&] { t2v::io::SafetensorsFile::from_bytes(bytes, "m.safetensors"); });
  EXPECT_TRUE(is_valid_utf8(msg)) << msg;
  EXPECT_NE(msg.find("m.safetensors: header is not valid JSON"), std::string::npos) << msg;
}

TEST(SafetensorsFromBytes, ControlCharactersInANameAreEscaped) {
  const auto bytes = file_with_header(R"({"\u001b[2Jw":{"dtype":"X9","shape":[1],"data_offsets":[0,4]}})", 4);
  const std::string msg = error_of([&] { t2v::io::SafetensorsFile::from_bytes(bytes, "m.safetensors"); });
  EXPECT_NE(msg.find("tensor '\\x1b[2Jw': unknown dtype 'X9'"), std::string::npos) << msg;
}

TEST(SafetensorsFromBytes, ReadsLikeAFile) {
  auto f = t2v::io::SafetensorsFile::from_bytes(
      file_with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8), "m.safetensors");
  ASSERT_EQ(f->names(), std::vector<std::string>{"a"});
  EXPECT_EQ(f->load("a", torch::kFloat32).sum().item<float>(), 0.0f);
  EXPECT_EQ(error_of([] { t2v::io::SafetensorsFile::from_bytes("1234", "s.safetensors"); }),
            "s.safetensors: file is 4 bytes, shorter than the 8-byte safetensors header length");
}

TEST(IndexFromJson, ShardNamesAreCheckedBeforeOpening) {
  int opened = 0;
  auto opener = [&](const std::filesystem::path&) -> std::shared_ptr<t2v::io::SafetensorsFile> {
    ++opened;
    return nullptr;
  };
  EXPECT_EQ(error_of([&] { t2v::io::TensorStore::from_index_json(R"({"weight_map":{"x":"../a.safetensors"}})", "d/i.json", opener); }),
            "d/i.json: shard name '../a.safetensors' must be a file name in the same folder");
  EXPECT_EQ(error_of([&] { t2v::io::TensorStore::from_index_json(R"({"weight_map":{"x":""}})", "d/i.json", opener); }),
            "d/: missing shard (listed in d/i.json)");
  EXPECT_EQ(opened, 0);
  EXPECT_EQ(error_of([&] { t2v::io::TensorStore::from_index_json("{\"weight_map\":7}", "d/i.json", opener); }),
            "d/i.json: shard index has no \"weight_map\" object");
}

TEST(BatchFile, BadLinesCarryAnErrorAndGoodLinesParse) {
  std::istringstream txt("a red fox\n# note\n\n  bad \xff line\r\n  a cat  \n");
  const auto e = t2v::cli::parse_batch_lines(txt, /*jsonl=*/false, {});
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(*e[0].options.prompt, "a red fox");
  EXPECT_EQ(e[1].line, 4);
  EXPECT_EQ(e[1].error, "the prompt is not valid UTF-8 text");
  EXPECT_EQ(*e[2].options.prompt, "a cat");
  EXPECT_EQ(e[2].index, 2);

  std::istringstream jsonl("{\"prompt\": \"x\", \"steps\": 3}\n{\"prompt\": \"\xff\"}\n{\"steps\": \"many\"}\n");
  const auto j = t2v::cli::parse_batch_lines(jsonl, /*jsonl=*/true, {});
  ASSERT_EQ(j.size(), 3u);
  EXPECT_EQ(*j[0].options.steps, 3);
  EXPECT_TRUE(j[1].error.rfind("invalid JSON (", 0) == 0) << j[1].error;
  EXPECT_TRUE(is_valid_utf8(j[1].error)) << j[1].error;
  EXPECT_EQ(j[2].error, "\"steps\" must be an integer, got \"many\"");

  // Found by fuzz_batch: a float or huge number for an integer key was undefined behaviour.
  std::istringstream nums("{\"prompt\": \"x\", \"frames\": 1e55}\n{\"prompt\": \"x\", \"width\": 99999999999}\n"
                          "{\"prompt\": \"x\", \"seed\": -1}\n{\"prompt\": \"x\", \"guidance\": 4}\n");
  const auto n = t2v::cli::parse_batch_lines(nums, /*jsonl=*/true, {});
  ASSERT_EQ(n.size(), 4u);
  EXPECT_EQ(n[0].error, "\"frames\" must be an integer, got 1e+55");
  EXPECT_EQ(n[1].error, "\"width\" is out of range: 99999999999");
  EXPECT_EQ(n[2].error, "\"seed\" must be a non-negative integer, got -1");
  EXPECT_EQ(n[3].error, "");
  EXPECT_DOUBLE_EQ(*n[3].options.guidance, 4.0);
}

TEST(JsonText, InvalidUtf8IsReplacedNotThrown) {
  const nlohmann::json j = {{"output", std::string("out/\xff.mp4")}};
  EXPECT_EQ(t2v::io::to_json_text(j), "{\"output\":\"out/\xef\xbf\xbd.mp4\"}");
}

TEST(BatchFile, TemplateWidthsAreBounded) {
  t2v::cli::BatchEntry e;
  e.index = 7;
  e.line = 9;
  e.options.prompt = "A Red Fox!";
  EXPECT_EQ(t2v::cli::expand_name_template("{index:04}-{slug}-{seed}-{line:3}.mp4", e, 42), "0007-a-red-fox-42-009.mp4");
  EXPECT_EQ(error_of([&] { t2v::cli::expand_name_template("{index:0999999999999}", e, 1); }),
            "--name-template {index:0999999999999}: field width 999999999999 is out of range (at most 20)");
  EXPECT_EQ(error_of([&] { t2v::cli::expand_name_template("{index}\xff.mp4", e, 1); }),
            "--name-template {index}\\xff.mp4: not valid UTF-8 text");  // found by fuzz_batch
  EXPECT_EQ(error_of([&] { t2v::cli::expand_name_template("{prompt}", e, 1); }),
            "--name-template {prompt}: unknown field (use {index}, {index:04}, {line}, {slug}, {seed})");
}

}  // namespace
