// Helpers for golden tests: open a fixture case, look up its tolerance in tolerances.json, and
// compare with a failure message that gives the max abs error, where it is, and the tolerance.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include "t2v/io/safetensors.h"

namespace t2v::test {

inline std::filesystem::path data_dir() { return T2V_TEST_DATA; }
inline std::filesystem::path golden_dir() { return data_dir() / "golden"; }
// A case file of the Wan2.1 T2V set ("dit_f3h8w12.safetensors"), or of another set named with its
// folder ("cases-wan22-a14b/t2v_w96h64f9.safetensors"); each folder has its own tolerances.json.
inline std::filesystem::path case_path(const std::string& file) {
  return file.find('/') == std::string::npos ? golden_dir() / "cases" / file : golden_dir() / file;
}
inline std::filesystem::path tiny_model_dir() { return golden_dir() / "wan21-tiny"; }
inline std::filesystem::path tiny_comfy_dir() { return golden_dir() / "wan21-tiny-comfy"; }

// A case's uint8 image [H, W, 3] written as a PNG (lossless), for runs that take an image file.
void write_png(const torch::Tensor& image_u8, const std::filesystem::path& path);
// The per-step intermediates of a full run: step{i}.{latent_in, noise_pred_cond, noise_pred_uncond,
// noise_pred, x0_pred, latent_out} for i < steps.
std::vector<std::string> step_tensor_names(int steps);

// Loads a tensor of a case file as a CPU tensor in its stored dtype (copy).
torch::Tensor load_case_tensor(const std::string& file, const std::string& name);
// The atol from tolerances.json for (file, tensor).
double tolerance(const std::string& file, const std::string& tensor, bool strict = false);

// |got - expected| <= atol elementwise, shapes equal. On failure: max error, its index, atol.
::testing::AssertionResult all_close(const torch::Tensor& got, const torch::Tensor& expected, double atol);
// int64 / uint8 tensors: exactly equal.
::testing::AssertionResult all_equal(const torch::Tensor& got, const torch::Tensor& expected);
// uint8 frames: |got - expected| <= max_abs everywhere and at most max_fraction of the values differ.
::testing::AssertionResult uint8_close(const torch::Tensor& got, const torch::Tensor& expected, int max_abs,
                                       double max_fraction);
// Compares with the fixture's own rule in tolerances.json: allclose (atol), exact, or uint8.
::testing::AssertionResult matches_golden(const torch::Tensor& got, const std::string& file,
                                          const std::string& tensor);

}  // namespace t2v::test
