// 3-D RoPE. Mirrors W21 wan/modules/model.py rope_params (float64 angle tables, torch.polar) and
// rope_apply (view_as_complex on interleaved pairs, complex128 product, `.float()`). Deliberate
// difference: angles are computed for the grid's positions only instead of a 1024-row table; the
// values are the same products position·ω in float64.
#include "rope.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

namespace t2v::wan {

std::array<int64_t, 3> rope_axis_dims(int64_t head_dim) {
  const int64_t hw = 2 * (head_dim / 6);
  return {head_dim - 2 * hw, hw, hw};
}

namespace {
// Angles position·ω_j for positions 0..n-1 of one axis with real dim d: [n, d/2] float64.
torch::Tensor axis_angles(int64_t n, int64_t d, double theta, const torch::TensorOptions& f64) {
  auto inv = 1.0 / torch::pow(theta, torch::arange(0, d, 2, f64).div(d));  // [d/2]
  return torch::outer(torch::arange(n, f64), inv);                         // [n, d/2]
}
}  // namespace

RopeTable make_rope_table(const std::array<int64_t, 3>& grid, int64_t head_dim, const torch::Device& device,
                          double theta) {
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  const auto dims = rope_axis_dims(head_dim);
  const int64_t f = grid[0], h = grid[1], w = grid[2];
  auto af = axis_angles(f, dims[0], theta, f64).view({f, 1, 1, -1}).expand({f, h, w, -1});
  auto ah = axis_angles(h, dims[1], theta, f64).view({1, h, 1, -1}).expand({f, h, w, -1});
  auto aw = axis_angles(w, dims[2], theta, f64).view({1, 1, w, -1}).expand({f, h, w, -1});
  auto angles = torch::cat({af, ah, aw}, -1).reshape({f * h * w, 1, head_dim / 2});  // [L, 1, D/2]
  RopeTable table;
  table.grid = grid;
  table.cos = angles.cos().to(device);
  table.sin = angles.sin().to(device);
  return table;
}

namespace {
// The same float64 products as the tensor form below, in one pass over x instead of about ten (upcast,
// four products, two sums, stack, downcast): per element re·c − im·s and re·s + im·c in double, then
// rounded to float. Baseline x86-64 code has no FMA, so each product is rounded as in the tensor form.
torch::Tensor apply_rope_cpu_fp32(const torch::Tensor& x_in, const RopeTable& table) {
  const auto x = x_in.contiguous();
  const int64_t batch = x.size(0), len = x.size(1), heads = x.size(2), half = x.size(3) / 2;
  auto out = torch::empty_like(x);
  const auto cos = table.cos.contiguous(), sin = table.sin.contiguous();  // [L, 1, D/2]
  const float* xp = x.data_ptr<float>();
  float* op = out.data_ptr<float>();
  const double* cp = cos.data_ptr<double>();
  const double* sp = sin.data_ptr<double>();
  at::parallel_for(0, batch * len, 16, [&](int64_t begin, int64_t end) {
    for (int64_t bl = begin; bl < end; ++bl) {
      const double* c = cp + (bl % len) * half;
      const double* s = sp + (bl % len) * half;
      for (int64_t h = 0; h < heads; ++h) {
        const float* xi = xp + (bl * heads + h) * 2 * half;
        float* oi = op + (bl * heads + h) * 2 * half;
        for (int64_t j = 0; j < half; ++j) {
          const double re = xi[2 * j], im = xi[2 * j + 1];
          const double rc = re * c[j], is = im * s[j], rs = re * s[j], ic = im * c[j];
          oi[2 * j] = static_cast<float>(rc - is);
          oi[2 * j + 1] = static_cast<float>(rs + ic);
        }
      }
    }
  });
  return out;
}
}  // namespace

torch::Tensor apply_rope(const torch::Tensor& x, const RopeTable& table) {
  const int64_t batch = x.size(0), len = x.size(1), heads = x.size(2), head_dim = x.size(3);
  TORCH_CHECK(table.cos.size(0) == len && table.cos.size(2) * 2 == head_dim, "RoPE table ", table.cos.sizes(),
              " does not fit x ", x.sizes());
  if (x.device().is_cpu() && table.cos.device().is_cpu() && x.scalar_type() == torch::kFloat &&
      table.cos.scalar_type() == torch::kFloat64 && !(x.requires_grad() && torch::GradMode::is_enabled())) {
    return apply_rope_cpu_fp32(x, table);
  }
  auto out = torch::empty({batch, len, heads, head_dim}, x.options().dtype(torch::kFloat));
  // Token chunks bound the float64 temporaries (a 14B model at 720p has 75600 tokens × 5120 dims).
  const int64_t chunk = std::max<int64_t>(1, (int64_t{1} << 22) / std::max<int64_t>(1, batch * heads * head_dim));
  for (int64_t start = 0; start < len; start += chunk) {
    const int64_t n = std::min(chunk, len - start);
    auto xs = x.narrow(1, start, n).to(torch::kFloat64).reshape({batch, n, heads, head_dim / 2, 2});
    auto re = xs.select(-1, 0), im = xs.select(-1, 1);  // [B, n, H, D/2]
    auto c = table.cos.narrow(0, start, n), s = table.sin.narrow(0, start, n);  // [n, 1, D/2]
    // (re + i·im)(cos + i·sin), as the reference's complex128 product.
    auto rot = torch::stack({re * c - im * s, re * s + im * c}, -1);  // [B, n, H, D/2, 2]
    out.narrow(1, start, n).copy_(rot.view({batch, n, heads, head_dim}));
  }
  return out;
}

std::shared_ptr<const RopeTable> RopeCache::get(const std::array<int64_t, 3>& grid, const torch::Device& device) {
  const Key key{grid[0], grid[1], grid[2], static_cast<int>(device.type()), static_cast<int>(device.index())};
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = tables_.find(key);
  if (it != tables_.end()) return it->second;
  // A handful of grids at most in practice; bound the cache anyway.
  if (tables_.size() >= 8) tables_.clear();
  auto table = std::make_shared<const RopeTable>(make_rope_table(grid, head_dim_, device));
  tables_.emplace(key, table);
  return table;
}

}  // namespace t2v::wan
