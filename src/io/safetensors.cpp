// Safetensors reader/writer. Validation order follows the file: size, header length, header JSON,
// then each entry, then the data layout (bounds, sizes, overlaps). Sizes read from the file are
// checked against the real file size before anything is allocated from them.
#include "t2v/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "t2v/error.h"
#include "t2v/io/atomic_file.h"

namespace t2v::io {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {
constexpr uint64_t kMaxHeaderBytes = 100ull * 1000 * 1000;

struct DTypeEntry {
  DType dtype;
  const char* name;
  int64_t size;
};
constexpr DTypeEntry kDTypes[] = {
    {DType::F64, "F64", 8},       {DType::F32, "F32", 4},         {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2},     {DType::F8_E4M3, "F8_E4M3", 1}, {DType::F8_E5M2, "F8_E5M2", 1},
    {DType::I64, "I64", 8},       {DType::I32, "I32", 4},         {DType::I16, "I16", 2},
    {DType::I8, "I8", 1},         {DType::U8, "U8", 1},           {DType::BOOL, "BOOL", 1},
};

[[noreturn]] void fail(const fs::path& path, const std::string& what) {
  throw WeightsError(path.string() + ": " + what);
}
}  // namespace

const char* dtype_name(DType dtype) {
  for (const auto& e : kDTypes)
    if (e.dtype == dtype) return e.name;
  return "?";
}

int64_t dtype_itemsize(DType dtype) {
  for (const auto& e : kDTypes)
    if (e.dtype == dtype) return e.size;
  return 0;
}

bool parse_dtype(const std::string& name, DType* out) {
  for (const auto& e : kDTypes) {
    if (name == e.name) {
      *out = e.dtype;
      return true;
    }
  }
  return false;
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

// Read-only mapping of a whole file; unmapped when the last view dies. PROT_READ (not a writable
// private mapping) so that no commit charge is taken: a 28 GB bf16 single file must map on a
// 24 GB machine without swap. Views over it must never be written (the loader copies out).
class MappedFile {
 public:
  // Bytes held in memory instead of a mapping (SafetensorsFile::from_bytes).
  explicit MappedFile(std::string bytes) : owned_(std::move(bytes)), size_(owned_.size()) {
    data_ = reinterpret_cast<uint8_t*>(owned_.data());
  }
  MappedFile(const fs::path& path, uint64_t size) : size_(size) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(path, std::string("cannot open: ") + std::strerror(errno));
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) fail(path, std::string("cannot map: ") + std::strerror(errno));
    data_ = static_cast<uint8_t*>(p);
  }
  ~MappedFile() {
    if (owned_.empty() && data_) ::munmap(data_, size_);
  }
  uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }

 private:
  std::string owned_;
  uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) fail(path, "file not found");
  if (!fs::is_regular_file(path, ec)) fail(path, "not a regular file");
  const uint64_t size = fs::file_size(path, ec);
  if (ec) fail(path, "cannot stat: " + ec.message());
  if (size == 0) fail(path, "file is empty (expected a safetensors file)");
  if (size < 8) {
    fail(path, "file is " + std::to_string(size) +
                   " bytes, shorter than the 8-byte safetensors header length");
  }
  auto file = std::shared_ptr<SafetensorsFile>(new SafetensorsFile());
  file->path_ = path;
  file->map_ = std::make_shared<MappedFile>(path, size);
  file->parse();
  return file;
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::from_bytes(std::string bytes, const fs::path& name) {
  if (bytes.empty()) fail(name, "file is empty (expected a safetensors file)");
  if (bytes.size() < 8) {
    fail(name, "file is " + std::to_string(bytes.size()) + " bytes, shorter than the 8-byte safetensors header length");
  }
  auto file = std::shared_ptr<SafetensorsFile>(new SafetensorsFile());
  file->path_ = name;
  file->map_ = std::make_shared<MappedFile>(std::move(bytes));
  file->parse();
  return file;
}

void SafetensorsFile::parse() {
  const fs::path& path = path_;
  SafetensorsFile* file = this;
  const uint64_t size = map_->size();
  const uint8_t* bytes = map_->data();

  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];  // little-endian
  if (header_len > kMaxHeaderBytes) {
    fail(path, "header length " + std::to_string(header_len) + " exceeds the " +
                   std::to_string(kMaxHeaderBytes) + "-byte limit (corrupt or not safetensors)");
  }
  if (header_len > size - 8) {
    fail(path, "header length " + std::to_string(header_len) + " runs past the end of the file (" +
                   std::to_string(size) + " bytes)");
  }
  file->data_offset_ = 8 + header_len;
  const uint64_t data_size = size - file->data_offset_;

  json header;
  try {
    header = json::parse(bytes + 8, bytes + 8 + header_len);
  } catch (const json::exception& e) {
    fail(path, std::string("header is not valid JSON (") + e.what() + ")");
  }
  if (!header.is_object()) fail(path, "header is not a JSON object");

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& key = it.key();
    const json& value = it.value();
    if (key == "__metadata__") {
      if (!value.is_object()) fail(path, "__metadata__ is not a JSON object");
      for (auto m = value.begin(); m != value.end(); ++m) {
        if (!m.value().is_string()) {
          fail(path, "__metadata__ value for '" + m.key() + "' is not a string");
        }
        file->metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + key + "': ";
    if (!value.is_object()) fail(path, where + "entry is not a JSON object");
    if (!value.contains("dtype") || !value["dtype"].is_string()) {
      fail(path, where + "missing or non-string 'dtype'");
    }
    TensorInfo info;
    info.name = key;
    const std::string dtype = value["dtype"].get<std::string>();
    if (!parse_dtype(dtype, &info.dtype)) {
      fail(path, where + "unknown dtype '" + dtype +
                     "' (expected F64 F32 F16 BF16 F8_E4M3 F8_E5M2 I64 I32 I16 I8 U8 BOOL)");
    }
    if (!value.contains("shape") || !value["shape"].is_array()) {
      fail(path, where + "missing or non-array 'shape'");
    }
    // numel is bounded by the data size below; guard the running product against overflow.
    uint64_t numel = 1;
    bool overflow = false;
    for (const auto& d : value["shape"]) {
      if (!d.is_number_integer()) fail(path, where + "shape " + value["shape"].dump() + " has a non-integer dimension");
      if (d.is_number_unsigned() ? false : d.get<int64_t>() < 0) {
        fail(path, where + "shape " + value["shape"].dump() + " has a negative dimension");
      }
      const uint64_t dim = d.get<uint64_t>();
      if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) overflow = true;
      if (dim != 0 && numel > std::numeric_limits<uint64_t>::max() / dim) overflow = true;
      if (!overflow) numel *= dim;
      info.shape.push_back(static_cast<int64_t>(dim));
    }
    if (!value.contains("data_offsets") || !value["data_offsets"].is_array() ||
        value["data_offsets"].size() != 2) {
      fail(path, where + "'data_offsets' must be an array of two integers");
    }
    for (const auto& o : value["data_offsets"]) {
      if (!o.is_number_integer() || (!o.is_number_unsigned() && o.get<int64_t>() < 0)) {
        fail(path, where + "data_offsets " + value["data_offsets"].dump() +
                       " must be non-negative integers");
      }
    }
    info.begin = value["data_offsets"][0].get<uint64_t>();
    info.end = value["data_offsets"][1].get<uint64_t>();
    if (info.begin > info.end) {
      fail(path, where + "data_offsets " + value["data_offsets"].dump() + " are reversed (begin > end)");
    }
    if (info.end > data_size) {
      fail(path, where + "data_offsets " + value["data_offsets"].dump() +
                     " run past the end of the data section (" + std::to_string(data_size) +
                     " bytes): file truncated or corrupt");
    }
    const uint64_t itemsize = static_cast<uint64_t>(dtype_itemsize(info.dtype));
    if (overflow || numel > data_size || numel * itemsize != info.end - info.begin) {
      fail(path, where + "byte size " + std::to_string(info.end - info.begin) + " does not match shape " +
                     value["shape"].dump() + " x " + dtype + " (" +
                     (overflow ? std::string("overflow") : std::to_string(numel * itemsize)) + " bytes)");
    }
    file->infos_.emplace(key, std::move(info));
  }

  std::vector<const TensorInfo*> order;
  for (const auto& kv : file->infos_) order.push_back(&kv.second);
  std::sort(order.begin(), order.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  for (size_t i = 1; i < order.size(); ++i) {
    if (order[i]->begin < order[i - 1]->end) {
      fail(path, "tensors '" + order[i - 1]->name + "' and '" + order[i]->name +
                     "' overlap in the data section");
    }
  }
  for (const auto* info : order) file->names_.push_back(info->name);
}

uint64_t SafetensorsFile::file_size() const { return map_->size(); }

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
  auto it = infos_.find(name);
  if (it == infos_.end()) fail(path_, "no tensor named '" + name + "'");
  return it->second;
}

c10::optional<torch::ScalarType> SafetensorsFile::torch_dtype(DType dtype) {
  switch (dtype) {
    case DType::F64: return torch::kFloat64;
    case DType::F32: return torch::kFloat32;
    case DType::F16: return torch::kFloat16;
    case DType::BF16: return torch::kBFloat16;
    case DType::I64: return torch::kInt64;
    case DType::I32: return torch::kInt32;
    case DType::I16: return torch::kInt16;
    case DType::I8: return torch::kInt8;
    case DType::U8: return torch::kUInt8;
    case DType::BOOL: return torch::kBool;
    case DType::F8_E4M3:
    case DType::F8_E5M2: return c10::nullopt;
  }
  return c10::nullopt;
}

torch::Tensor SafetensorsFile::view(const std::string& name) const {
  const TensorInfo& ti = info(name);
  const auto stype = torch_dtype(ti.dtype).value_or(torch::kUInt8);
  uint8_t* ptr = map_->data() + data_offset_ + ti.begin;
  auto keep_alive = map_;
  auto options = torch::TensorOptions().dtype(stype).device(torch::kCPU);
  if (reinterpret_cast<uintptr_t>(ptr) % dtype_itemsize(ti.dtype) != 0) {
    // Unaligned data (legal in safetensors): vectorised kernels assume alignment, so copy.
    auto out = torch::empty(ti.shape, options);
    if (ti.end > ti.begin) std::memcpy(out.data_ptr(), ptr, ti.end - ti.begin);  // empty: data_ptr() is null
    return out;
  }
  return torch::from_blob(ptr, ti.shape, [keep_alive](void*) {}, options);
}

torch::Tensor SafetensorsFile::load(const std::string& name, torch::ScalarType dtype,
                                    const torch::Device& device) const {
  const TensorInfo& ti = info(name);
  torch::Tensor t = view(name);
  if (ti.dtype == DType::F8_E4M3 || ti.dtype == DType::F8_E5M2) t = decode_fp8(t, ti.dtype);
  return t.to(device, dtype, /*non_blocking=*/false, /*copy=*/true).contiguous();
}

torch::Tensor decode_fp8(const torch::Tensor& bytes_u8, DType dtype) {
  // 256-entry lookup table per format. E4M3FN: bias 7, no infinities, S.1111.111 = NaN.
  // E5M2: bias 15, IEEE-like infinities and NaNs.
  const bool e4m3 = dtype == DType::F8_E4M3;
  const int mant_bits = e4m3 ? 3 : 2;
  const int bias = e4m3 ? 7 : 15;
  const int exp_max = e4m3 ? 15 : 31;
  float table[256];
  for (int b = 0; b < 256; ++b) {
    const int sign = b >> 7;
    const int exp = (b >> mant_bits) & exp_max;
    const int mant = b & ((1 << mant_bits) - 1);
    float v;
    if (e4m3 && exp == 15 && mant == 7) {
      v = std::numeric_limits<float>::quiet_NaN();
    } else if (!e4m3 && exp == 31) {
      v = mant == 0 ? std::numeric_limits<float>::infinity() : std::numeric_limits<float>::quiet_NaN();
    } else if (exp == 0) {
      v = std::ldexp(static_cast<float>(mant) / (1 << mant_bits), 1 - bias);
    } else {
      v = std::ldexp(1.0f + static_cast<float>(mant) / (1 << mant_bits), exp - bias);
    }
    table[b] = sign ? -v : v;
  }
  auto lut = torch::from_blob(table, {256}, torch::kFloat32).clone();
  return lut.index_select(0, bytes_u8.reshape({-1}).to(torch::kLong)).reshape(bytes_u8.sizes());
}

void save_safetensors(const fs::path& path,
                      const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  static const std::map<torch::ScalarType, const char*> kNames = {
      {torch::kFloat64, "F64"}, {torch::kFloat32, "F32"}, {torch::kFloat16, "F16"},
      {torch::kBFloat16, "BF16"}, {torch::kInt64, "I64"}, {torch::kInt32, "I32"},
      {torch::kInt16, "I16"},   {torch::kInt8, "I8"},     {torch::kUInt8, "U8"},
      {torch::kBool, "BOOL"}};
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> cpu;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    auto c = t.detach().to(torch::kCPU).contiguous();
    auto it = kNames.find(c.scalar_type());
    if (it == kNames.end()) throw Error("save_safetensors: unsupported dtype for tensor " + name);
    const uint64_t nbytes = static_cast<uint64_t>(c.numel()) * c.element_size();
    header[name] = {{"dtype", it->second}, {"shape", c.sizes().vec()},
                    {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    cpu.push_back(c);
  }
  std::string text = header.dump();
  while (text.size() % 8 != 0) text.push_back(' ');
  AtomicOutput out(path);
  {
    std::ofstream f(out.temp_path(), std::ios::binary);
    if (!f) throw InputError("cannot write " + out.temp_path().string());
    uint64_t n = text.size();
    char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    f.write(len, 8);
    f.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& c : cpu) {
      f.write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.numel() * c.element_size()));
    }
    if (!f) throw InputError("write failed: " + out.temp_path().string());
  }
  out.commit();
}

}  // namespace t2v::io
