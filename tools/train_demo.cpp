// train_demo: regenerates the small demo model of issue 7 from a fixed seed, on the CPU, with
// LibTorch autograd through the project's own modules.
//
//   stage "vae": a small Wan2.1 VAE trained as an autoencoder on rendered clips of the demo world
//                (reconstruction L1 + L2 through the real chunked causal encode/decode; a little
//                latent noise and an L2 pull on the latents keep the latent scale well defined).
//                Per-channel latent statistics become the config's latents_mean/latents_std, so
//                the DiT sees roughly unit-variance latents.
//   stage "dit": a small Wan DiT trained by flow matching on the frozen VAE's latents with the
//                frozen small umT5 (the wan21-tiny fixture's) contexts of the captions; caption
//                dropout (to "" and to Wan's default negative prompt, which `t2v generate` uses)
//                trains the unconditional branch for classifier-free guidance. Noise levels: Wan's
//                shifted uniform (--sigma-sampling shift) or SD3's logit-normal, which trains the
//                low-noise steps that shape a small 8x8 latent far more (shift 5 puts 83% of the
//                samples above sigma 0.5). --device cuda runs this stage on a GPU (same init and
//                data; CUDA numerics differ in the last bits).
//   stage "eval-vae" / "eval-dit": the held-out scores of the saved VAE (reconstructions) or of the
//                whole model (generations through the pipeline and the MP4 round trip, the
//                semantic test's measurement; --eval-every N also runs it during "dit").
// Output: a diffusers-layout WanPipeline folder that `t2v generate -m <out>` loads, plus the loss
// curve (train_log.csv) and the settings (training.json). Held-out combinations
// (t2v/demo/world.h) are never rendered for training.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <filesystem>
#include <iostream>

#include "t2v/demo/world.h"
#include "t2v/error.h"
#include "t2v/io/json_file.h"
#include "t2v/models/wan/model_source.h"
#include "train_demo_common.h"
#include "train_demo_stages.h"

namespace fs = std::filesystem;
using namespace t2v;
using namespace t2v::demo_train;

namespace {

// tokenizer/, text_encoder/, scheduler/, model_index.json: copied from the base model (the frozen
// small umT5), with the tokenizer's model_max_length set to the demo's text_len.
void write_static_components(const TrainArgs& a) {
  const fs::path base = a.base_model, out = a.output;
  fs::create_directories(out / "tokenizer");
  fs::create_directories(out / "text_encoder");
  const auto copy = [](const fs::path& from, const fs::path& to) {
    fs::copy_file(from, to, fs::copy_options::overwrite_existing);
  };
  copy(base / "tokenizer" / "spiece.model", out / "tokenizer" / "spiece.model");
  copy(base / "tokenizer" / "special_tokens_map.json", out / "tokenizer" / "special_tokens_map.json");
  auto tok = io::read_json_file(base / "tokenizer" / "tokenizer_config.json");
  tok["model_max_length"] = a.text_len;
  write_json(out / "tokenizer" / "tokenizer_config.json", tok);
  copy(base / "text_encoder" / "config.json", out / "text_encoder" / "config.json");
  // A resumed run that trains the encoder continues from the output folder's weights.
  if (!(a.resume && a.train_text_encoder)) {
    copy(base / "text_encoder" / "model.safetensors", out / "text_encoder" / "model.safetensors");
  }
  auto sched = io::read_json_file(base / "scheduler" / "scheduler_config.json");
  sched["flow_shift"] = a.sampling_shift();  // what diffusers' pipeline samples with
  write_json(out / "scheduler" / "scheduler_config.json", sched);
  auto index = io::read_json_file(base / "model_index.json");
  // What `t2v generate` uses when the user does not say (diffusers skips "_" keys).
  index["_t2v_defaults"] = {{"width", a.world.width},   {"height", a.world.height},
                            {"frames", a.world.frames}, {"steps", a.sample_steps},
                            {"guidance", a.sample_guidance}, {"shift", a.sampling_shift()},
                            {"sampler", a.sample_sampler}};
  write_json(out / "model_index.json", index);
}

nlohmann::json args_json(const TrainArgs& a) {
  return {{"seed", a.seed},           {"threads", a.threads},         {"width", a.world.width},
          {"height", a.world.height}, {"frames", a.world.frames},     {"text_len", a.text_len},
          {"shift", a.shift},         {"vae_steps", a.vae_steps},     {"vae_batch", a.vae_batch},
          {"vae_lr", a.vae_lr},       {"vae_frames", a.vae_frames}, {"vae_crop", a.vae_crop},   {"vae_base_dim", a.vae_base_dim},
          {"vae_res_blocks", a.vae_res_blocks}, {"vae_latent_noise", a.vae_latent_noise},
          {"vae_latent_l2", a.vae_latent_l2}, {"vae_object_weight", a.vae_object_weight}, {"vae_temporal_weight", a.vae_temporal_weight}, {"vae_static_weight", a.vae_static_weight}, {"vae_stop_at", a.vae_stop_at}, {"vae_finetune", a.vae_finetune},   {"dit_steps", a.dit_steps},     {"dit_batch", a.dit_batch},
          {"dit_lr", a.dit_lr},       {"dit_clips", a.dit_clips},     {"dit_layers", a.dit_layers},
          {"dit_heads", a.dit_heads}, {"dit_head_dim", a.dit_head_dim}, {"dit_ffn", a.dit_ffn}, {"dit_patch", a.dit_patch}, {"dit_stop_at", a.dit_stop_at},
          {"caption_dropout", a.caption_dropout}, {"base_model", a.base_model},
          {"sample_steps", a.sample_steps}, {"sample_guidance", a.sample_guidance},
          {"sample_shift", a.sample_shift}, {"sample_sampler", a.sample_sampler},
          {"sigma_sampling", a.sigma_sampling}, {"device", a.device},
          {"min_travel", a.world.min_travel}, {"vae_min_travel", a.vae_min_travel},
          {"dit_embed_std", a.dit_embed_std}, {"train_text_encoder", a.train_text_encoder}};
}

}  // namespace

int main(int argc, char** argv) {
  TrainArgs a;
  std::string size = "64x64", stage = "all";
  CLI::App app{"train_demo: trains the small Wan demo model on the procedural demo world"};
  app.add_option("-o,--output", a.output, "Model folder to write (diffusers layout)")->capture_default_str();
  app.add_option("--stage", stage, "vae, dit, all, eval-vae, eval-dit or eval-denoise (score the saved VAE's held-out reconstructions / the model's held-out generations / one-step denoising of real held-out clips)")->check(CLI::IsMember({"vae", "dit", "all", "eval-vae", "eval-dit", "eval-denoise"}))->capture_default_str();
  app.add_option("--base", a.base_model, "Folder whose tokenizer/ and text_encoder/ (small umT5) are reused frozen")
      ->capture_default_str();
  app.add_option("--seed", a.seed, "Seed of initialisation, data and noise")->capture_default_str();
  app.add_option("--threads", a.threads, "torch intra-op threads")->capture_default_str();
  app.add_option("--device", a.device, "Device of the VAE and DiT stages and eval-dit (cpu, cuda; eval-vae runs on the CPU)")
      ->capture_default_str();
  app.add_option("--size", size, "Clip size WxH (multiples of 16)")->capture_default_str();
  app.add_option("--frames", a.world.frames, "Frames per clip for the DiT (1 + 4k)")->capture_default_str();
  app.add_option("--min-travel", a.world.min_travel,
                 "Shortest path of the DiT's (and the evaluations') clips, as a fraction of the frame (1: across the whole frame)")
      ->check(CLI::Range(0.4, 1.0))->capture_default_str();
  app.add_option("--vae-min-travel", a.vae_min_travel, "Shortest path of the VAE's training clips, as a fraction of the frame")
      ->check(CLI::Range(0.4, 1.0))->capture_default_str();
  app.add_option("--text-len", a.text_len, "Prompt tokens (incl. </s>) the model uses")->capture_default_str();
  app.add_option("--shift", a.shift, "Flow shift of the training noise levels with --sigma-sampling shift (and the sampling default when --sample-shift is 0)")
      ->capture_default_str();
  app.add_option("--vae-steps", a.vae_steps, "VAE optimiser steps")->capture_default_str();
  app.add_option("--vae-batch", a.vae_batch, "Clips per VAE step")->capture_default_str();
  app.add_option("--vae-lr", a.vae_lr, "VAE peak learning rate")->capture_default_str();
  app.add_option("--vae-frames", a.vae_frames, "Frames per VAE training clip (1 + 4k)")->capture_default_str();
  app.add_option("--vae-crop", a.vae_crop, "Train the VAE on random square crops of this side (0: whole frames)")
      ->capture_default_str();
  app.add_option("--vae-latent-noise", a.vae_latent_noise, "Std of the noise added to VAE latents in training")
      ->capture_default_str();
  app.add_option("--vae-latent-l2", a.vae_latent_l2, "Weight of the L2 pull on VAE latents")->capture_default_str();
  app.add_option("--vae-object-weight", a.vae_object_weight, "Extra loss weight of object pixels")->capture_default_str();
  app.add_option("--vae-temporal-weight", a.vae_temporal_weight,
                 "Weight of the relative difference of consecutive latent frames in the VAE loss (same content, same code in every latent frame)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--vae-static-weight", a.vae_static_weight,
                 "Weight of the relative spread of the latent frames of still clips (one frame repeated) in the VAE loss: latent frame 0 (one video frame) coded like the later ones (four each)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--vae-stop-at", a.vae_stop_at,
                 "vae: end the phase after this step -- latent statistics and held-out scores as at the end, the learning rate still that of the --vae-steps schedule")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_flag("--vae-finetune", a.vae_finetune, "vae: start from the output folder's VAE weights with a fresh optimiser and schedule");
  app.add_option("--vae-base-dim", a.vae_base_dim, "VAE base_dim")->capture_default_str();
  app.add_option("--vae-res-blocks", a.vae_res_blocks, "VAE num_res_blocks")->capture_default_str();
  app.add_option("--dit-steps", a.dit_steps, "DiT optimiser steps")->capture_default_str();
  app.add_option("--dit-batch", a.dit_batch, "Latents per DiT step")->capture_default_str();
  app.add_option("--dit-lr", a.dit_lr, "DiT peak learning rate")->capture_default_str();
  app.add_option("--dit-clips", a.dit_clips, "Rendered training clips encoded once for the DiT")->capture_default_str();
  app.add_option("--dit-layers", a.dit_layers, "DiT blocks")->capture_default_str();
  app.add_option("--dit-heads", a.dit_heads, "DiT attention heads")->capture_default_str();
  app.add_option("--dit-head-dim", a.dit_head_dim, "DiT head dim")->capture_default_str();
  app.add_option("--dit-stop-at", a.dit_stop_at,
                 "dit: stop after this step, checkpoint and AdamW state saved (a recipe phase; --resume continues, e.g. with another --dit-steps)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--dit-patch", a.dit_patch, "DiT spatial patch size (Wan: 2; 1: a token per latent pixel, 4x the tokens)")
      ->check(CLI::IsMember({1, 2}))->capture_default_str();
  app.add_option("--dit-ffn", a.dit_ffn, "DiT FFN hidden size")->capture_default_str();
  app.add_option("--dit-embed-std", a.dit_embed_std, "Init std of the DiT's time/text embedding MLPs (W21: 0.02; 0: Xavier, which keeps a small text_dim's signal)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_flag("--train-text-encoder", a.train_text_encoder,
               "dit: fine-tune the small umT5 together with the DiT (from --base's weights; with --resume, from the output folder's)");
  app.add_option("--caption-dropout", a.caption_dropout, "Share of DiT samples with a null caption")
      ->capture_default_str();
  app.add_option("--sample-steps", a.sample_steps, "Default denoising steps recorded in model_index.json (eval stages: the folder's unless given; likewise the other --sample-* options)")
      ->capture_default_str();
  app.add_option("--sample-guidance", a.sample_guidance, "Default guidance recorded in model_index.json")
      ->capture_default_str();
  app.add_option("--sample-shift", a.sample_shift, "Default flow shift recorded in model_index.json and scheduler_config (0: --shift)")
      ->capture_default_str();
  app.add_option("--sample-sampler", a.sample_sampler, "Default sampler recorded in model_index.json")
      ->check(CLI::IsMember({"unipc", "dpm++", "euler"}))->capture_default_str();
  app.add_option("--sigma-sampling", a.sigma_sampling,
                 "DiT training noise levels: shift (uniform u through --shift, as Wan) or logit-normal (SD3)")
      ->check(CLI::IsMember({"shift", "logit-normal"}))->capture_default_str();
  app.add_option("--eval-set", a.eval_set, "eval-dit: held-out or train combinations")
      ->check(CLI::IsMember({"held-out", "train"}))->capture_default_str();
  app.add_option("--eval-seeds", a.eval_seeds, "eval-dit: seeds per held-out prompt")->capture_default_str();
  app.add_option("--eval-every", a.eval_every, "dit: run eval-dit every N steps (0: never)")->capture_default_str();
  app.add_option("--log-every", a.log_every, "Print every N steps")->capture_default_str();
  app.add_option("--save-every", a.save_every, "Write the component every N steps (0: only at the end)")
      ->capture_default_str();
  app.add_flag("--resume", a.resume, "Start the stage from the weights already in the output folder");
  CLI11_PARSE(app, argc, argv);

  try {
    const auto x = size.find('x');
    if (x == std::string::npos) throw UsageError("--size must be WxH, got " + size);
    a.world.width = std::stoll(size.substr(0, x));
    a.world.height = std::stoll(size.substr(x + 1));
    if (a.vae_crop % 16 || a.vae_crop > std::min(a.world.width, a.world.height)) {
      throw UsageError("--vae-crop must be a multiple of 16 no larger than the clip");
    }
    if (a.world.width % 16 || a.world.height % 16 || (a.world.frames - 1) % 4 || (a.vae_frames - 1) % 4) {
      throw UsageError("--size needs multiples of 16, --frames and --vae-frames 1 + 4k");
    }
    torch::set_num_threads(a.threads);
    spdlog::set_level(spdlog::level::warn);  // the library's load lines would interleave with the log
    fs::create_directories(a.output);
    if (stage.rfind("eval-", 0) != 0) {
      write_static_components(a);
    } else if (const fs::path index = fs::path(a.output) / "model_index.json"; fs::exists(index)) {
      // A folder is scored with its own sampling defaults (those `t2v generate` uses), unless told otherwise.
      const auto j = io::read_json_file(index);
      const auto d = wan::parse_generation_defaults(j.value("_t2v_defaults", nlohmann::json::object()), index.string());
      if (!app.count("--sample-steps") && d.steps) a.sample_steps = *d.steps;
      if (!app.count("--sample-guidance") && d.guidance) a.sample_guidance = *d.guidance;
      if (!app.count("--sample-shift") && d.shift) a.sample_shift = *d.shift;
      if (!app.count("--sample-sampler") && d.sampler) a.sample_sampler = *d.sampler;
    }
    auto info = args_json(a);
    LossLog log(fs::path(a.output) / "train_log.csv");
    std::cout << "train_demo: output " << a.output << ", seed " << a.seed << ", " << a.threads << " thread(s), "
              << a.world.width << "x" << a.world.height << "x" << a.world.frames << ", "
              << demo::train_combinations().size() << " training / " << demo::held_out_combinations().size()
              << " held-out combinations" << std::endl;
    if (stage == "eval-vae") {
      evaluate_vae(a);
      return 0;
    }
    if (stage == "eval-dit") {
      evaluate_dit(a);
      return 0;
    }
    if (stage == "eval-denoise") {
      evaluate_denoise(a);
      return 0;
    }
    if (stage == "vae" || stage == "all") info["vae_result"] = train_vae(a, log);
    if (stage == "dit" || stage == "all") info["dit_result"] = train_dit(a, log);
    write_json(fs::path(a.output) / ("training_" + stage + ".json"), info);
  } catch (const std::exception& e) {
    std::cerr << "train_demo: error: " << e.what() << std::endl;
    return 2;
  }
  return 0;
}
