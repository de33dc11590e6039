#include "train_demo_common.h"

#include <cmath>
#include <stdexcept>

#include "t2v/error.h"
#include "t2v/io/safetensors.h"
#include "t2v/io/state_dict_loader.h"
#include "t2v/io/tensor_store.h"

namespace t2v::demo_train {

namespace {
bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}
}  // namespace

void init_for_training(torch::nn::Module& module, double embedding_std) {
  torch::NoGradGuard no_grad;
  for (auto& item : module.named_parameters(/*recurse=*/true)) {
    const std::string& name = item.key();
    torch::Tensor p = item.value();
    if (ends_with(name, "bias")) {
      p.zero_();
    } else if (ends_with(name, "gamma") || name.find("norm") != std::string::npos) {
      p.fill_(1.0);  // RMSNorm / LayerNorm gains (VAE `gamma`, DiT norm_q/norm_k/norm2)
    } else if (ends_with(name, "scale_shift_table")) {
      // Wan: nn.Parameter(torch.randn(1, n, dim) / dim**0.5).
      p.normal_(0.0, 1.0 / std::sqrt(static_cast<double>(p.size(-1))));
    } else if (ends_with(name, "attentions.0.proj.weight") || ends_with(name, "conv2.weight") ||
               name == "proj_out.weight") {
      // Zero: the VAE attention's output projection (W21 vae.py AttentionBlock zeroes it), the
      // second conv of every VAE residual branch (each block starts as its shortcut, so signal and
      // gradient pass the whole depth from step 0), and the DiT head (W21 model.py init_weights).
      p.zero_();
    } else if (ends_with(name, "time_conv.weight")) {
      // Temporal resampling starts as "copy the current frame": W21 vae.py Resample.init_weight
      // (downsample: identity on the middle tap) / init_weight2 (upsample to 2x channels:
      // identity on the last tap for both halves).
      p.zero_();
      const int64_t out = p.size(0), in = p.size(1);
      auto eye = torch::eye(in, p.options());
      if (out == 2 * in) {
        p.select(2, 2).select(2, 0).select(2, 0).narrow(0, 0, in).copy_(eye);
        p.select(2, 2).select(2, 0).select(2, 0).narrow(0, in, in).copy_(eye);
      } else {
        p.select(2, 1).select(2, 0).select(2, 0).copy_(eye);
      }
    } else if (p.dim() >= 3) {
      // Conv: PyTorch's default kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
      const double fan_in = static_cast<double>(p[0].numel());
      const double bound = 1.0 / std::sqrt(fan_in);
      p.uniform_(-bound, bound);
    } else if (p.dim() == 2 && embedding_std > 0 && name.find("condition_embedder.") == 0) {
      p.normal_(0.0, embedding_std);
    } else if (p.dim() == 2) {
      // Every linear, by default the time and text embedding MLPs too. W21 init_weights draws those two
      // from N(0, 0.02), about 1/sqrt(fan_in) at Wan's widths (text_dim 4096); at the demo's
      // text_dim 32 it shrank the caption's signal ~40x and the DiT learned to ignore the caption
      // where only the caption can tell (its sigma-1 predictions were the same for every prompt).
      torch::nn::init::xavier_uniform_(p);
    } else {
      p.normal_(0.0, 0.02);
    }
  }
  for (auto& p : module.parameters(/*recurse=*/true)) p.set_requires_grad(true);
}

int64_t parameter_count(torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  return n;
}

void save_module(torch::nn::Module& module, const std::filesystem::path& path) {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    tensors.emplace_back(item.key(), item.value().detach().to(torch::kCPU, torch::kFloat32).contiguous());
  }
  std::filesystem::create_directories(path.parent_path());
  io::save_safetensors(path, tensors, {{"format", "pt"}});
}

void copy_parameters(torch::nn::Module& from, torch::nn::Module& to) {
  torch::NoGradGuard no_grad;
  auto src = from.named_parameters(true);
  auto dst = to.named_parameters(true);
  if (src.size() != dst.size()) throw std::runtime_error("copy_parameters: parameter counts differ");
  for (auto& item : dst) {
    const torch::Tensor* s = src.find(item.key());
    if (!s || s->sizes() != item.value().sizes()) {
      throw std::runtime_error("copy_parameters: no matching parameter for " + item.key());
    }
    item.value().copy_(*s);
    item.value().requires_grad_(true);
  }
}

void load_module(torch::nn::Module& module, const std::filesystem::path& path) {
  io::LoadOptions options;
  options.what = path.string();
  io::load_state_dict(module, io::TensorStore::open(path), options);
}

nlohmann::json vae_config_json(const wan::WanVAEConfig& c) {
  return {{"_class_name", "AutoencoderKLWan"},
          {"_diffusers_version", "0.33.0.dev0"},
          {"attn_scales", nlohmann::json::array()},
          {"base_dim", c.base_dim},
          {"decoder_base_dim", nullptr},
          {"dim_mult", c.dim_mult},
          {"dropout", 0.0},
          {"in_channels", c.in_channels},
          {"is_residual", false},
          {"latents_mean", c.latents_mean},
          {"latents_std", c.latents_std},
          {"num_res_blocks", c.num_res_blocks},
          {"out_channels", c.out_channels},
          {"patch_size", nullptr},
          {"scale_factor_spatial", c.scale_factor_spatial},
          {"scale_factor_temporal", c.scale_factor_temporal},
          {"temperal_downsample", c.temperal_downsample},
          {"z_dim", c.z_dim}};
}

nlohmann::json transformer_config_json(const wan::WanTransformerConfig& c) {
  return {{"_class_name", "WanTransformer3DModel"},
          {"_diffusers_version", "0.33.0.dev0"},
          {"added_kv_proj_dim", nullptr},
          {"attention_head_dim", c.head_dim},
          {"cross_attn_norm", c.cross_attn_norm},
          {"eps", c.eps},
          {"ffn_dim", c.ffn_dim},
          {"freq_dim", c.freq_dim},
          {"image_dim", nullptr},
          {"in_channels", c.in_channels},
          {"num_attention_heads", c.num_heads},
          {"num_layers", c.num_layers},
          {"out_channels", c.out_channels},
          {"patch_size", c.patch_size},
          {"pos_embed_seq_len", nullptr},
          {"qk_norm", "rms_norm_across_heads"},
          {"rope_max_seq_len", c.rope_max_seq_len},
          {"text_dim", c.text_dim}};
}

void write_json(const std::filesystem::path& path, const nlohmann::json& j) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path);
  if (!out) throw InputError("cannot write " + path.string());
  out << j.dump(2) << "\n";
}

LossLog::LossLog(const std::filesystem::path& path) : path_(path) {
  const bool fresh = !std::filesystem::exists(path);
  std::filesystem::create_directories(path.parent_path());
  out_.open(path, std::ios::app);
  if (!out_) throw InputError("cannot write the loss log " + path.string());
  if (fresh) out_ << "stage,step,loss,lr,seconds\n";
}

void LossLog::prune(const std::string& stage, int64_t from_step) {
  out_.close();
  std::vector<std::string> kept;
  {
    std::ifstream in(path_);
    std::string line;
    while (std::getline(in, line)) {
      const auto c1 = line.find(','), c2 = line.find(',', c1 + 1);
      const bool drop = c1 != std::string::npos && c2 != std::string::npos && line.substr(0, c1) == stage &&
                        std::stoll(line.substr(c1 + 1, c2 - c1 - 1)) >= from_step;
      if (!drop) kept.push_back(line);
    }
  }
  std::ofstream rewrite(path_, std::ios::trunc);
  for (const auto& l : kept) rewrite << l << "\n";
  rewrite.close();
  out_.open(path_, std::ios::app);
  if (!out_) throw InputError("cannot write the loss log " + path_.string());
}

void LossLog::add(const std::string& stage, int64_t step, double loss, double lr, double seconds) {
  out_ << stage << "," << step << "," << loss << "," << lr << "," << seconds << "\n";
  out_.flush();
}

double lr_at(int64_t step, int64_t total, int64_t warmup, double peak) {
  if (step < warmup) return peak * static_cast<double>(step + 1) / static_cast<double>(warmup);
  const double progress = static_cast<double>(step - warmup) / static_cast<double>(std::max<int64_t>(1, total - warmup));
  return peak * (0.1 + 0.9 * 0.5 * (1.0 + std::cos(M_PI * std::min(1.0, progress))));
}

double clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm) {
  double total = 0;
  for (const auto& p : params) {
    if (p.grad().defined()) total += p.grad().pow(2).sum().item<double>();
  }
  total = std::sqrt(total);
  if (total > max_norm && total > 0) {
    const double scale = max_norm / total;
    for (const auto& p : params) {
      if (p.grad().defined()) p.grad().mul_(scale);
    }
  }
  return total;
}

}  // namespace t2v::demo_train
