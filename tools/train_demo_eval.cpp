// Stage "eval-dit" of tools/train_demo.cpp: the semantic test's measurement (tests/demo/
// test_demo_semantic.cpp) on a model folder, through the real pipeline and the MP4 round trip,
// with the sampling settings as options -- to pick a checkpoint and the model's _t2v_defaults.
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <filesystem>
#include <iostream>

#include "t2v/demo/world.h"
#include "t2v/io/video_writer.h"
#include "t2v/models/wan/model_source.h"
#include "t2v/models/wan/transformer.h"
#include "t2v/models/wan/vae.h"
#include "t2v/text/text_encoder.h"
#include "t2v/models/wan/family.h"
#include "t2v/pipeline/pipeline.h"
#include "train_demo_stages.h"

namespace t2v::demo_train {
namespace fs = std::filesystem;

nlohmann::json evaluate_dit(const TrainArgs& a) {
  // "held-out": the semantic test's prompts; "train": as many training combinations, spread over
  // the list (tells a composition failure from a fitting failure).
  auto held = demo::held_out_combinations();
  if (a.eval_set == "train") {
    const auto train = demo::train_combinations();
    const size_t n = held.size();
    held.clear();
    for (size_t i = 0; i < n; ++i) held.push_back(train[i * train.size() / n]);
  }
  const fs::path tmp = fs::path(a.output + ".eval-tmp");
  fs::create_directories(tmp);
  models::RuntimeOptions options;
  options.device = torch::Device(a.device);
  options.dtype = torch::kFloat32;  // fp32 on either device: the CPU test's numerics
  options.text_encoder_device = options.device;
  options.text_encoder_dtype = torch::kFloat32;
  pipeline::Pipeline pipe(wan::make_model(wan::open_diffusers_folder(a.output), options));
  std::vector<std::string> prompts;
  for (const auto& spec : held) prompts.push_back(demo::caption(spec, 0));
  pipe.prepare_prompts(prompts);

  pipeline::GridRequest request;
  request.width = static_cast<int>(a.world.width);
  request.height = static_cast<int>(a.world.height);
  request.frames = static_cast<int>(a.world.frames);
  const auto grid = pipeline::resolve_grid(request, pipe.grid_limits());

  int colour_ok = 0, direction_ok = 0, n = 0;
  std::vector<int> colour_by_seed, direction_by_seed;
  for (int64_t s = 0; s < a.eval_seeds; ++s) {
    int c_seed = 0, d_seed = 0;
    for (size_t i = 0; i < held.size(); ++i) {
      pipeline::GenerationSettings g;
      g.prompt = prompts[i];
      g.negative_prompt = wan::kDefaultNegativePrompt;
      g.grid = grid;
      g.steps = static_cast<int>(a.sample_steps);
      g.guidance = a.sample_guidance;
      g.shift = a.sampling_shift();
      g.sampler = a.sample_sampler;
      g.seed = 1000 + i + 100 * static_cast<uint64_t>(s);  // s = 0: the semantic test's seeds
      g.output = tmp / "clip.mp4";
      pipe.generate(g);
      const auto verdict = demo::judge_clip(io::read_video(g.output).frames, held[i]);
      c_seed += verdict.colour;
      d_seed += verdict.direction;
      if (!verdict.colour || !verdict.direction) {  // what went wrong, for a look at the clip itself
        const auto& an = verdict.analysis;
        std::cout << "[eval] seed " << g.seed << " \"" << prompts[i] << "\": colour " << (an.colour.empty() ? "-" : an.colour)
                  << (verdict.colour ? "" : " (WRONG)") << ", direction " << (an.direction.empty() ? "-" : an.direction)
                  << (verdict.direction ? "" : " (WRONG)") << std::endl;
      }
      ++n;
    }
    colour_by_seed.push_back(c_seed);
    direction_by_seed.push_back(d_seed);
    colour_ok += c_seed;
    direction_ok += d_seed;
  }
  fs::remove_all(tmp);
  const double total = static_cast<double>(n);
  std::cout << "[eval] " << a.output << ": " << n << " clips (steps " << a.sample_steps << ", guidance "
            << a.sample_guidance << ", shift " << a.sampling_shift() << ", "
            << a.sample_sampler << ", " << a.eval_set << " set): colour " << colour_ok << "/" << n << " (" << 100 * colour_ok / total
            << "%), direction " << direction_ok << "/" << n << " (" << 100 * direction_ok / total << "%)";
  if (a.eval_seeds > 1) {  // per seed set (1000+i, 1100+i, ...): how much of a spread is noise
    std::cout << "; per seed set colour / direction:";
    for (size_t s = 0; s < colour_by_seed.size(); ++s) std::cout << " " << colour_by_seed[s] << "/" << direction_by_seed[s];
  }
  std::cout << std::endl;
  return {{"clips", n},
          {"colour_accuracy", colour_ok / total},
          {"direction_accuracy", direction_ok / total},
          {"colour_by_seed", colour_by_seed},
          {"direction_by_seed", direction_by_seed}};
}

nlohmann::json evaluate_denoise(const TrainArgs& a) {
  // Tells a learning failure from a sampling failure: real held-out clips, encoded, noised to
  // sigma, one conditional DiT prediction x0 = x_t - sigma·v, decoded and analysed. If the
  // object's colour and path survive at mid noise, the DiT has learned them and the trouble is in
  // the early (high-noise) sampling steps.
  torch::NoGradGuard no_grad;
  const auto source = wan::open_diffusers_folder(a.output);
  const auto held = demo::held_out_combinations();
  std::vector<torch::Tensor> contexts;
  {
    text::TextEncoder encoder(source);
    for (const auto& spec : held) contexts.push_back(encoder.encode({demo::caption(spec, 0)})[0]);
  }
  auto dit = wan::load_wan_transformer(source, torch::kFloat, torch::kCPU);
  auto vae = wan::load_wan_vae(source, torch::kCPU);
  std::vector<torch::Tensor> latents;  // every sigma noises the same clips
  for (size_t i = 0; i < held.size(); ++i) {
    const auto clip = demo::sample_clip({held[i]}, 0xD1A6 + a.seed, i, a.world);
    latents.push_back(vae->encode(clip.video).unsqueeze(0));  // [1, 16, t, h, w]
  }
  nlohmann::json result = nlohmann::json::object();
  for (const double sigma : {0.3, 0.5, 0.7, 0.9, 0.97, 1.0}) {
    int colour_ok = 0, direction_ok = 0;
    for (size_t i = 0; i < held.size(); ++i) {
      const auto& x0 = latents[i];
      auto gen = at::detail::createCPUGenerator(1000 + i);
      const auto noise = torch::randn(x0.sizes(), gen, x0.options());
      const auto xt = (1 - sigma) * x0 + sigma * noise;
      const auto t = torch::full({1}, static_cast<int64_t>(sigma * 1000), torch::kInt64);
      const auto v = dit->forward(xt, t, contexts[i].unsqueeze(0));  // [1, 16, t, h, w]
      const auto rec = vae->decode((xt - sigma * v)[0]);                // [3, F, H, W]
      const auto verdict = demo::judge_clip(demo::to_uint8_frames(rec), held[i]);
      colour_ok += verdict.colour;
      direction_ok += verdict.direction;
    }
    std::cout << "[denoise] sigma " << sigma << ": one-step x0 of " << held.size() << " real held-out clips: colour "
              << colour_ok << "/" << held.size() << ", direction " << direction_ok << "/" << held.size() << std::endl;
    result[std::to_string(sigma)] = {{"colour", colour_ok}, {"direction", direction_ok}};
  }
  return result;
}

}  // namespace t2v::demo_train
