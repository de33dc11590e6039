// Reference: W21 wan/text2video.py WanT2V.generate, wan/utils/utils.py cache_video.
#include "t2v/pipeline/pipeline.h"

#include <ATen/core/Generator.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <chrono>
#include <mutex>

#include "t2v/diffusion/denoise.h"
#include "t2v/error.h"
#include "t2v/io/json_file.h"
#include "t2v/io/safetensors.h"
#include "t2v/log.h"
#include "t2v/runtime.h"
#include "t2v/sampling/sampler.h"

namespace t2v::pipeline {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
}  // namespace

Pipeline::Pipeline(std::unique_ptr<models::VideoModel> model) : model_(std::move(model)) {
  if (!model_) throw Error("pipeline: no model");
  if (auto why = model_->unsupported_reason()) throw ConfigError(*why);  // before any weights load
}

Pipeline::~Pipeline() = default;

void Pipeline::prepare_prompts(const std::vector<std::string>& prompts) {
  std::vector<std::string> todo;
  for (const auto& p : prompts)
    if (!contexts_.count(p) && std::find(todo.begin(), todo.end(), p) == todo.end()) todo.push_back(p);
  if (todo.empty()) return;
  auto contexts = model_->encode_prompts(todo);  // loads the text encoder for this call only
  for (size_t i = 0; i < todo.size(); ++i) contexts_[todo[i]] = contexts[i].to(torch::kCPU);
}

const torch::Tensor& Pipeline::context_for(const std::string& prompt) {
  if (!contexts_.count(prompt)) prepare_prompts({prompt});
  return contexts_.at(prompt);
}

torch::Tensor draw_noise(c10::IntArrayRef shape, uint64_t seed, const torch::Device& device) {
  auto options = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  if (device.is_cpu()) {
    auto gen = at::detail::createCPUGenerator(seed);
    return at::randn(shape, gen, options);
  }
  // A freshly seeded CUDA generator (offset 0), as torch.Generator('cuda').manual_seed(seed).
  auto gen = at::globalContext().defaultGenerator(device);
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_current_seed(seed);
  }
  return at::randn(shape, gen, options);
}

torch::Tensor to_uint8_frames(const torch::Tensor& video) {
  // make_grid(normalize=True, value_range=(-1, 1)): clamp, sub(low), div(high - low); then
  // cache_video: mul(255).type(uint8), which truncates.
  auto x = video.to(torch::kFloat32).clamp(-1.0, 1.0).sub(-1.0).div(2.0).mul(255.0).to(torch::kUInt8);
  return x.permute({1, 2, 3, 0}).contiguous();  // [3, n, H, W] -> [n, H, W, 3]
}

diffusion::Conditioning Pipeline::encode_conditions(const GenerationSettings& s,
                                                    const std::function<void(const std::string&, const torch::Tensor&)>& save) {
  diffusion::Conditioning c;
  const auto& plan = s.conditions;
  const bool init = plan.init_input >= 0;
  const auto lim = model_->grid_limits();
  using KnownFrames = models::GridLimits::KnownFrames;
  if (lim.known_frames == KnownFrames::kMaskChannels && plan.known_frames != KnownFrames::kMaskChannels) {
    // A plan made for another model (or none): this DiT needs its mask channels.
    throw UsageError("conditions: " + model_->name() + " is an image-to-video model; give an image or another known frame");
  }
  if (!init && !plan.has_known()) return c;
  torch::NoGradGuard no_grad;
  const auto device = model_->runtime().device;
  const int stride = lim.temporal_stride;
  if (init) {
    c.init_latent = model_->encode_video(plan.init_video(s.grid.frames));  // [C, T, h, w]
    c.strength = plan.strength;
  }
  if (plan.known_frames == KnownFrames::kMaskChannels) {
    // W22 wan/image2video.py WanI2V.generate: y = concat(mask [4, T, h, w], VAE latent of the known
    // frames with zeros elsewhere [16, T, h, w]); the latent itself is never re-blended.
    const auto video = plan.masked_video();  // [3, F, H, W]
    // The known image(s) before and after fitting, under the fixtures' names (FLF2V: .first / .last).
    const bool two = lim.image_context_images == 2;
    for (const bool last : two ? std::vector<bool>{false, true} : std::vector<bool>{false}) {
      const auto [raw, frame] = plan.known_frame(last);
      const std::string suffix = two ? (last ? ".last" : ".first") : "";
      save("image_in" + suffix, raw);
      save("image_resized" + suffix, video.select(1, frame));
    }
    auto z = model_->encode_video(video);  // [C, T, h, w]
    auto mask = mask_channels(plan.frame_weight, stride, z.size(2), z.size(3)).to(z.device(), z.scalar_type());
    c.concat = torch::cat({mask, z}, 0);  // [s + C, T, h, w]
    save("y", c.concat);
    return c;
  }
  if (plan.has_known()) {
    const auto video = plan.known_video(stride);  // [3, F', H, W]
    auto z = model_->encode_video(video);         // [C, T', h, w], T' <= T
    save("image_in", video);                      // the official names (W22 WanTI2V.i2v)
    save("z_image", z);
    c.known_latent = torch::zeros({z.size(0), s.grid.latent_frames, z.size(2), z.size(3)}, z.options());
    c.known_latent.slice(1, 0, z.size(1)).copy_(z);
    c.known_weight = torch::tensor(plan.latent_weight, torch::kFloat32).to(device);  // [T]
    c.known_at_t0 = lim.known_frames == KnownFrames::kCleanAtT0;
  }
  return c;
}

void Pipeline::write_video(const LatentFile& f, const fs::path& output, int crf, io::Codec codec,
                           const ProgressCallbacks& progress, std::vector<torch::Tensor>* keep_chunks) {
  torch::NoGradGuard no_grad;
  io::VideoWriterOptions wo;
  wo.path = output;
  wo.width = f.width;
  wo.height = f.height;
  wo.fps = f.fps;
  wo.crf = crf;
  wo.codec = codec;
  wo.metadata = {{"title", f.title}, {"comment", io::to_json_text(f.settings)}};
  VideoFileSink sink(wo);
  LayoutComposer composer(f.layout, f.kept, sink);
  model_->decode_video(
      f.latent,
      [&](const torch::Tensor& frames) {  // [3, n, H, W]
        check_interrupted();
        if (keep_chunks) keep_chunks->push_back(frames.to(torch::kCPU));
        composer.generated(to_uint8_frames(frames).to(torch::kCPU));  // [n, H, W, 3]
        if (progress.frames) progress.frames(composer.written(), f.frames);
      });
  composer.finish();
}

GenerationResult Pipeline::generate(const GenerationSettings& s, const ProgressCallbacks& progress) {
  const auto t_start = Clock::now();
  const auto device = model_->runtime().device;
  if (s.guidance_2 && !model_->defaults().guidance_2) {
    throw UsageError("guidance_2: " + model_->name() + " has one expert; guidance_2 is for two-expert models (Wan2.2 A14B)");
  }
  gpu_peak_bytes(device, /*reset=*/true);
  const auto& plan = s.conditions;
  GenerationResult result;
  result.seed = s.seed;
  result.frames = plan.output_frames ? plan.output_frames : s.grid.frames;
  result.width = s.grid.width;
  result.height = s.grid.height;
  result.output = s.output;
  const bool keep = !s.save_intermediates.empty();
  std::vector<std::pair<std::string, torch::Tensor>> saved;
  auto save = [&](const std::string& name, const torch::Tensor& t) {
    if (keep && t.defined()) saved.emplace_back(name, t.detach().to(torch::kCPU).clone());
  };

  // 1. Text.
  if (progress.stage) progress.stage("text");
  auto t0 = Clock::now();
  prepare_prompts({s.prompt, s.negative_prompt});
  const torch::Tensor context = context_for(s.prompt);
  const torch::Tensor context_null = context_for(s.negative_prompt);
  save("context", context);
  save("context_null", context_null);
  result.text_seconds = seconds_since(t0);
  check_interrupted();

  // 2. Conditions -> latents (VAE encode), before the DiT takes the memory.
  diffusion::Conditioning conditioning = encode_conditions(s, save);
  if (conditioning.known_latent.defined()) save("known_latent", conditioning.known_latent);
  if (conditioning.init_latent.defined()) save("init_latent", conditioning.init_latent);

  // 3. Denoise.
  if (progress.stage) progress.stage("denoise");
  t0 = Clock::now();
  // Image context (Wan2.1 I2V / FLF2V: CLIP features of the first [and last] known frame as decoded).
  torch::Tensor image_context;
  if (const int n = model_->grid_limits().image_context_images; n > 0) {
    std::vector<torch::Tensor> images = {plan.known_frame(false).first};
    if (n == 2) images.push_back(plan.known_frame(true).first);
    image_context = model_->encode_images(images);  // [n, tokens, width]
    save("clip_fea", image_context);
  }
  const auto models = model_->experts(context, context_null, image_context);  // loads the denoisers on first use
  torch::NoGradGuard no_grad;

  auto sampler = sampling::make_sampler(s.sampler);
  sampler->set_timesteps(s.steps, s.shift);
  // The noise is a VAE latent (z_dim channels); the DiT's input is only that for text-to-video models.
  const std::vector<int64_t> shape = {model_->latent_channels(), s.grid.latent_frames, s.grid.latent_height,
                                      s.grid.latent_width};
  torch::Tensor latent = draw_noise(shape, s.seed, device);  // [C, T, h, w]
  save("noise", latent);
  save("timesteps", torch::tensor(sampler->timesteps(), torch::kInt64));
  save("sigmas", sampler->sigmas());
  std::vector<diffusion::Expert> experts;
  for (size_t i = 0; i < models.size(); ++i) {
    const double g = i == 0 ? s.guidance : s.guidance_2.value_or(s.guidance);
    experts.push_back({models[i].denoiser.get(), models[i].min_timestep, models[i].max_timestep, g});
  }
  diffusion::DenoiseHooks hooks;
  std::vector<int64_t> step_expert;
  std::vector<float> step_guide;
  hooks.progress = [&](const diffusion::StepInfo& info) {
    // Intermediates name the expert as the official fixtures do: 1 = the first (high-noise) expert.
    step_expert.push_back(info.expert == 0 && models.size() > 1 ? 1 : 0);
    step_guide.push_back(static_cast<float>(info.guidance));
    if (progress.step) progress.step(info.step + 1, info.total_steps, info.seconds);
  };
  if (keep) hooks.dump = save;
  latent = diffusion::denoise(*sampler, experts, latent, conditioning, hooks);
  save("latent_final", latent);
  if (models.size() > 1) save("step_expert", torch::tensor(step_expert, torch::kInt64));
  save("step_guide", torch::tensor(step_guide, torch::kFloat32));
  result.denoise_seconds = seconds_since(t0);

  // 4. Metadata, latent file, then decode + write, frame by frame.
  nlohmann::json meta = {{"model", model_->name()},
                         {"prompt", s.prompt},
                         {"negative_prompt", s.negative_prompt},
                         {"seed", s.seed},
                         {"steps", s.steps},
                         {"guidance", s.guidance},
                         {"shift", s.shift},
                         {"sampler", s.sampler},
                         {"width", s.grid.width},
                         {"height", s.grid.height},
                         {"frames", result.frames},
                         {"fps", std::to_string(s.fps.num) + "/" + std::to_string(s.fps.den)},
                         {"generator", std::string("t2v ") + T2V_VERSION}};
  if (models.size() > 1) {
    meta["guidance_2"] = s.guidance_2.value_or(s.guidance);
    meta["boundary_timestep"] = models[1].max_timestep;
  }
  if (!plan.inputs.empty()) meta["conditions"] = plan.metadata();
  result.settings = meta;
  // What is decoded is exactly what --save-latents stores (and --decode-only decodes again).
  LatentFile out{latent, plan.layout, {}, s.grid.width, s.grid.height, result.frames, s.fps, s.prompt, meta};
  if (out.layout.empty()) out.layout = {{true, -1, 0, s.grid.frames}};
  for (const auto& span : out.layout)
    if (!span.generated) out.kept[span.input] = plan.inputs[span.input].fitted;
  if (!s.save_latents.empty()) save_latent_file(s.save_latents, out);
  if (progress.stage) progress.stage("decode");
  t0 = Clock::now();
  std::vector<torch::Tensor> video_chunks;
  write_video(out, s.output, s.crf, s.codec, progress, keep ? &video_chunks : nullptr);
  if (keep) {
    auto video = torch::cat(video_chunks, 1);
    save("video", video);
    save("frames_u8", to_uint8_frames(video));
    io::save_safetensors(s.save_intermediates, saved, {{"prompt", s.prompt}, {"seed", std::to_string(s.seed)}});
  }
  result.decode_seconds = seconds_since(t0);
  result.total_seconds = seconds_since(t_start);
  result.peak_rss_bytes = peak_rss_bytes();
  result.peak_gpu_bytes = gpu_peak_bytes(device, /*reset=*/false);
  return result;
}

GenerationResult Pipeline::decode_latents(const LatentFile& f, const fs::path& output, int crf, io::Codec codec,
                                          const ProgressCallbacks& progress) {
  const auto t_start = Clock::now();
  const auto lim = model_->grid_limits();
  const int64_t sf = lim.vae_stride, tf = lim.temporal_stride, z_dim = model_->latent_channels();
  if (f.latent.size(0) != z_dim || f.latent.size(2) * sf != f.height || f.latent.size(3) * sf != f.width) {
    throw InputError("decode_only: the latent [" + std::to_string(f.latent.size(0)) + ", " + std::to_string(f.latent.size(1)) +
                     ", " + std::to_string(f.latent.size(2)) + ", " + std::to_string(f.latent.size(3)) +
                     "] does not fit this model's VAE (" + std::to_string(z_dim) + " channels, stride " +
                     std::to_string(sf) + ") at " + std::to_string(f.width) + "x" + std::to_string(f.height));
  }
  const std::string made_by = f.settings.value("model", std::string());
  if (!made_by.empty() && made_by != model_->name()) {
    t2v::logger().warn("decode_only: the latent was made with model {}, decoding with {}'s VAE", made_by, model_->name());
  }
  const int decoded = static_cast<int>(1 + tf * (f.latent.size(1) - 1));
  for (const auto& span : f.layout) {
    if (span.generated && span.first + span.count > decoded) {
      throw InputError("decode_only: the layout needs more frames than the latent decodes to (" + std::to_string(decoded) + ")");
    }
  }
  if (progress.stage) progress.stage("decode");
  GenerationResult result;
  result.output = output;
  result.frames = f.frames;
  result.width = f.width;
  result.height = f.height;
  result.settings = f.settings;
  if (f.settings.contains("seed") && f.settings["seed"].is_number_unsigned()) result.seed = f.settings["seed"].get<uint64_t>();
  write_video(f, output, crf, codec, progress, nullptr);
  result.decode_seconds = result.total_seconds = seconds_since(t_start);
  result.peak_rss_bytes = peak_rss_bytes();
  result.peak_gpu_bytes = gpu_peak_bytes(model_->runtime().device, /*reset=*/false);
  return result;
}

}  // namespace t2v::pipeline
