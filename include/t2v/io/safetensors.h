// Safetensors reader: memory-mapped, strictly validated, zero-copy views and dtype conversion.
// Format: 8-byte little-endian header length N, N bytes of JSON header, then the data section.
// Every malformed file raises t2v::WeightsError with a one-line message naming the file path, the
// tensor where relevant, and what is wrong. Nothing is allocated from untrusted sizes before they
// have been checked against the file size.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace t2v::io {

enum class DType { F64, F32, F16, BF16, F8_E4M3, F8_E5M2, I64, I32, I16, I8, U8, BOOL };

const char* dtype_name(DType dtype);
int64_t dtype_itemsize(DType dtype);
// Parses a safetensors dtype string ("F32", ...); returns false if unknown.
bool parse_dtype(const std::string& name, DType* out);

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // offsets relative to the start of the data section
  uint64_t end = 0;
  int64_t numel() const;
};

class MappedFile;  // read-only mmap of a whole file

class SafetensorsFile {
 public:
  // Opens, maps and validates the file. Throws WeightsError on any malformation.
  static std::shared_ptr<SafetensorsFile> open(const std::filesystem::path& path);
  // The same over bytes in memory (fuzzing, tests); `name` stands for the path in messages.
  static std::shared_ptr<SafetensorsFile> from_bytes(std::string bytes, const std::filesystem::path& name);

  const std::filesystem::path& path() const { return path_; }
  uint64_t file_size() const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Tensor names in file (data offset) order.
  const std::vector<std::string>& names() const { return names_; }
  bool contains(const std::string& name) const { return infos_.count(name) != 0; }
  const TensorInfo& info(const std::string& name) const;  // throws WeightsError if absent

  // Zero-copy CPU tensor over the mapped, READ-ONLY bytes (keeps the mapping alive; never write
  // into it - in-place ops would fault; clone() first). FP8 tensors, which
  // LibTorch 1.13 has no dtype for, are returned as uint8 with the same shape. A view whose bytes
  // are not aligned to the item size is returned as an aligned copy.
  torch::Tensor view(const std::string& name) const;
  // A contiguous copy converted to `dtype` on `device` (FP8 is decoded in software).
  torch::Tensor load(const std::string& name, torch::ScalarType dtype,
                     const torch::Device& device = torch::kCPU) const;
  // The stored dtype as a torch type when it has one (FP8 -> nullopt).
  static c10::optional<torch::ScalarType> torch_dtype(DType dtype);

 private:
  SafetensorsFile() = default;
  void parse();  // validates the header of map_ and fills the tables
  std::filesystem::path path_;
  std::shared_ptr<MappedFile> map_;
  uint64_t data_offset_ = 0;
  std::map<std::string, std::string> metadata_;
  std::map<std::string, TensorInfo> infos_;
  std::vector<std::string> names_;
};

// Decodes FP8 bytes (E4M3FN or E5M2) into float32 values.
torch::Tensor decode_fp8(const torch::Tensor& bytes_u8, DType dtype);

// Writes tensors (CPU, contiguous copies made as needed) to a safetensors file, atomically:
// written to `path`.tmp-XXXX in the same directory and renamed when complete.
void save_safetensors(const std::filesystem::path& path,
                      const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace t2v::io
