// Stage 1 (VAE autoencoder) and stage 2 (DiT flow matching) of tools/train_demo.cpp.
#include "train_demo_stages.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <iomanip>
#include <iostream>

#include "t2v/error.h"
#include "t2v/io/json_file.h"
#include "t2v/io/tensor_store.h"
#include "t2v/io/video_writer.h"
#include "t2v/models/wan/model_source.h"
#include "t2v/models/wan/transformer.h"
#include "t2v/models/wan/vae.h"
#include "t2v/models/wan/family.h"
#include "t2v/sampling/sigmas.h"
#include "t2v/text/text_encoder.h"

namespace t2v::demo_train {
namespace fs = std::filesystem;

namespace {

// Seeds of the independent streams derived from --seed.
uint64_t stream_seed(uint64_t seed, uint64_t stream) { return seed * 0x9E3779B97F4A7C15ull + stream; }

// A CPU generator for one training step: every random draw of step n depends only on (seed, n),
// so a resumed run (--resume) continues exactly as the uninterrupted one would have.
at::Generator step_generator(uint64_t stream, int64_t step) {
  return at::detail::createCPUGenerator(stream_seed(stream, static_cast<uint64_t>(step)));
}

// SD3's logit-normal noise level: sigmoid of a standard normal (Box-Muller on our own uniforms).
// Not Rng::normal(), which takes log(1 - u) where this takes log(u): the committed DiT's noise
// levels were drawn with this one, and scripts/train_demo.sh must keep regenerating it.
double logit_normal(demo::Rng& rng) {
  const double u1 = std::max(rng.uniform(), 1e-12), u2 = rng.uniform();
  const double z = std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
  return 1 / (1 + std::exp(-z));
}

// Optimiser state and next step of a stage, beside the model folder (not shipped with it):
// <output>.train-state/<stage>.optim.pt and <stage>.json.
fs::path state_dir(const TrainArgs& a) { return fs::path(a.output + ".train-state"); }

void save_state(const TrainArgs& a, const std::string& stage, torch::optim::Optimizer& opt, int64_t next_step) {
  fs::create_directories(state_dir(a));
  const fs::path pt = state_dir(a) / (stage + ".optim.pt");
  torch::save(opt, pt.string() + ".tmp");
  fs::rename(pt.string() + ".tmp", pt);
  write_json(state_dir(a) / (stage + ".json"), {{"next_step", next_step}});
}

// Loads the optimiser state; returns the step to continue from.
int64_t load_state(const TrainArgs& a, const std::string& stage, torch::optim::Optimizer& opt) {
  const fs::path js = state_dir(a) / (stage + ".json"), pt = state_dir(a) / (stage + ".optim.pt");
  if (!fs::exists(js) || !fs::exists(pt)) {
    throw InputError("--resume: no saved " + stage + " state in " + state_dir(a).string() +
                     " (it is written every --save-every steps)");
  }
  torch::load(opt, pt.string(), torch::Device(a.device));  // a state saved on another device loads too
  return io::json_get<int64_t>(io::read_json_file(js), "next_step", 0, js.string());
}

void set_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& group : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
}

// Running summary of a stage's loss curve.
struct Curve {
  double first = -1, last_window = 0, seconds = 0;
  int64_t steps = 0, window = 0;
  void add(double loss, double s, int64_t total) {
    if (steps == 0) first = loss;
    ++steps;
    seconds += s;
    // Mean over the last 10% of the steps (a single step's loss is noisy).
    if (steps > total - std::max<int64_t>(1, total / 10)) last_window += loss, ++window;
  }
  nlohmann::json json() const {
    return {{"steps", steps}, {"first_loss", first}, {"final_loss_mean_last_10pct", window ? last_window / window : 0.0},
            {"seconds_per_step", steps ? seconds / static_cast<double>(steps) : 0.0}};
  }
};

// After each optimiser step: curve, CSV row, console line every --log-every steps; true when the
// step ends a --save-every period (write weights + optimiser state).
bool record_step(const TrainArgs& a, const std::string& stage, int64_t step, int64_t total, double loss, double lr,
                 double secs, Curve& curve, LossLog& log) {
  curve.add(loss, secs, total);
  log.add(stage, step, loss, lr, secs);
  if (step % a.log_every == 0 || step + 1 == total) {
    std::cout << "[" << stage << "] step " << step << " loss " << std::setprecision(5) << loss << " lr " << lr << " "
              << std::setprecision(3) << secs << " s/step" << std::endl;
  }
  return a.save_every > 0 && (step + 1) % a.save_every == 0;
}

wan::WanVAEConfig demo_vae_config(const TrainArgs& a) {
  wan::WanVAEConfig c;
  c.base_dim = a.vae_base_dim;
  c.num_res_blocks = a.vae_res_blocks;
  c.latents_mean.assign(16, 0.0f);  // identity normalisation while training; statistics afterwards
  c.latents_std.assign(16, 1.0f);
  return c;
}

// The VAE saved by stage 1 (config with latent statistics + weights), parameters frozen.
wan::WanVAE load_demo_vae(const fs::path& dir, const torch::Device& device = torch::kCPU) {
  const auto cfg = wan::WanVAEConfig::from_diffusers_json(io::read_json_file(dir / "config.json"),
                                                          (dir / "config.json").string());
  auto vae = wan::make_wan_vae(cfg, device);
  load_module(*vae, dir / "diffusion_pytorch_model.safetensors");
  return vae;
}

}  // namespace

// ------------------------------------------------------------------------------------ VAE

nlohmann::json train_vae(const TrainArgs& a, LossLog& log) {
  const fs::path dir = fs::path(a.output) / "vae";
  // A fine-tuning phase logs and checkpoints under its own name (the earlier phases' loss rows stay).
  const std::string stage = a.vae_finetune ? "vae-finetune" : "vae";
  const auto combos = demo::train_combinations();
  demo::WorldOptions clip_options = a.vae_world();
  clip_options.frames = a.vae_frames;

  const torch::Device device(a.device);
  torch::manual_seed(stream_seed(a.seed, 1));  // initialisation, on the CPU whatever the device
  auto vae = wan::make_wan_vae(demo_vae_config(a), torch::kCPU);
  init_for_training(*vae);
  if (!device.is_cpu()) {
    auto moved = wan::make_wan_vae(demo_vae_config(a), device);
    copy_parameters(*vae, *moved);
    vae = moved;
  }
  const int64_t params = parameter_count(*vae);
  std::cout << "[vae] base_dim " << a.vae_base_dim << ", res blocks " << a.vae_res_blocks << ", "
            << params / 1e6 << " M parameters, " << a.vae_steps << " steps x " << a.vae_batch << " clips of "
            << a.vae_frames << " frames" << std::endl;

  auto parameters = vae->parameters();
  torch::optim::AdamW opt(parameters, torch::optim::AdamWOptions(a.vae_lr).betas({0.9, 0.99}).weight_decay(0.0));
  int64_t first_step = 0;
  if (a.resume) {
    load_module(*vae, dir / "diffusion_pytorch_model.safetensors");
    first_step = load_state(a, stage, opt);
    std::cout << "[vae] resuming at step " << first_step << std::endl;
  } else if (a.vae_finetune) {
    // Weights of the VAE already in the output folder, a fresh optimiser and schedule.
    load_module(*vae, dir / "diffusion_pytorch_model.safetensors");
    std::cout << "[vae] fine-tuning the VAE in " << dir.string() << std::endl;
  }
  log.prune(stage, first_step);
  const wan::VAEDecodeOptions no_clamp{0, 0, /*clamp=*/false};  // clamp_ would cut the gradient
  auto save = [&](const wan::WanVAEConfig& cfg) {
    write_json(dir / "config.json", vae_config_json(cfg));
    save_module(*vae, dir / "diffusion_pytorch_model.safetensors");
  };
  Curve curve;
  demo::Rng crop_rng(0);  // reseeded per step
  // The VAE is convolutional except the per-frame middle attention: crops keep the objects' scale
  // and cost a quarter of the compute at half the side. They are placed around the object's
  // mid-clip position (+-1/4 crop) half of the time: the object is what is hard to learn.
  const auto crop = [&](const demo::Clip& clip) {  // [3, F, H, W] -> [3, F, c, c]
    const auto& v = clip.video;
    if (a.vae_crop <= 0) return v;
    const double mid = static_cast<double>(v.size(1) - 1) / 2;
    const auto place = [&](double centre, int64_t side) {
      const double jitter = crop_rng.uniform(-0.25, 0.25) * static_cast<double>(a.vae_crop);
      const auto at = static_cast<int64_t>(std::lround(centre + jitter - static_cast<double>(a.vae_crop) / 2));
      return std::clamp<int64_t>(at, 0, side - a.vae_crop);
    };
    if (crop_rng.uniform() < 0.5) {  // half of the crops anywhere: edges and empty background too
      const int64_t y = crop_rng.below(v.size(2) - a.vae_crop + 1), x = crop_rng.below(v.size(3) - a.vae_crop + 1);
      return v.narrow(2, y, a.vae_crop).narrow(3, x, a.vae_crop).contiguous();
    }
    const int64_t y = place(clip.motion.y0 + clip.motion.dy * mid, v.size(2));
    const int64_t x = place(clip.motion.x0 + clip.motion.dx * mid, v.size(3));
    return v.narrow(2, y, a.vae_crop).narrow(3, x, a.vae_crop).contiguous();
  };
  // Object pixels (far from the clip's background colour) weigh 1 + vae_object_weight in the loss.
  const auto weights = [&](const torch::Tensor& video, const std::vector<int>& backgrounds) {  // -> [B, 1, F, H, W]
    std::vector<torch::Tensor> w;
    for (size_t b = 0; b < backgrounds.size(); ++b) {
      const auto& rgb = demo::palette()[static_cast<size_t>(backgrounds[b])].rgb;
      auto bg = torch::tensor({rgb[0] / 127.5f - 1, rgb[1] / 127.5f - 1, rgb[2] / 127.5f - 1}).view({3, 1, 1, 1});
      auto object = (video[static_cast<int64_t>(b)] - bg).abs().amax(0, true).gt(0.1).to(torch::kFloat32);
      w.push_back(1 + a.vae_object_weight * object);
    }
    return torch::stack(w);
  };
  vae->train();
  // --vae-stop-at: the phase ends early (state saved, then the latent statistics) while the learning
  // rate keeps following the --vae-steps schedule -- how the committed VAE's last phase ended.
  const int64_t last_step = a.vae_stop_at > 0 ? std::min(a.vae_stop_at, a.vae_steps) : a.vae_steps;
  for (int64_t step = first_step; step < last_step; ++step) {
    const auto t0 = std::chrono::steady_clock::now();
    crop_rng = demo::Rng(stream_seed(stream_seed(a.seed, 8), static_cast<uint64_t>(step)));
    auto gen = step_generator(stream_seed(a.seed, 9), step);
    const double lr = lr_at(step, a.vae_steps, std::min<int64_t>(100, a.vae_steps / 10 + 1), a.vae_lr);
    set_lr(opt, lr);
    opt.zero_grad();
    // One batched pass (far fewer ops than a pass per clip).
    std::vector<torch::Tensor> clips;
    std::vector<int> backgrounds;
    for (int64_t b = 0; b < a.vae_batch; ++b) {
      const auto clip = demo::sample_clip(combos, stream_seed(a.seed, 2), static_cast<uint64_t>(step * a.vae_batch + b),
                                          clip_options);
      clips.push_back(crop(clip));
      backgrounds.push_back(clip.spec.background);
    }
    const auto batch = torch::stack(clips);  // [B, 3, F, H, W] on the CPU
    const auto w = weights(batch, backgrounds).to(device);
    const auto video = batch.to(device);
    auto mu = vae->encode_batch(video);  // [B, 16, t, h, w]
    auto z = a.vae_latent_noise > 0
                 ? mu + a.vae_latent_noise * torch::randn(mu.sizes(), gen, mu.options().device(torch::kCPU)).to(device)
                 : mu;
    auto rec = vae->decode_batch(z, no_clamp);  // [B, 3, F, H, W]
    auto diff = rec - video;
    auto loss_t = ((diff.abs() + diff.pow(2)) * w).mean() / w.mean() + a.vae_latent_l2 * mu.pow(2).mean();
    if (a.vae_temporal_weight > 0) {
      // Consecutive latent frames alike (relative to the latents' size, so shrinking them does
      // not pay): the DiT has no absolute position, so the same content must get the same code
      // in every latent frame -- frame 0 (one video frame) included.
      const auto step_diff = (mu.slice(2, 1) - mu.slice(2, 0, -1)).pow(2).mean();
      loss_t = loss_t + a.vae_temporal_weight * step_diff / (mu.pow(2).mean() + 1e-6);
    }
    if (a.vae_static_weight > 0) {
      // Still clips (one random frame of each clip, repeated): every latent frame must get the
      // same code, frame 0 (one video frame) as the later ones (four each). Relative to the
      // latents' per-channel-centred size, as the DiT sees them after normalisation, so neither
      // shrinking nor offsetting the latents pays.
      const int64_t f = crop_rng.below(video.size(2));
      const auto still = video.narrow(2, f, 1).expand_as(video).contiguous();  // [B, 3, F, h, w]
      const auto ms = vae->encode_batch(still);                                // [B, 16, t, h, w]
      const auto spread = (ms - ms.mean(2, true)).pow(2).mean();
      const auto scale = (ms - ms.mean({0, 2, 3, 4}, true)).pow(2).mean();
      loss_t = loss_t + a.vae_static_weight * spread / (scale + 1e-6);
    }
    loss_t.backward();
    clip_grad_norm(parameters, 1.0);
    opt.step();
    const bool stop = step + 1 == last_step && last_step < a.vae_steps;
    if (record_step(a, stage, step, a.vae_steps, loss_t.item<double>(), lr, seconds_since(t0), curve, log) || stop) {
      save(demo_vae_config(a));
      save_state(a, stage, opt, step + 1);
    }
  }

  // Latent statistics on full-length clips -> latents_mean / latents_std; reconstruction error on
  // held-out combinations (never trained on) at the DiT's clip length.
  torch::NoGradGuard no_grad;
  vae->eval();
  std::vector<torch::Tensor> latents;
  const auto stats_world = a.vae_world();
  for (uint64_t i = 0; i < 64; ++i) {
    latents.push_back(vae->encode(demo::sample_clip(combos, stream_seed(a.seed, 3), i, stats_world).video.to(device)).cpu());
  }
  auto all = torch::stack(latents).transpose(0, 1).reshape({16, -1});  // [16, N·t·h·w]
  auto cfg = demo_vae_config(a);
  auto mean = all.mean(1), stdev = all.std(1).clamp_min(1e-4);
  for (int c = 0; c < 16; ++c) {
    cfg.latents_mean[static_cast<size_t>(c)] = mean[c].item<float>();
    cfg.latents_std[static_cast<size_t>(c)] = stdev[c].item<float>();
  }
  save(cfg);
  auto result = curve.json();
  result["parameters"] = params;
  result["latent_std_range"] = {stdev.min().item<double>(), stdev.max().item<double>()};
  result["held_out"] = evaluate_vae(a);  // round trip through the saved files
  return result;
}

nlohmann::json evaluate_vae(const TrainArgs& a) {
  torch::NoGradGuard no_grad;
  auto vae = load_demo_vae(fs::path(a.output) / "vae");
  // Every held-out combination once, at the DiT's clip size: what the semantic test will see if
  // the DiT produced the exact latent of a real clip.
  const auto held = demo::held_out_combinations();
  double l1 = 0;
  int colour_ok = 0, direction_ok = 0;
  std::vector<torch::Tensor> frame_mean, frame_ms, next_cos;  // per clip: [t], [t], [t-1]
  for (size_t i = 0; i < held.size(); ++i) {
    const auto clip = demo::sample_clip({held[i]}, stream_seed(a.seed, 4), i, a.world);
    const auto z = vae->encode(clip.video);  // [16, t, h, w], normalised as the DiT sees it
    const auto rec = vae->decode(z);           // [3, F, H, W]
    // Per latent frame: frame 0 encodes one video frame, the others four (causal VAE); the DiT
    // has no absolute position, so frame 0's code had better look like the others'.
    const auto zf = z.transpose(0, 1).reshape({z.size(1), -1});  // [t, 16·h·w]
    frame_mean.push_back(zf.mean(1));
    frame_ms.push_back(zf.pow(2).mean(1));
    const auto unit = zf / zf.norm(2, 1, true);
    next_cos.push_back((unit.slice(0, 0, -1) * unit.slice(0, 1)).sum(1));  // [t-1]: frame k vs k+1
    l1 += (rec - clip.video).abs().mean().item<double>() / static_cast<double>(held.size());
    if (const char* dump = std::getenv("T2V_DEMO_DUMP"); dump && i < 6) {
      // Inspection aid: first / middle / last frame, original above reconstruction, 4x nearest.
      const int64_t F = clip.video.size(1);
      auto pick = [&](const torch::Tensor& v) {
        return torch::cat({v.select(1, 0), v.select(1, F / 2), v.select(1, F - 1)}, 2);  // [3, H, 3W]
      };
      auto grid = torch::cat({pick(clip.video), pick(rec)}, 1);  // [3, 2H, 3W]
      grid = grid.repeat_interleave(4, 1).repeat_interleave(4, 2);
      auto u8 = demo::to_uint8_frames(grid.unsqueeze(1))[0];  // [4·2H, 4·3W, 3]
      io::VideoWriterOptions o;
      o.path = fs::path(dump) / ("vae_" + std::to_string(i) + ".png");
      o.width = static_cast<int>(u8.size(1));
      o.height = static_cast<int>(u8.size(0));
      o.fps = {16, 1};
      io::VideoWriter w(o);
      w.write(u8);
      w.finish();
    }
    const auto verdict = demo::judge_clip(demo::to_uint8_frames(rec), held[i]);
    colour_ok += verdict.colour;
    direction_ok += verdict.direction;
  }
  const double n = static_cast<double>(held.size());
  const auto mean_t = torch::stack(frame_mean).mean(0), rms_t = torch::stack(frame_ms).mean(0).sqrt();
  const auto cos_t = torch::stack(next_cos).mean(0);
  std::cout << "[vae] normalised latents per latent frame (mean / rms over channels, positions, clips):";
  for (int64_t t = 0; t < mean_t.size(0); ++t) {
    std::cout << " " << t << ": " << mean_t[t].item<double>() << " / " << rms_t[t].item<double>();
  }
  std::cout << "; cosine of frame k and k+1:";
  for (int64_t t = 0; t < cos_t.size(0); ++t) std::cout << " " << cos_t[t].item<double>();
  std::cout << std::endl;
  std::cout << "[vae] held-out reconstructions (" << held.size() << " clips): L1 " << l1
            << " (pixel range 2), colour " << colour_ok << "/" << held.size() << ", direction " << direction_ok << "/"
            << held.size() << std::endl;
  return {{"clips", held.size()}, {"l1", l1}, {"colour_accuracy", colour_ok / n}, {"direction_accuracy", direction_ok / n}};
}

// ------------------------------------------------------------------------------------ DiT

nlohmann::json train_dit(const TrainArgs& a, LossLog& log) {
  const fs::path out = a.output;
  const auto combos = demo::train_combinations();
  const auto& templates = demo::caption_templates();

  const torch::Device device(a.device);
  // The small umT5 from the output folder (copied there from --base): frozen, or trained with the
  // DiT (--train-text-encoder).
  wan::WanModelSource src;
  src.kind = "diffusers";
  src.root = out;
  src.text_encoder_config = wan::UMT5Config::from_json(io::read_json_file(out / "text_encoder" / "config.json"),
                                                       (out / "text_encoder" / "config.json").string());
  src.text_encoder = wan::canonical_component("text_encoder", io::TensorStore::open(out / "text_encoder"), nullptr);
  src.tokenizer_file = out / "tokenizer" / "spiece.model";
  src.text_len = a.text_len;
  text::TextEncoderOptions encoder_options;
  if (a.train_text_encoder) encoder_options.device = device;
  text::TextEncoder encoder(src, encoder_options);
  const int64_t text_dim = encoder.d_model();

  // Every caption the DiT trains with, a row each: (training combination c, template t) at row
  // c·T + t, then the null captions of caption dropout (the empty prompt, Wan's default negative
  // prompt). Token ids / masks [rows, text_len], right-padded, mask 1 on tokens + </s>.
  const int64_t T = static_cast<int64_t>(templates.size());
  const int64_t captioned = static_cast<int64_t>(combos.size()) * T;
  std::vector<std::string> captions;
  for (const auto& spec : combos) {
    for (int64_t t = 0; t < T; ++t) captions.push_back(demo::caption(spec, static_cast<size_t>(t)));
  }
  captions.push_back("");
  captions.push_back(wan::kDefaultNegativePrompt);
  const int64_t null_count = static_cast<int64_t>(captions.size()) - captioned;
  const auto tokens = encoder.tokenizer()(captions);
  const int64_t longest = tokens.mask.slice(0, 0, captioned).sum(1).max().item<int64_t>();
  if (longest >= a.text_len) {
    throw UsageError("captions need up to " + std::to_string(longest) + " tokens; raise --text-len above that");
  }
  // Frozen encoder: every row's context encoded once, [rows, text_len, text_dim], zero-padded as
  // the pipeline pads it. Trained encoder: each step re-encodes its rows from the token ids.
  torch::Tensor frozen_contexts, caption_ids, caption_mask;
  if (a.train_text_encoder) {
    caption_ids = tokens.ids.to(device);
    caption_mask = tokens.mask.to(device);
    encoder.model()->train();
    for (auto& p : encoder.model()->parameters()) p.set_requires_grad(true);
  } else {
    std::vector<torch::Tensor> rows;
    for (const auto& caption : captions) {
      rows.push_back(text::TextEncoder::pad_context(encoder.encode({caption})[0], a.text_len));
    }
    frozen_contexts = torch::stack(rows);
    encoder.release();
  }
  std::cout << "[dit] " << captioned << " caption contexts, longest " << longest << " tokens"
            << (a.train_text_encoder ? ", text encoder trained" : ", text encoder frozen") << std::endl;

  // The latent dataset: clips rendered and encoded once by the frozen VAE.
  auto vae = load_demo_vae(out / "vae", device);
  std::vector<torch::Tensor> latents;
  std::vector<int64_t> clip_combo;
  {
    torch::NoGradGuard no_grad;
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<torch::Tensor> pending;
    for (int64_t i = 0; i < a.dit_clips; ++i) {
      const auto clip = demo::sample_clip(combos, stream_seed(a.seed, 5), static_cast<uint64_t>(i), a.world);
      pending.push_back(clip.video);
      clip_combo.push_back(std::find(combos.begin(), combos.end(), clip.spec) - combos.begin());
      if (static_cast<int64_t>(pending.size()) == 32 || i + 1 == a.dit_clips) {
        latents.push_back(vae->encode_batch(torch::stack(pending).to(device)).cpu());  // [n, 16, t, h, w]
        pending.clear();
      }
    }
    std::cout << "[dit] encoded " << a.dit_clips << " clips in " << seconds_since(t0) << " s" << std::endl;
  }
  auto data = torch::cat(latents);  // [N, 16, t, h, w]
  latents.clear();
  std::cout << "[dit] latents " << data.sizes() << ", mean " << data.mean().item<double>() << ", std "
            << data.std().item<double>() << std::endl;

  wan::WanTransformerConfig cfg;
  cfg.num_heads = a.dit_heads;
  cfg.head_dim = a.dit_head_dim;
  cfg.num_layers = a.dit_layers;
  cfg.ffn_dim = a.dit_ffn;
  cfg.patch_size = {1, a.dit_patch, a.dit_patch};
  cfg.text_dim = text_dim;
  cfg.text_len = a.text_len;
  // Initialised on the CPU from the seed whatever the device, so a CUDA run starts from the same
  // weights as a CPU run; data, noise and sigmas are drawn on the CPU too and moved per step.
  torch::manual_seed(stream_seed(a.seed, 6));
  wan::WanTransformer3DModel dit(cfg, torch::kFloat, torch::kCPU);
  init_for_training(*dit, a.dit_embed_std);
  if (!device.is_cpu()) {
    wan::WanTransformer3DModel moved(cfg, torch::kFloat, device);
    copy_parameters(*dit, *moved);
    dit = moved;
  }
  const fs::path weights = out / "transformer" / "diffusion_pytorch_model.safetensors";
  const int64_t params = parameter_count(*dit);
  std::cout << "[dit] " << a.dit_layers << " layers, dim " << cfg.dim() << ", " << params / 1e6 << " M parameters, "
            << a.dit_steps << " steps x " << a.dit_batch << std::endl;
  auto save = [&] {
    write_json(out / "transformer" / "config.json", transformer_config_json(cfg));
    save_module(*dit, weights);
    if (a.train_text_encoder) save_module(*encoder.model(), out / "text_encoder" / "model.safetensors");
  };

  auto parameters = dit->parameters();
  if (a.train_text_encoder) {
    for (auto& p : encoder.model()->parameters()) parameters.push_back(p);
  }
  torch::optim::AdamW opt(parameters, torch::optim::AdamWOptions(a.dit_lr).betas({0.9, 0.99}).weight_decay(0.01));
  int64_t first_step = 0;
  if (a.resume) {
    load_module(*dit, weights);
    first_step = load_state(a, "dit", opt);
    std::cout << "[dit] resuming at step " << first_step << std::endl;
  }
  log.prune("dit", first_step);
  demo::Rng rng(0);  // reseeded per step
  Curve curve;
  const int64_t B = a.dit_batch;
  for (int64_t step = first_step; step < a.dit_steps; ++step) {
    const auto t0 = std::chrono::steady_clock::now();
    rng = demo::Rng(stream_seed(stream_seed(a.seed, 7), static_cast<uint64_t>(step)));
    auto gen = step_generator(stream_seed(a.seed, 10), step);
    const double lr = lr_at(step, a.dit_steps, std::min<int64_t>(500, a.dit_steps / 10 + 1), a.dit_lr);
    set_lr(opt, lr);
    std::vector<int64_t> index(static_cast<size_t>(B)), timesteps(static_cast<size_t>(B));
    std::vector<float> sigmas(static_cast<size_t>(B));
    std::vector<int64_t> caption_row(static_cast<size_t>(B));  // rows of the caption table
    for (size_t b = 0; b < static_cast<size_t>(B); ++b) {
      index[b] = rng.below(data.size(0));
      // Wan's shifted flow sigma (or SD3's logit-normal); the DiT gets int64(sigma·1000) like the
      // samplers give it.
      const double sigma = a.sigma_sampling == "logit-normal" ? logit_normal(rng)
                                                              : sampling::shift_sigma(rng.uniform(), a.shift);
      sigmas[b] = static_cast<float>(sigma);
      timesteps[b] = static_cast<int64_t>(sigma * sampling::kNumTrainTimesteps);
      caption_row[b] = rng.uniform() < a.caption_dropout
                           ? captioned + rng.below(null_count)
                           : clip_combo[static_cast<size_t>(index[b])] * T + rng.below(T);
    }
    const auto rows = torch::tensor(caption_row, torch::kInt64);
    torch::Tensor context;  // [B, text_len, text_dim]
    if (a.train_text_encoder) {
      // Trimmed to each caption's tokens and zero-padded, as TextEncoder + the pipeline give it.
      const auto mask = caption_mask.index_select(0, rows.to(device));
      context = encoder.model()->forward(caption_ids.index_select(0, rows.to(device)), mask) *
                mask.unsqueeze(-1).to(torch::kFloat);
    } else {
      context = frozen_contexts.index_select(0, rows).to(device);
    }
    auto x0 = data.index_select(0, torch::tensor(index, torch::kInt64));  // [B, 16, t, h, w]
    auto noise = torch::randn(x0.sizes(), gen, x0.options()).to(device);
    x0 = x0.to(device);
    auto s = torch::tensor(sigmas).view({B, 1, 1, 1, 1}).to(device);
    auto xt = (1 - s) * x0 + s * noise;
    auto v = dit->forward(xt, torch::tensor(timesteps, torch::kInt64), context);  // [B, 16, t, h, w]
    auto loss = (v - (noise - x0)).pow(2).mean();
    opt.zero_grad();
    loss.backward();
    clip_grad_norm(parameters, 1.0);
    opt.step();
    const bool save_period = record_step(a, "dit", step, a.dit_steps, loss.item<double>(), lr, seconds_since(t0), curve, log);
    // eval-dit reads the saved folder; the last step's evaluation comes after the loop.
    const bool evaluate = a.eval_every > 0 && (step + 1) % a.eval_every == 0 && step + 1 < a.dit_steps;
    // --dit-stop-at: a phase boundary of a recipe; --resume continues from here.
    const bool stop = a.dit_stop_at > 0 && step + 1 == a.dit_stop_at && step + 1 < a.dit_steps;
    if (save_period || evaluate || stop) save();
    if (save_period || stop) save_state(a, "dit", opt, step + 1);
    if (evaluate) evaluate_dit(a);
    if (stop) {
      std::cout << "[dit] stopped after step " << step + 1 << " (--dit-stop-at); --resume continues" << std::endl;
      auto partial = curve.json();
      partial["stopped_at"] = step + 1;
      return partial;
    }
  }
  save();
  auto result = curve.json();
  result["held_out"] = evaluate_dit(a);  // the semantic test's measurement, through the saved folder
  result["parameters"] = params;
  result["longest_caption_tokens"] = longest;
  return result;
}

}  // namespace t2v::demo_train
