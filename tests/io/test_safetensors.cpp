// Safetensors reader: every malformed file is rejected with a one-line WeightsError naming the
// file (and tensor where relevant) and what is wrong; valid files round-trip with zero-copy views.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <unistd.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "t2v/error.h"
#include "t2v/io/safetensors.h"
#include "t2v/io/tensor_store.h"

namespace fs = std::filesystem;
using t2v::io::SafetensorsFile;

namespace {

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("t2v_st_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write_raw(const std::string& name, const std::string& bytes) {
    fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return p;
  }
  // A file with the given header text (length prefix computed) and `data_bytes` of data.
  fs::path write_file(const std::string& name, const std::string& header, size_t data_bytes) {
    std::string bytes(8, '\0');
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    bytes += header;
    bytes += std::string(data_bytes, '\x01');
    return write_raw(name, bytes);
  }
  // Expects open() to fail with a one-line message containing the file name and `fragment`.
  void expect_rejected(const fs::path& path, const std::string& fragment) {
    try {
      SafetensorsFile::open(path);
      FAIL() << "accepted malformed file " << path;
    } catch (const t2v::WeightsError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(path.filename().string()), std::string::npos) << msg;
      EXPECT_NE(msg.find(fragment), std::string::npos) << "message lacks '" << fragment << "': " << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << "multi-line message: " << msg;
      EXPECT_EQ(t2v::exit_code_for(e), 2);
    }
  }
  fs::path dir_;
};

const char* kOneTensor = R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})";

TEST_F(SafetensorsTest, ValidFileViewsAndConverts) {
  auto p = write_file("ok.safetensors",
                      R"({"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
                      R"("b":{"dtype":"BF16","shape":[4],"data_offsets":[24,32]}})",
                      32);
  auto f = SafetensorsFile::open(p);
  EXPECT_EQ(f->metadata().at("k"), "v");
  ASSERT_EQ(f->names().size(), 2u);
  EXPECT_EQ(f->info("a").shape, (std::vector<int64_t>{2, 3}));
  auto a = f->view("a");
  EXPECT_EQ(a.sizes(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a.scalar_type(), torch::kFloat32);
  auto b = f->load("b", torch::kFloat32);
  EXPECT_EQ(b.scalar_type(), torch::kFloat32);
  // 0x0101 as bf16 is a tiny positive number; conversion must be exact.
  EXPECT_FLOAT_EQ(b[0].item<float>(), torch::tensor({c10::BFloat16(0x0101, c10::BFloat16::from_bits())}).to(torch::kFloat32).item<float>());
}

TEST_F(SafetensorsTest, SaveRoundTrip) {
  auto t = torch::arange(12, torch::kFloat32).reshape({3, 4});
  auto ids = torch::tensor({1, 2, 3}, torch::kInt64);
  const fs::path p = dir_ / "rt.safetensors";
  t2v::io::save_safetensors(p, {{"x", t}, {"ids", ids}}, {{"kind", "test"}});
  auto f = SafetensorsFile::open(p);
  EXPECT_TRUE(torch::equal(f->view("x"), t));
  EXPECT_TRUE(torch::equal(f->view("ids"), ids));
  EXPECT_EQ(f->metadata().at("kind"), "test");
  for (const auto& e : fs::directory_iterator(dir_)) {
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << "temp file left: " << e.path();
  }
}

TEST_F(SafetensorsTest, Fp8DecodesExactly) {
  // E4M3FN: 0x38 = 1.0, 0xB8 = -1.0, 0x7E = 448, 0x01 = 2^-9, 0x7F = NaN.
  auto e4m3 = t2v::io::decode_fp8(torch::tensor({0x38, 0xB8, 0x7E, 0x01, 0x7F}, torch::kUInt8),
                                  t2v::io::DType::F8_E4M3);
  EXPECT_FLOAT_EQ(e4m3[0].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(e4m3[1].item<float>(), -1.0f);
  EXPECT_FLOAT_EQ(e4m3[2].item<float>(), 448.0f);
  EXPECT_FLOAT_EQ(e4m3[3].item<float>(), std::ldexp(1.0f, -9));
  EXPECT_TRUE(std::isnan(e4m3[4].item<float>()));
  // E5M2: 0x3C = 1.0, 0x7B = 57344, 0x7C = inf.
  auto e5m2 = t2v::io::decode_fp8(torch::tensor({0x3C, 0x7B, 0x7C}, torch::kUInt8), t2v::io::DType::F8_E5M2);
  EXPECT_FLOAT_EQ(e5m2[0].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(e5m2[1].item<float>(), 57344.0f);
  EXPECT_TRUE(std::isinf(e5m2[2].item<float>()));
}

TEST_F(SafetensorsTest, RejectsEmpty) { expect_rejected(write_raw("empty.safetensors", ""), "empty"); }

TEST_F(SafetensorsTest, RejectsShorterThan8Bytes) {
  expect_rejected(write_raw("short.safetensors", "abc"), "shorter than");
}

TEST_F(SafetensorsTest, RejectsHeaderPastEof) {
  std::string bytes(8, '\0');
  bytes[0] = 100;
  expect_rejected(write_raw("pasteof.safetensors", bytes + "{}"), "past the end of the file");
}

TEST_F(SafetensorsTest, RejectsAbsurdHeaderLength) {
  std::string bytes(8, '\xff');
  bytes[7] = 0x7f;
  expect_rejected(write_raw("huge.safetensors", bytes + "{}"), "exceeds");
}

TEST_F(SafetensorsTest, RejectsNonJsonHeader) {
  expect_rejected(write_file("notjson.safetensors", "{not json", 0), "not valid JSON");
}

TEST_F(SafetensorsTest, RejectsNonObjectHeader) {
  expect_rejected(write_file("array.safetensors", "[1,2,3]", 0), "not a JSON object");
}

TEST_F(SafetensorsTest, RejectsUnknownDtype) {
  expect_rejected(write_file("dtype.safetensors", R"({"w":{"dtype":"F42","shape":[1],"data_offsets":[0,4]}})", 4),
                  "unknown dtype 'F42'");
}

TEST_F(SafetensorsTest, RejectsNegativeShape) {
  expect_rejected(write_file("neg.safetensors", R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
                  "negative");
}

TEST_F(SafetensorsTest, RejectsNonIntegerShape) {
  expect_rejected(write_file("frac.safetensors", R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4),
                  "non-integer");
}

TEST_F(SafetensorsTest, RejectsOffsetsPastEnd) {
  expect_rejected(write_file("past.safetensors", R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8),
                  "run past the end of the data section");
}

TEST_F(SafetensorsTest, RejectsReversedOffsets) {
  expect_rejected(write_file("rev.safetensors", R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", 8),
                  "reversed");
}

TEST_F(SafetensorsTest, RejectsOverlappingTensors) {
  expect_rejected(write_file("overlap.safetensors",
                             R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                             12),
                  "overlap");
}

TEST_F(SafetensorsTest, RejectsByteSizeMismatch) {
  expect_rejected(write_file("size.safetensors", R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
                  "does not match shape");
}

TEST_F(SafetensorsTest, RejectsOverflowingShape) {
  expect_rejected(write_file("ovf.safetensors",
                             R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,8]}})", 8),
                  "does not match shape");
}

TEST_F(SafetensorsTest, RejectsTruncatedData) {
  // A valid file cut short: the last tensor's bytes are missing.
  std::string header = kOneTensor;
  auto p = write_file("trunc.safetensors", header, 24);
  fs::resize_file(p, fs::file_size(p) - 10);
  expect_rejected(p, "truncated");
}

TEST_F(SafetensorsTest, RejectsNonStringMetadata) {
  expect_rejected(write_file("meta.safetensors", R"({"__metadata__":{"n":3}})", 0), "not a string");
}

TEST_F(SafetensorsTest, RejectsMissingFile) { expect_rejected(dir_ / "nope.safetensors", "not found"); }

TEST_F(SafetensorsTest, ShardedIndexMissingShard) {
  write_file("model-00001-of-00002.safetensors", kOneTensor, 24);
  nlohmann::json index = {{"metadata", {{"total_size", 48}}},
                          {"weight_map", {{"a", "model-00001-of-00002.safetensors"},
                                          {"b", "model-00002-of-00002.safetensors"}}}};
  std::ofstream(dir_ / "model.safetensors.index.json") << index.dump();
  try {
    t2v::io::TensorStore::open(dir_ / "model.safetensors.index.json");
    FAIL() << "accepted an index with a missing shard";
  } catch (const t2v::WeightsError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("model-00002-of-00002.safetensors"), std::string::npos) << msg;
    EXPECT_NE(msg.find("missing shard"), std::string::npos) << msg;
  }
}

TEST_F(SafetensorsTest, ShardedIndexKeyNotInShard) {
  write_file("model-00001-of-00001.safetensors", kOneTensor, 24);
  nlohmann::json index = {{"weight_map", {{"zz", "model-00001-of-00001.safetensors"}}}};
  std::ofstream(dir_ / "model.safetensors.index.json") << index.dump();
  EXPECT_THROW(t2v::io::TensorStore::open(dir_), t2v::WeightsError);
}

TEST_F(SafetensorsTest, DirectoryResolvesSingleFile) {
  write_file("model.safetensors", kOneTensor, 24);
  auto store = t2v::io::TensorStore::open(dir_);
  EXPECT_EQ(store.keys(), (std::vector<std::string>{"a"}));
}

}  // namespace
