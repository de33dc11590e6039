// Image resampling as the official Wan code's preprocessing does it: Pillow's Image.resize with
// LANCZOS (Pillow src/libImaging/Resample.c: separable, horizontal pass then vertical, support 3
// scaled by the downscale factor, coefficients in 22-bit fixed point, each pass rounded and
// clipped to uint8), bit-exact on uint8 RGB.
#pragma once

#include <torch/types.h>

namespace t2v::io {

// frames uint8 [n, H, W, 3] -> uint8 [n, height, width, 3].
torch::Tensor resize_lanczos_pil(const torch::Tensor& frames, int64_t width, int64_t height);

}  // namespace t2v::io
