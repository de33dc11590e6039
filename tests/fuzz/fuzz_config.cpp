// Fuzz target: a config.json as every config reader sees it: the diffusers and official (Wan) forms
// of the DiT and VAE configs, the umT5 config, and t2v's generation defaults.
#include <cstddef>
#include <cstdint>

#include "fuzz_common.h"
#include "t2v/io/json_file.h"
#include "t2v/models/wan/config.h"
#include "t2v/models/wan/model_source.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace t2v;
  const std::string text(reinterpret_cast<const char*>(data), size);
  nlohmann::json j;
  try {
    j = io::parse_json_text(text, "config.json");
  } catch (const t2v::Error& e) {
    fuzz::check_message(e);
    return 0;
  }
  fuzz::expect_ok_or_error([&] { (void)wan::WanTransformerConfig::from_diffusers_json(j, "config.json").to_json(); });
  fuzz::expect_ok_or_error([&] { (void)wan::WanTransformerConfig::from_wan_json(j, "config.json").to_json(); });
  fuzz::expect_ok_or_error([&] { (void)wan::WanVAEConfig::from_diffusers_json(j, "config.json").to_json(); });
  fuzz::expect_ok_or_error([&] { (void)wan::WanVAEConfig::from_wan_json(j, "config.json").to_json(); });
  fuzz::expect_ok_or_error([&] { (void)wan::UMT5Config::from_json(j, "config.json").to_json(); });
  fuzz::expect_ok_or_error([&] { (void)wan::parse_generation_defaults(j, "model_index.json"); });
  return 0;
}
