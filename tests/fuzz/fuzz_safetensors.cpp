// Fuzz target: a safetensors file (8-byte header length, JSON header, data) as SafetensorsFile
// reads it, then every tensor viewed and converted, and the single-file config readers
// (hyper-parameters from tensor shapes) run over it as a TensorStore.
#include <cstddef>
#include <cstdint>

#include "fuzz_common.h"
#include "t2v/io/safetensors.h"
#include "t2v/io/tensor_store.h"
#include "t2v/models/wan/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace t2v;
  fuzz::expect_ok_or_error([&] {
    auto file = io::SafetensorsFile::from_bytes(std::string(reinterpret_cast<const char*>(data), size), "fuzz.safetensors");
    for (const auto& name : file->names()) {
      const auto& info = file->info(name);
      if (info.numel() > (1 << 16)) continue;  // bounded by the input size anyway; keep each run fast
      auto v = file->view(name);
      if (info.dtype != io::DType::BOOL) (void)file->load(name, torch::kFloat32);
      (void)v;
    }
    const auto store = io::TensorStore::from_file(file);
    fuzz::expect_ok_or_error([&] { (void)wan::WanTransformerConfig::from_tensors(store); });
    fuzz::expect_ok_or_error([&] { (void)wan::WanVAEConfig::from_tensors(store); });
    fuzz::expect_ok_or_error([&] { (void)wan::UMT5Config::from_tensors(store); });
  });
  return 0;
}
