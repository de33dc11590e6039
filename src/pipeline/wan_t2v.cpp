// Reference: W21 wan/text2video.py WanT2V.generate, wan/utils/utils.py cache_video.
#include "t2v/io/json_file.h"
#include "t2v/pipeline/wan_t2v.h"

#include <ATen/core/Generator.h>
#include "t2v/log.h"
#include <torch/torch.h>
#include <torch/version.h>

#include <chrono>
#include <mutex>
#include <optional>

#include "t2v/diffusion/denoise.h"
#include "t2v/error.h"
#include "t2v/io/safetensors.h"
#include "t2v/models/wan/support.h"
#include "t2v/models/wan/transformer.h"
#include "t2v/models/wan/vae.h"
#include "t2v/runtime.h"
#include "t2v/sampling/sampler.h"
#include "t2v/text/text_encoder.h"

namespace t2v::pipeline {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const char* const kWanDefaultNegativePrompt =
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，"
    "JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，"
    "形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走";

namespace {
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The Wan DiT as the loop's denoiser: branch 0 runs with the prompt's context, 1 with the negative's.
class WanDenoiser final : public diffusion::Denoiser {
 public:
  WanDenoiser(wan::WanTransformer3DModel dit, wan::WanTextContext cond, wan::WanTextContext uncond)
      : dit_(std::move(dit)), cond_(std::move(cond)), uncond_(std::move(uncond)) {}
  torch::Tensor velocity(const torch::Tensor& x, const torch::Tensor& t, int branch) override {
    return dit_->forward(x, t, branch == 0 ? cond_ : uncond_);  // [1, C, T, h, w]
  }

 private:
  wan::WanTransformer3DModel dit_;
  wan::WanTextContext cond_, uncond_;
};

}  // namespace

struct WanT2VPipeline::Models {
  std::unique_ptr<text::TextEncoder> text_encoder;
  wan::WanTransformer3DModel dit{nullptr};
  wan::WanVAE vae{nullptr};
};

WanT2VPipeline::WanT2VPipeline(wan::WanModelSource source, PipelineOptions options)
    : source_(std::move(source)), options_(options), models_(std::make_unique<Models>()) {
  wan::check_supported(source_);  // before any weights load
}

WanT2VPipeline::~WanT2VPipeline() = default;

GridLimits WanT2VPipeline::grid_limits() const {
  GridLimits lim;
  const auto& c = source_.transformer_config;
  lim.vae_stride = static_cast<int>(source_.vae_config.scale_factor_spatial);
  lim.spatial_multiple = lim.vae_stride * static_cast<int>(std::max(c.patch_size[1], c.patch_size[2]));
  lim.temporal_stride = static_cast<int>(source_.vae_config.scale_factor_temporal);
  lim.max_tokens_per_axis = static_cast<int>(c.rope_max_seq_len);
  // Wan2.1 T2V-1.3B is trained at 480p; the wider models also at 720p (spec §4.5).
  if (c.dim() > 1536) lim.trained_area = 1280 * 720;
  // A model that declares its own default size (the demo model: 64x64) is trained at that size.
  const auto& d = source_.defaults;
  if (d.width && d.height) {
    lim.default_width = *d.width;
    lim.default_height = *d.height;
    lim.trained_area = *d.width * *d.height;
  }
  if (d.frames) lim.default_frames = *d.frames;
  return lim;
}

void WanT2VPipeline::prepare_prompts(const std::vector<std::string>& prompts) {
  std::vector<std::string> todo;
  for (const auto& p : prompts)
    if (!contexts_.count(p) && std::find(todo.begin(), todo.end(), p) == todo.end()) todo.push_back(p);
  if (todo.empty()) return;
  if (!models_->text_encoder) {
    text::TextEncoderOptions o;
    o.device = options_.text_encoder_device;
    o.dtype = options_.text_encoder_dtype;
    o.compute_dtype = options_.text_encoder_compute_dtype;
    models_->text_encoder = std::make_unique<text::TextEncoder>(source_, o);
  }
  auto contexts = models_->text_encoder->encode(todo);
  for (size_t i = 0; i < todo.size(); ++i) contexts_[todo[i]] = contexts[i].to(torch::kCPU);
  // Free the encoder (11 GB for umT5-XXL in bf16) before the DiT needs the memory.
  models_->text_encoder.reset();
  release_free_memory();  // the encoder's weights go back to the system before the DiT loads
}

const torch::Tensor& WanT2VPipeline::context_for(const std::string& prompt) {
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

std::vector<std::string> WanT2VPipeline::supported_modes() const {
  return wan::supported_modes(source_);
}

diffusion::Conditioning WanT2VPipeline::encode_conditions(const GenerationSettings& s) {
  diffusion::Conditioning c;
  const auto& plan = s.conditions;
  const bool init = plan.init_input >= 0;
  if (!init && !plan.has_known()) return c;
  if (models_->vae.is_empty()) models_->vae = wan::load_wan_vae(source_, options_.device);
  torch::NoGradGuard no_grad;
  const int stride = static_cast<int>(source_.vae_config.scale_factor_temporal);
  if (init) {
    c.init_latent = models_->vae->encode(plan.init_video(s.grid.frames).to(options_.device));  // [16, T, h, w]
    c.strength = plan.strength;
  }
  if (plan.has_known()) {
    auto z = models_->vae->encode(plan.known_video(stride).to(options_.device));  // [16, T', h, w], T' <= T
    c.known_latent = torch::zeros({z.size(0), s.grid.latent_frames, z.size(2), z.size(3)}, z.options());
    c.known_latent.slice(1, 0, z.size(1)).copy_(z);
    c.known_weight = torch::tensor(plan.latent_weight, torch::kFloat32).to(options_.device);  // [T]
  }
  return c;
}

void WanT2VPipeline::write_video(const LatentFile& f, const fs::path& output, int crf, io::Codec codec,
                                 const ProgressCallbacks& progress, std::vector<torch::Tensor>* keep_chunks) {
  if (models_->vae.is_empty()) models_->vae = wan::load_wan_vae(source_, options_.device);
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
  wan::VAEDecodeOptions vo;
  vo.tile_size = options_.vae_tile;
  vo.overlap = options_.vae_overlap;
  models_->vae->decode_stream(
      f.latent.to(options_.device),
      [&](const torch::Tensor& frames) {  // [3, n, H, W]
        check_interrupted();
        if (keep_chunks) keep_chunks->push_back(frames.to(torch::kCPU));
        composer.generated(to_uint8_frames(frames).to(torch::kCPU));  // [n, H, W, 3]
        if (progress.frames) progress.frames(composer.written(), f.frames);
      },
      vo);
  composer.finish();
}

GenerationResult WanT2VPipeline::generate(const GenerationSettings& s, const ProgressCallbacks& progress) {
  const auto t_start = Clock::now();
  gpu_peak_bytes(options_.device, /*reset=*/true);
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
    if (keep) saved.emplace_back(name, t.detach().to(torch::kCPU).clone());
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
  diffusion::Conditioning conditioning = encode_conditions(s);
  if (conditioning.known_latent.defined()) save("known_latent", conditioning.known_latent);
  if (conditioning.init_latent.defined()) save("init_latent", conditioning.init_latent);

  // 3. Denoise.
  if (progress.stage) progress.stage("denoise");
  t0 = Clock::now();
  if (models_->dit.is_empty()) models_->dit = wan::load_wan_transformer(source_, options_.dtype, options_.device);
  auto& dit = models_->dit;
  torch::NoGradGuard no_grad;
  auto cond = dit->encode_text(context.unsqueeze(0).to(options_.device));        // [1, text_len, dim]
  auto uncond = dit->encode_text(context_null.unsqueeze(0).to(options_.device));

  auto sampler = sampling::make_sampler(s.sampler);
  sampler->set_timesteps(s.steps, s.shift);
  // The noise is a VAE latent (z_dim channels); the DiT's input is only that for text-to-video models.
  const int64_t z_dim = source_.vae_config.z_dim;
  const std::vector<int64_t> shape = {z_dim, s.grid.latent_frames, s.grid.latent_height, s.grid.latent_width};
  torch::Tensor latent = draw_noise(shape, s.seed, options_.device);  // [16, T, h, w]
  save("noise", latent);
  save("timesteps", torch::tensor(sampler->timesteps(), torch::kInt64));
  save("sigmas", sampler->sigmas());
  WanDenoiser denoiser(dit, cond, uncond);
  diffusion::Expert expert;
  expert.denoiser = &denoiser;
  expert.guidance = s.guidance;
  diffusion::DenoiseHooks hooks;
  hooks.progress = [&](const diffusion::StepInfo& info) {
    if (progress.step) progress.step(info.step + 1, info.total_steps, info.seconds);
  };
  if (keep) hooks.dump = save;
  latent = diffusion::denoise(*sampler, {expert}, latent, conditioning, hooks);
  save("latent_final", latent);
  result.denoise_seconds = seconds_since(t0);

  // 4. Metadata, latent file, then decode + write, frame by frame.
  nlohmann::json meta = {{"model", source_.root.filename().string()},
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
  result.peak_gpu_bytes = gpu_peak_bytes(options_.device, /*reset=*/false);
  return result;
}

GenerationResult WanT2VPipeline::decode_latents(const LatentFile& f, const fs::path& output, int crf, io::Codec codec,
                                                const ProgressCallbacks& progress) {
  const auto t_start = Clock::now();
  const auto& vc = source_.vae_config;
  const int64_t sf = vc.scale_factor_spatial, tf = vc.scale_factor_temporal;
  if (f.latent.size(0) != vc.z_dim || f.latent.size(2) * sf != f.height || f.latent.size(3) * sf != f.width) {
    throw InputError("decode_only: the latent [" + std::to_string(f.latent.size(0)) + ", " + std::to_string(f.latent.size(1)) +
                     ", " + std::to_string(f.latent.size(2)) + ", " + std::to_string(f.latent.size(3)) +
                     "] does not fit this model's VAE (" + std::to_string(vc.z_dim) + " channels, stride " +
                     std::to_string(sf) + ") at " + std::to_string(f.width) + "x" + std::to_string(f.height));
  }
  const std::string made_by = f.settings.value("model", std::string());
  if (!made_by.empty() && made_by != source_.root.filename().string()) {
    t2v::logger().warn("decode_only: the latent was made with model {}, decoding with {}'s VAE", made_by,
                       source_.root.filename().string());
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
  result.peak_gpu_bytes = gpu_peak_bytes(options_.device, /*reset=*/false);
  return result;
}

}  // namespace t2v::pipeline
