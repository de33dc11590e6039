#include "support/golden.h"

#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "t2v/io/json_file.h"
#include "t2v/io/video_writer.h"

namespace t2v::test {

void write_png(const torch::Tensor& image, const std::filesystem::path& path) {
  io::VideoWriterOptions o;
  o.path = path;
  o.width = static_cast<int>(image.size(1));
  o.height = static_cast<int>(image.size(0));
  o.fps = {16, 1};
  io::VideoWriter w(o);
  w.write(image);
  w.finish();
}

std::vector<std::string> step_tensor_names(int steps) {
  std::vector<std::string> names;
  for (int i = 0; i < steps; ++i) {
    for (const char* n : {"latent_in", "noise_pred_cond", "noise_pred_uncond", "noise_pred", "x0_pred", "latent_out"}) {
      names.push_back("step" + std::to_string(i) + "." + n);
    }
  }
  return names;
}

torch::Tensor load_case_tensor(const std::string& file, const std::string& name) {
  auto f = io::SafetensorsFile::open(case_path(file));
  return f->view(name).clone();
}

namespace {
// The tolerances.json entry of (file, tensor); null when the file or tensor has none.
const nlohmann::json& tolerance_entry(const std::string& file, const std::string& tensor) {
  static std::map<std::string, nlohmann::json> by_folder;
  static const nlohmann::json none;
  const auto path = case_path(file);
  const std::string folder = path.parent_path().string();
  auto it = by_folder.find(folder);
  if (it == by_folder.end()) it = by_folder.emplace(folder, io::read_json_file(path.parent_path() / "tolerances.json")).first;
  const auto& files = it->second.at("files");
  const auto f = files.find(path.filename().string());
  if (f == files.end() || !f->contains(tensor)) return none;
  return f->at(tensor);
}
}  // namespace

double tolerance(const std::string& file, const std::string& tensor, bool strict) {
  return tolerance_entry(file, tensor).at(strict ? "atol_strict" : "atol").get<double>();
}

::testing::AssertionResult all_close(const torch::Tensor& got_in, const torch::Tensor& expected_in, double atol) {
  if (got_in.sizes() != expected_in.sizes()) {
    std::ostringstream os;
    os << "shape mismatch: got " << got_in.sizes() << ", expected " << expected_in.sizes();
    return ::testing::AssertionFailure() << os.str();
  }
  auto got = got_in.detach().to(torch::kCPU, torch::kFloat64);
  auto expected = expected_in.detach().to(torch::kCPU, torch::kFloat64);
  auto diff = (got - expected).abs();
  if (diff.numel() == 0) return ::testing::AssertionSuccess();
  const bool finite = torch::isfinite(got).all().item<bool>();
  auto flat = diff.reshape({-1});
  const int64_t idx = flat.argmax().item<int64_t>();
  const double max_err = flat[idx].item<double>();
  std::ostringstream os;
  os << "max |got - expected| = " << max_err << " at flat index " << idx << " (got "
     << got.reshape({-1})[idx].item<double>() << ", expected " << expected.reshape({-1})[idx].item<double>()
     << "), atol " << atol << ", mean err " << diff.mean().item<double>() << ", shape " << got.sizes();
  if (!finite || max_err > atol) return ::testing::AssertionFailure() << os.str() << (finite ? "" : " (non-finite values)");
  return ::testing::AssertionSuccess() << os.str();
}

::testing::AssertionResult all_equal(const torch::Tensor& got, const torch::Tensor& expected) {
  if (got.sizes() != expected.sizes()) {
    std::ostringstream os;
    os << "shape mismatch: got " << got.sizes() << ", expected " << expected.sizes();
    return ::testing::AssertionFailure() << os.str();
  }
  auto ne = got.to(torch::kCPU, torch::kInt64).ne(expected.to(torch::kCPU, torch::kInt64));
  const int64_t n = ne.sum().item<int64_t>();
  if (n == 0) return ::testing::AssertionSuccess();
  std::ostringstream os;
  os << n << " of " << got.numel() << " values differ; got " << got.reshape({-1}).slice(0, 0, 32) << " expected "
     << expected.reshape({-1}).slice(0, 0, 32);
  return ::testing::AssertionFailure() << os.str();
}

::testing::AssertionResult uint8_close(const torch::Tensor& got, const torch::Tensor& expected, int max_abs,
                                       double max_fraction) {
  if (got.sizes() != expected.sizes()) {
    std::ostringstream os;
    os << "shape mismatch: got " << got.sizes() << ", expected " << expected.sizes();
    return ::testing::AssertionFailure() << os.str();
  }
  auto diff = (got.to(torch::kCPU, torch::kInt32) - expected.to(torch::kCPU, torch::kInt32)).abs();
  const int worst = diff.numel() ? diff.max().item<int>() : 0;
  const double fraction = diff.numel() ? diff.gt(0).sum().item<double>() / static_cast<double>(diff.numel()) : 0.0;
  std::ostringstream os;
  os << "max |d| = " << worst << " (allowed " << max_abs << "), " << fraction * 100 << "% differ (allowed "
     << max_fraction * 100 << "%)";
  if (worst > max_abs || fraction > max_fraction) return ::testing::AssertionFailure() << os.str();
  return ::testing::AssertionSuccess() << os.str();
}

::testing::AssertionResult matches_golden(const torch::Tensor& got, const std::string& file, const std::string& tensor) {
  auto expected = load_case_tensor(file, tensor);
  const auto& entry = tolerance_entry(file, tensor);
  const std::string compare = entry.is_object() ? entry.value("compare", std::string("allclose")) : std::string();
  if (compare == "uint8") {
    return uint8_close(got, expected, entry.at("max_abs").get<int>(), entry.at("max_fraction_differing").get<double>());
  }
  if (compare == "exact" || expected.scalar_type() == torch::kInt64 || expected.scalar_type() == torch::kUInt8) {
    if (expected.is_floating_point()) return all_close(got, expected, 0.0);  // integers or constants held as floats
    return all_equal(got, expected);
  }
  return all_close(got, expected, tolerance(file, tensor));
}

}  // namespace t2v::test
