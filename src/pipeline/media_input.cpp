// Condition inputs: decoding (libavformat, through io::read_video), hashing, frame-rate resampling
// and fitting to the output size.
#include <torch/torch.h>

extern "C" {
#include <libavutil/mem.h>
#include <libavutil/sha.h>
}

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>

#include "t2v/error.h"
#include "t2v/io/image_resize.h"
#include "t2v/pipeline/conditions.h"

namespace t2v::pipeline {
namespace fs = std::filesystem;

namespace {

std::string sha256_of_file(const fs::path& path, const std::string& field) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(field + ": cannot read " + path.string());
  std::unique_ptr<AVSHA, void (*)(void*)> sha(av_sha_alloc(), av_free);
  if (!sha || av_sha_init(sha.get(), 256) < 0) throw Error("cannot initialise SHA-256");
  std::unique_ptr<char[]> buf(new char[1 << 16]);  // not zero-filled: read() overwrites it
  while (in) {
    in.read(buf.get(), 1 << 16);
    if (in.gcount() > 0) av_sha_update(sha.get(), reinterpret_cast<const uint8_t*>(buf.get()), in.gcount());
  }
  uint8_t digest[32];
  av_sha_final(sha.get(), digest);
  std::string hex;
  char b[3];
  for (uint8_t d : digest) {
    std::snprintf(b, sizeof b, "%02x", d);
    hex += b;
  }
  return hex;
}

}  // namespace

MediaInput load_media(const fs::path& path, const std::string& field, io::Rational fps, uint64_t max_bytes) {
  if (!fs::exists(path)) throw InputError(field + ": " + path.string() + ": no such file");
  if (!fs::is_regular_file(path)) throw InputError(field + ": " + path.string() + ": not a regular file");
  MediaInput m;
  m.path = path;
  m.field = field;
  m.sha256 = sha256_of_file(path, field);
  io::DecodedVideo v;
  try {
    v = io::read_video(path, max_bytes);
  } catch (const Error& e) {
    // read_video's messages start with the path; add the field and say what was expected.
    throw InputError(field + ": " + e.what() + " (expected an image: PNG, JPEG, WebP; or a video: MP4, WebM, MKV, MOV)");
  }
  const int64_t n = v.frames.size(0);
  if (n < 1) throw InputError(field + ": " + path.string() + ": the video has no frames");
  // Inputs the 8-bit RGB conversion would change without telling: refused, with what to do.
  const std::string what = field + ": " + path.string();
  if (v.cmyk) {
    throw InputError(what + ": a CMYK JPEG (FFmpeg decodes its K channel as alpha); t2v reads RGB images: convert it "
                     "to RGB first (e.g. an sRGB PNG or JPEG)");
  }
  if (n == 1 && v.bits_per_component > 8) {
    throw InputError(what + ": " + std::to_string(v.bits_per_component) + " bits per channel (" + v.pixel_format +
                     "); t2v reads 8-bit images: convert it to 8 bits per channel first");
  }
  if (v.transparent) {
    throw InputError(what + ": has transparent pixels (" + v.pixel_format + "); t2v does not guess a background: "
                     "flatten it onto one first (an alpha channel that is fully opaque is fine)");
  }
  constexpr int64_t kMinSide = 16;  // one latent cell of every Wan model (VAE stride 8 x patch 2)
  if (v.frames.size(1) < kMinSide || v.frames.size(2) < kMinSide) {
    throw InputError(what + ": " + std::to_string(v.frames.size(2)) + "x" + std::to_string(v.frames.size(1)) +
                     " pixels is too small to condition a video (at least " + std::to_string(kMinSide) + "x" +
                     std::to_string(kMinSide) + ")");
  }
  m.source_fps = v.fps;
  m.source_frames = static_cast<int>(n);
  m.is_image = n == 1;
  if (m.is_image || (static_cast<int64_t>(v.fps.num) * fps.den == static_cast<int64_t>(fps.num) * v.fps.den)) {
    m.frames = v.frames;
    return m;
  }
  // Nearest earlier source frame for each output frame time i / fps: index floor(i * src / out).
  const double ratio = v.fps.value() / fps.value();
  const int64_t out_n = static_cast<int64_t>(std::floor((n - 1) / ratio + 1e-9)) + 1;
  std::vector<int64_t> idx(out_n);
  for (int64_t i = 0; i < out_n; ++i) idx[i] = std::min<int64_t>(n - 1, static_cast<int64_t>(std::floor(i * ratio + 1e-9)));
  m.frames = v.frames.index_select(0, torch::tensor(idx, torch::kInt64)).contiguous();  // [out_n, H, W, 3]
  return m;
}

namespace {

// The scaled size before the crop or pad of `fit`.
std::pair<int64_t, int64_t> scaled_size(int64_t w, int64_t h, int width, int height, Fit fit, Resampler resampler) {
  if (fit == Fit::Stretch) return {width, height};
  const double sx = static_cast<double>(width) / w, sy = static_cast<double>(height) / h;
  const double s = fit == Fit::Crop ? std::max(sx, sy) : std::min(sx, sy);
  // Pillow's path mirrors W22 WanTI2V.i2v: Python round() (half to even) of the scaled size.
  int64_t rw = resampler == Resampler::LanczosPil ? static_cast<int64_t>(std::nearbyint(w * s)) : std::llround(w * s);
  int64_t rh = resampler == Resampler::LanczosPil ? static_cast<int64_t>(std::nearbyint(h * s)) : std::llround(h * s);
  if (fit == Fit::Crop) return {std::max<int64_t>(rw, width), std::max<int64_t>(rh, height)};
  return {std::clamp<int64_t>(rw, 1, width), std::clamp<int64_t>(rh, 1, height)};
}

// Places `scaled` [n, rh, rw, ...] (dims 1, 2 = rows, columns) into out[f0:f1]: centre crop or pad.
void place(torch::Tensor& out, int64_t f0, const torch::Tensor& scaled, Fit fit, int row_dim) {
  const int64_t height = out.size(row_dim), width = out.size(row_dim + 1);
  const int64_t rh = scaled.size(row_dim), rw = scaled.size(row_dim + 1);
  auto dst = out.slice(0, f0, f0 + scaled.size(0));
  if (fit == Fit::Pad) {
    const int64_t oy = (height - rh) / 2, ox = (width - rw) / 2;
    dst.slice(row_dim, oy, oy + rh).slice(row_dim + 1, ox, ox + rw).copy_(scaled);
  } else {
    const int64_t oy = (rh - height) / 2, ox = (rw - width) / 2;
    dst.copy_(scaled.slice(row_dim, oy, oy + height).slice(row_dim + 1, ox, ox + width));
  }
}

constexpr int64_t kChunk = 16;  // bounds the float copy of a long clip

}  // namespace

torch::Tensor to_unit_float(const torch::Tensor& frames) {
  return frames.permute({0, 3, 1, 2}).to(torch::kFloat32).div(255).sub(0.5).div(0.5);
}

torch::Tensor fit_frames_float(const torch::Tensor& frames, int width, int height, Fit fit) {
  namespace F = torch::nn::functional;
  const int64_t h = frames.size(1), w = frames.size(2);
  const auto [rw, rh] = scaled_size(w, h, width, height, fit, Resampler::BicubicFloat);
  auto out = torch::full({frames.size(0), 3, height, width}, -1.0f);  // pad bars: black
  for (int64_t f0 = 0; f0 < frames.size(0); f0 += kChunk) {
    const int64_t f1 = std::min<int64_t>(f0 + kChunk, frames.size(0));
    auto x = to_unit_float(frames.slice(0, f0, f1));  // [n, 3, h, w] in [-1, 1]
    if (rh != h || rw != w) {
      x = F::interpolate(x, F::InterpolateFuncOptions()
                                .size(std::vector<int64_t>{rh, rw})
                                .mode(torch::kBicubic)
                                .align_corners(false));  // [n, 3, rh, rw], not clamped
    }
    place(out, f0, x, fit, 2);
  }
  return out;
}

torch::Tensor fit_frames(const torch::Tensor& frames, int width, int height, Fit fit, Resampler resampler) {
  const int64_t h = frames.size(1), w = frames.size(2);
  if (h == height && w == width) return frames;
  if (resampler == Resampler::BicubicFloat) {
    auto x = fit_frames_float(frames, width, height, fit);  // [N, 3, H, W]
    return x.add(1).mul(127.5).round().clamp(0, 255).to(torch::kUInt8).permute({0, 2, 3, 1}).contiguous();
  }
  const auto [rw, rh] = scaled_size(w, h, width, height, fit, resampler);
  namespace F = torch::nn::functional;
  const bool shrink = rh < h || rw < w;
  auto out = fit == Fit::Pad ? torch::zeros({frames.size(0), height, width, 3}, torch::kUInt8)  // black bars
                             : torch::empty({frames.size(0), height, width, 3}, torch::kUInt8);
  for (int64_t f0 = 0; f0 < frames.size(0); f0 += kChunk) {
    const int64_t f1 = std::min<int64_t>(f0 + kChunk, frames.size(0));
    torch::Tensor u8;  // [n, rh, rw, 3]
    if (resampler == Resampler::LanczosPil) {
      u8 = io::resize_lanczos_pil(frames.slice(0, f0, f1), rw, rh);
    } else {
      auto x = frames.slice(0, f0, f1).permute({0, 3, 1, 2}).to(torch::kFloat32);  // [n, 3, h, w]
      x = F::interpolate(x, F::InterpolateFuncOptions()
                                .size(std::vector<int64_t>{rh, rw})
                                .mode(torch::kBicubic)
                                .align_corners(false)
                                .antialias(shrink));  // [n, 3, rh, rw]
      u8 = x.round().clamp(0, 255).to(torch::kUInt8).permute({0, 2, 3, 1});
    }
    place(out, f0, u8, fit, 1);
  }
  return out;
}

}  // namespace t2v::pipeline
