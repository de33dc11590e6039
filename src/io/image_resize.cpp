// Reference: Pillow src/libImaging/Resample.c (precompute_coeffs, normalize_coeffs_8bpc,
// ImagingResampleHorizontal_8bpc / Vertical_8bpc, ImagingResampleInner), as W22
// wan/textimage2video.py calls it through Image.resize(..., Image.LANCZOS).
#include "t2v/io/image_resize.h"

#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "t2v/error.h"

namespace t2v::io {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;
constexpr double kLanczosSupport = 3.0;

double sinc(double x) {
  if (x == 0.0) return 1.0;
  x *= M_PI;
  return std::sin(x) / x;
}

double lanczos(double x) { return (-3.0 <= x && x < 3.0) ? sinc(x) * sinc(x / 3.0) : 0.0; }

struct Coeffs {
  int64_t ksize = 0;
  std::vector<int64_t> bounds;  // per output: first input index, count
  std::vector<int32_t> k;       // per output: ksize fixed-point weights
};

Coeffs precompute(int64_t in_size, int64_t out_size) {
  Coeffs c;
  const double scale = static_cast<double>(static_cast<float>(in_size)) / static_cast<double>(out_size);
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = kLanczosSupport * filterscale;
  c.ksize = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  c.bounds.resize(2 * out_size);
  c.k.assign(out_size * c.ksize, 0);
  std::vector<double> w(c.ksize);
  for (int64_t xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int64_t xmin = static_cast<int64_t>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int64_t xmax = static_cast<int64_t>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int64_t x = 0; x < xmax; ++x) {
      w[x] = lanczos((x + xmin - center + 0.5) * ss);
      ww += w[x];
    }
    for (int64_t x = 0; x < xmax; ++x) {
      const double v = ww != 0.0 ? w[x] / ww : w[x];
      c.k[xx * c.ksize + x] = static_cast<int32_t>(v < 0 ? -0.5 + v * (1 << kPrecisionBits) : 0.5 + v * (1 << kPrecisionBits));
    }
    c.bounds[2 * xx] = xmin;
    c.bounds[2 * xx + 1] = xmax;
  }
  return c;
}

uint8_t clip8(int64_t v) {
  if (v >= (int64_t{1} << kPrecisionBits << 8)) return 255;
  if (v <= 0) return 0;
  return static_cast<uint8_t>(v >> kPrecisionBits);
}

// One separable pass along `axis` (1 = rows of H, 2 = columns of W) of an [H, W, 3] uint8 image.
torch::Tensor pass(const torch::Tensor& in, int64_t out_size, int axis) {
  const int64_t h = in.size(0), w = in.size(1);
  const int64_t in_size = axis == 2 ? w : h;
  const Coeffs c = precompute(in_size, out_size);
  auto out = torch::empty({axis == 1 ? out_size : h, axis == 2 ? out_size : w, 3}, torch::kUInt8);
  const uint8_t* src = in.data_ptr<uint8_t>();
  uint8_t* dst = out.data_ptr<uint8_t>();
  const int64_t ow = out.size(1);
  for (int64_t o = 0; o < out_size; ++o) {
    const int64_t xmin = c.bounds[2 * o], n = c.bounds[2 * o + 1];
    const int32_t* k = &c.k[o * c.ksize];
    const int64_t lines = axis == 2 ? h : w;  // the other axis
    for (int64_t l = 0; l < lines; ++l) {
      for (int ch = 0; ch < 3; ++ch) {
        int64_t ss = int64_t{1} << (kPrecisionBits - 1);
        for (int64_t x = 0; x < n; ++x) {
          const int64_t i = xmin + x;
          const uint8_t v = axis == 2 ? src[(l * w + i) * 3 + ch] : src[(i * w + l) * 3 + ch];
          ss += static_cast<int64_t>(v) * k[x];
        }
        const uint8_t r = clip8(ss);
        if (axis == 2) dst[(l * ow + o) * 3 + ch] = r;
        else dst[(o * ow + l) * 3 + ch] = r;
      }
    }
  }
  return out;
}

}  // namespace

torch::Tensor resize_lanczos_pil(const torch::Tensor& frames, int64_t width, int64_t height) {
  if (frames.dim() != 4 || frames.size(3) != 3 || frames.scalar_type() != torch::kUInt8 || width < 1 || height < 1) {
    throw Error("resize_lanczos_pil: expected uint8 [n, H, W, 3] frames and a positive size");
  }
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < frames.size(0); ++i) {
    auto f = frames[i].contiguous();
    // ImagingResampleInner: a pass only where the size changes; horizontal first.
    if (f.size(1) != width) f = pass(f, width, 2);
    if (f.size(0) != height) f = pass(f, height, 1);
    out.push_back(f);
  }
  return torch::stack(out);  // [n, height, width, 3]
}

}  // namespace t2v::io
