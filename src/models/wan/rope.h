// 3-D rotary position embedding of the Wan DiT. Mirrors W21 wan/modules/model.py rope_params /
// rope_apply (diffusers WanRotaryPosEmbed computes the same angles).
#pragma once

#include <torch/types.h>

#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

namespace t2v::wan {

// Real dims given to the frame / height / width axes: d_f = hd − 4·(hd//6), d_h = d_w = 2·(hd//6)
// (the reference splits hd/2 complex pairs as [c − 2·(c//3), c//3, c//3]).
std::array<int64_t, 3> rope_axis_dims(int64_t head_dim);

// cos / sin of every token's angles for one post-patch grid (f, h, w), tokens in (f, h, w) order.
struct RopeTable {
  std::array<int64_t, 3> grid{};
  torch::Tensor cos;  // [L, 1, head_dim/2] float64
  torch::Tensor sin;  // [L, 1, head_dim/2] float64
};

// Built in float64 like the reference: axis ladder 1/theta^(2j/d_axis), angle = position · ω.
RopeTable make_rope_table(const std::array<int64_t, 3>& grid, int64_t head_dim, const torch::Device& device,
                          double theta = 10000.0);

// Rotates interleaved pairs (x[2j], x[2j+1]) of x [B, L, H, D] by the table's angles, in float64
// (x is upcast as the reference does), returning float32 [B, L, H, D].
torch::Tensor apply_rope(const torch::Tensor& x, const RopeTable& table);

// Tables per (grid, device), built once: a sampling run uses one grid for every step and block.
class RopeCache {
 public:
  explicit RopeCache(int64_t head_dim) : head_dim_(head_dim) {}
  std::shared_ptr<const RopeTable> get(const std::array<int64_t, 3>& grid, const torch::Device& device);

 private:
  using Key = std::tuple<int64_t, int64_t, int64_t, int, int>;  // f, h, w, device type, index
  int64_t head_dim_;
  std::mutex mutex_;
  std::map<Key, std::shared_ptr<const RopeTable>> tables_;
};

}  // namespace t2v::wan
