// Fuzz target: a *.safetensors.index.json (weight_map of tensor -> shard file) as TensorStore reads
// it. Two shards exist ("a.safetensors" with tensors x and y, "b.safetensors" with z); any other
// shard name is missing.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "fuzz_common.h"
#include "t2v/io/safetensors.h"
#include "t2v/io/tensor_store.h"

namespace {
std::string shard_bytes(const std::string& header) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + std::string(16, '\0');
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace t2v;
  static const std::string a = shard_bytes(
      R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F16","shape":[2,2],"data_offsets":[8,16]}})");
  static const std::string b = shard_bytes(R"({"z":{"dtype":"BF16","shape":[8],"data_offsets":[0,16]}})");
  const std::string text(reinterpret_cast<const char*>(data), size);
  fuzz::expect_ok_or_error([&] {
    auto store = io::TensorStore::from_index_json(text, "dir/model.safetensors.index.json",
                                                  [](const std::filesystem::path& p) -> std::shared_ptr<io::SafetensorsFile> {
                                                    if (p == "dir/a.safetensors") return io::SafetensorsFile::from_bytes(a, p);
                                                    if (p == "dir/b.safetensors") return io::SafetensorsFile::from_bytes(b, p);
                                                    return nullptr;
                                                  });
    for (const auto& key : store.keys()) (void)store.load(key, torch::kFloat32);
  });
  return 0;
}
