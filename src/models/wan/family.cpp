// Reference: W21 wan/text2video.py WanT2V (__init__: which model runs where and in which dtype;
// generate: text encode, the DiT per guidance branch, VAE decode), wan/configs/ for the defaults.
#include "t2v/models/wan/family.h"

#include <torch/torch.h>
#include <unistd.h>

#include <set>

#include "t2v/error.h"
#include "t2v/io/state_dict_loader.h"
#include "t2v/log.h"
#include "t2v/models/wan/clip.h"
#include "t2v/models/wan/support.h"
#include "t2v/models/wan/transformer.h"
#include "t2v/models/wan/vae.h"
#include "t2v/runtime.h"
#include "t2v/text/text_encoder.h"

namespace t2v::wan {
namespace fs = std::filesystem;
using nlohmann::json;

const char* const kDefaultNegativePrompt =
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，"
    "JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，"
    "形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走";

bool is_wan_pipeline_class(const std::string& class_name) { return class_name.rfind("Wan", 0) == 0; }

namespace {

// Loads expert `index`'s DiT on demand (the other may be freed to make room) and returns it with a
// load counter, so that a denoiser knows when its text embeddings must be recomputed.
using DitProvider = std::function<std::pair<WanTransformer3DModel, int64_t>(int index)>;

// One Wan DiT as a denoiser: branch 0 runs with the prompt's context, 1 with the negative's. The
// DiT is fetched per call, not held, so an expert that is switched out can be freed.
class WanDenoiser final : public models::Denoiser {
 public:
  WanDenoiser(DitProvider provider, int index, torch::Tensor context, torch::Tensor context_null, torch::Tensor clip)
      : provider_(std::move(provider)),
        index_(index),
        context_(std::move(context)),
        context_null_(std::move(context_null)),
        clip_(std::move(clip)) {}
  torch::Tensor velocity(const torch::Tensor& x, const torch::Tensor& t, int branch) override {
    auto [dit, load] = provider_(index_);
    if (load != load_) {  // text_embedding belongs to each expert: [1, text_len, dim] per branch
      // The image context (I2V / FLF2V) is the same for both branches (W21 image2video.py clip_context).
      cond_ = dit->encode_text(context_.unsqueeze(0).to(x.device()), clip_);
      uncond_ = dit->encode_text(context_null_.unsqueeze(0).to(x.device()), clip_);
      load_ = load;
    }
    // Per-latent-frame timesteps (known frames at t = 0) become per-token ones.
    const auto tt = t.dim() == 2 ? frame_to_token_timesteps(t, x.sizes(), dit->config().patch_size) : t;
    return dit->forward(x, tt, branch == 0 ? cond_ : uncond_);  // [1, C, T, h, w]
  }

 private:
  DitProvider provider_;
  int index_;
  torch::Tensor context_, context_null_;  // trimmed fp32 [L, text_dim]
  torch::Tensor clip_;                    // [n, tokens, image_dim] or undefined
  int64_t load_ = -1;
  WanTextContext cond_, uncond_;
};

json describe_component(const Component& c, const json& config) {
  std::set<std::string> dtypes;
  size_t tensors = 0;
  for (const auto& key : c.store.keys()) {
    if (io::is_auxiliary_key(key)) continue;
    dtypes.insert(io::dtype_name(c.store.info(key).dtype));
    ++tensors;
  }
  json files = json::array();
  for (const auto& f : c.store.files()) files.push_back({{"path", f->path().string()}, {"bytes", f->file_size()}});
  return {{"class", c.class_name},  {"layout", c.layout}, {"config_origin", c.config_origin},
          {"config", config},       {"dtypes", dtypes},   {"files", files},
          {"bytes", c.store.total_file_bytes()}, {"tensors", tensors},
          {"parameters", io::count_parameters(c.store)}};
}

uint64_t physical_ram_bytes() {
  return static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(sysconf(_SC_PAGE_SIZE));
}

class WanModel final : public models::VideoModel {
 public:
  WanModel(WanModelSource source, const models::RuntimeOptions& options) : source_(std::move(source)), options_(options) {
    if (options_.text_len) {
      if (*options_.text_len < 1) throw UsageError("text_len must be at least 1");
      source_.text_len = *options_.text_len;
      source_.transformer_config.text_len = *options_.text_len;
    }
    // As WanT2V: the DiT in bf16 on the GPU (wan_shared_cfg.param_dtype), fp32 on the CPU.
    if (!options_.dtype) options_.dtype = options_.device.is_cuda() ? torch::kBFloat16 : torch::kFloat32;
    if (!options_.text_encoder_device) options_.text_encoder_device = options_.device;
    if (options_.vae_tile && (options_.vae_tile % 8 || options_.vae_overlap % 8 || options_.vae_overlap >= options_.vae_tile)) {
      throw UsageError("vae_tile and vae_overlap must be multiples of 8 with overlap < tile");
    }
    text_.device = *options_.text_encoder_device;
    // Wan runs umT5 in bf16 on the GPU (wan_shared_cfg.t5_dtype). On the CPU the math is fp32
    // (exact, and 2.6x faster than bf16 matmul here); the weights stay fp32 when they fit
    // comfortably in RAM, else they are kept in bf16 (umT5-XXL: 11.4 GB instead of 22.7 GB; Wan's
    // own umT5 weights are bf16) and each layer's weights are widened to fp32 just before use.
    if (options_.text_encoder_dtype) {
      text_.dtype = *options_.text_encoder_dtype;
    } else if (text_.device.is_cuda()) {
      text_.dtype = torch::kBFloat16;
    } else {
      const uint64_t fp32_bytes = io::count_parameters(source_.text_encoder.store) * 4;
      text_.dtype = fp32_bytes < physical_ram_bytes() * 2 / 5 ? torch::kFloat32 : torch::kBFloat16;
      if (text_.dtype != torch::kFloat32) text_.compute_dtype = torch::kFloat32;
    }
  }

  std::string family() const override { return source_.two_experts || ti2v() || i2v() ? "wan2.2" : "wan2.1"; }
  std::string name() const override { return source_.root.filename().string(); }
  fs::path root() const override { return source_.root; }

  json describe() const override {
    const auto& s = source_;
    json out = {{"source", s.kind}, {"path", s.root.string()}, {"family", family()}, {"text_len", s.text_len}};
    out["tokenizer"] = s.tokenizer_file.empty() ? json{{"origin", "spiece_model tensor"}, {"bytes", s.tokenizer_blob.size()}}
                                                : json{{"origin", s.tokenizer_file.string()}};
    out["text_encoder"] = describe_component(s.text_encoder, s.text_encoder_config.to_json());
    out["transformer"] = describe_component(s.transformer, s.transformer_config.to_json());
    if (s.two_experts) {
      out["transformer_2"] = describe_component(s.transformer_2, s.transformer_2_config.to_json());
      out["experts"] = {{{"component", "transformer"}, {"serves", "high noise"}, {"min_timestep", boundary()}},
                        {{"component", "transformer_2"}, {"serves", "low noise"}, {"max_timestep", boundary()}}};
      out["boundary_ratio"] = s.boundary_ratio;
    }
    out["vae"] = describe_component(s.vae, s.vae_config.to_json());
    if (s.has_image_encoder) out["image_encoder"] = describe_component(s.image_encoder, s.image_encoder_config.to_json());
    if (!s.scheduler_config.is_null()) out["scheduler"] = s.scheduler_config;
    const auto why = unsupported_reason();
    out["supported"] = !why.has_value();
    if (why) out["unsupported_reason"] = *why;
    out["modes"] = supported_modes();
    return out;
  }

  std::optional<std::string> unsupported_reason() const override { return wan::unsupported_reason(source_); }
  std::vector<std::string> supported_modes() const override { return wan::supported_modes(source_); }

  models::GridLimits grid_limits() const override {
    models::GridLimits lim;
    const auto& c = source_.transformer_config;
    lim.vae_stride = static_cast<int>(source_.vae_config.scale_factor_spatial);
    lim.spatial_multiple = lim.vae_stride * static_cast<int>(std::max(c.patch_size[1], c.patch_size[2]));
    lim.temporal_stride = static_cast<int>(source_.vae_config.scale_factor_temporal);
    lim.max_tokens_per_axis = static_cast<int>(c.rope_max_seq_len);
    // Wan2.1 T2V-1.3B is trained at 480p; the wider 14B also at 720p (W21 wan/configs SUPPORTED_SIZES).
    if (c.dim() > 1536) lim.trained_area = 1280 * 720;
    // A model that declares its own default size (the demo model: 64x64) is trained at that size.
    const auto& d = source_.defaults;
    if (ti2v()) {  // W22 wan/configs/wan_ti2v_5B.py: 1280*704, 121 frames
      lim.default_width = 1280;
      lim.default_height = 704;
      lim.default_frames = 121;
      lim.trained_area = 1280 * 704;
      lim.image_rule = models::GridLimits::ImageRule::kBestOutputSize;
      // W22 wan/textimage2video.py WanTI2V.i2v: the image's latent frame is imposed clean, its tokens at t = 0.
      lim.known_frames = models::GridLimits::KnownFrames::kCleanAtT0;
    }
    if (i2v() || clip_i2v()) {
      // W22 wan_i2v_A14B.py / W21 wan_i2v_14B.py + generate.py: max_area 1280*720 (the 480P
      // checkpoints: 832*480), 81 frames; the image's aspect sets the size.
      lim.default_width = res480() ? 832 : 1280;
      lim.default_height = res480() ? 480 : 720;
      lim.trained_area = lim.default_width * lim.default_height;
      lim.image_rule = models::GridLimits::ImageRule::kWanI2VFloat;
      lim.known_frames = models::GridLimits::KnownFrames::kMaskChannels;
      if (clip_i2v()) lim.image_context_images = c.model_type == "flf2v" ? 2 : 1;
    }
    if (d.width && d.height) {
      lim.default_width = *d.width;
      lim.default_height = *d.height;
      lim.trained_area = *d.width * *d.height;
    }
    if (d.frames) lim.default_frames = *d.frames;
    return lim;
  }

  models::ModelDefaults defaults() const override {
    // W21 generate.py / wan/configs: 50 steps, guide 5.0, shift 5.0, unipc, 16 fps.
    models::ModelDefaults m;
    m.negative_prompt = kDefaultNegativePrompt;
    if (source_.two_experts) {
      // W22 wan/configs/wan_t2v_A14B.py: 40 steps, shift 12.0, sample_guide_scale (3.0, 4.0) =
      // (low-noise, high-noise); wan_i2v_A14B.py: shift 5.0, (3.5, 3.5).
      const bool i2v = source_.transformer_config.model_type == "i2v";
      m.steps = 40;
      m.shift = i2v ? 5.0 : 12.0;
      m.guidance = i2v ? 3.5 : 4.0;
      m.guidance_2 = i2v ? 3.5 : 3.0;
    }
    if (ti2v()) m.fps = {24, 1};  // W22 wan_ti2v_5B.py: sample_fps 24 (steps 50, shift 5, guide 5 as Wan2.1)
    if (clip_i2v()) {
      // W21 wan/configs: i2v_14B's negative prompt is "镜头晃动，" + the default, flf2v_14B's
      // "镜头切换，" + i2v's; generate.py: i2v 40 steps, shift 3.0 at 480p and 5.0 otherwise;
      // flf2v 50 steps, shift 16; guide 5.0.
      const bool flf2v = source_.transformer_config.model_type == "flf2v";
      m.negative_prompt = std::string(flf2v ? "镜头切换，" : "") + "镜头晃动，" + kDefaultNegativePrompt;
      m.steps = flf2v ? 50 : 40;
      m.shift = flf2v ? 16.0 : res480() ? 3.0 : 5.0;
    }
    const auto& d = source_.defaults;
    if (d.steps) m.steps = *d.steps;
    if (d.guidance) m.guidance = *d.guidance;
    if (d.guidance_2 && m.guidance_2) m.guidance_2 = *d.guidance_2;
    if (d.shift) m.shift = *d.shift;
    if (d.sampler) m.sampler = *d.sampler;
    if (d.negative_prompt) m.negative_prompt = *d.negative_prompt;
    return m;
  }

  int64_t latent_channels() const override { return source_.vae_config.z_dim; }
  const models::RuntimeOptions& runtime() const override { return options_; }

  std::vector<torch::Tensor> encode_prompts(const std::vector<std::string>& prompts) override {
    std::vector<torch::Tensor> out;
    {
      text::TextEncoder encoder(source_, text_);
      for (auto& c : encoder.encode(prompts)) out.push_back(c.to(torch::kCPU));
    }
    // The encoder (11 GB for umT5-XXL in bf16) goes back to the system before the DiT loads.
    release_free_memory();
    return out;
  }

  torch::Tensor encode_images(const std::vector<torch::Tensor>& images) override {
    if (!source_.has_image_encoder) return {};
    torch::NoGradGuard no_grad;
    torch::Tensor features;
    {
      // W21 i2v_14B.clip_dtype float16 on the GPU; fp32 (exact) on the CPU. Freed after use.
      const auto dtype = options_.device.is_cuda() ? torch::kFloat16 : torch::kFloat32;
      auto clip = load_clip_vision(source_.image_encoder_config, source_.image_encoder.store, dtype, options_.device);
      features = clip->encode(images).to(torch::kCPU);  // [n, tokens, width] fp32
    }
    release_free_memory();
    return features;
  }

  std::vector<models::ExpertModel> experts(const torch::Tensor& context, const torch::Tensor& context_null,
                                           const torch::Tensor& image_context) override {
    if (clip_i2v() && !image_context.defined()) throw Error("experts: this image-to-video model needs its image context");
    DitProvider provider = [this](int i) { return std::make_pair(dit(i), loads_[i]); };
    if (!source_.two_experts) {
      dit(0);  // load now: the denoise stage's time is the steps', not the first step's load
      return {{std::make_shared<WanDenoiser>(provider, 0, context, context_null, image_context), 0, 1e9}};
    }
    // W22 wan/text2video.py WanT2V.generate: t >= boundary -> high_noise_model, else low_noise_model.
    // The high-noise expert runs first; the low-noise one loads at the switch.
    dit(0);
    return {{std::make_shared<WanDenoiser>(provider, 0, context, context_null, image_context), boundary(), 1e9},
            {std::make_shared<WanDenoiser>(provider, 1, context, context_null, image_context), 0, boundary()}};
  }

  torch::Tensor encode_video(const torch::Tensor& video) override {
    torch::NoGradGuard no_grad;
    return vae()->encode(video.to(options_.device));  // [3, F, H, W] -> [16, 1 + (F - 1) / 4, H / 8, W / 8]
  }

  void decode_video(const torch::Tensor& latent, const std::function<void(const torch::Tensor&)>& on_frames) override {
    torch::NoGradGuard no_grad;
    VAEDecodeOptions vo;
    vo.tile_size = options_.vae_tile;
    vo.overlap = options_.vae_overlap;
    vae()->decode_stream(latent.to(options_.device), on_frames, vo);
  }

 private:
  double boundary() const { return source_.boundary_ratio * 1000.0; }  // x num_train_timesteps
  bool ti2v() const { return source_.transformer_config.model_type == "ti2v"; }
  // Wan2.2 I2V-A14B: mask + image latent channels, no CLIP image context.
  bool i2v() const { return source_.transformer_config.model_type == "i2v" && source_.transformer_config.image_dim == 0; }
  // Wan2.1 I2V-14B / FLF2V-14B: mask + image latent channels and CLIP image context.
  bool clip_i2v() const { return source_.transformer_config.image_dim > 0; }
  // The 480P checkpoints (Wan2.1-I2V-14B-480P, ComfyUI wan2.1_i2v_480p_*) by their names.
  bool res480() const {
    auto lower = [](std::string s) {
      for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      return s;
    };
    return lower(source_.root.filename().string() + " " + source_.transformer.store.source().filename().string())
               .find("480p") != std::string::npos;
  }

  // Expert i's DiT, loaded on first use. With two experts, the other one is freed first unless both
  // fit: in 40% of RAM on the CPU; on a GPU one 14B expert at a time, as the official
  // offload_model=True (W22 generate.py) does.
  WanTransformer3DModel& dit(int i) {
    if (dits_[i].is_empty()) {
      if (source_.two_experts && !dits_[1 - i].is_empty() && !both_experts_fit()) {
        t2v::logger().info("expert switch: freeing the {} expert to load the {} one", i == 0 ? "low-noise" : "high-noise",
                           i == 0 ? "high-noise" : "low-noise");
        dits_[1 - i] = WanTransformer3DModel{nullptr};
        release_free_memory();
      }
      const auto& c = i == 0 ? source_.transformer : source_.transformer_2;
      const auto& cfg = i == 0 ? source_.transformer_config : source_.transformer_2_config;
      dits_[i] = load_wan_transformer(cfg, c.store, *options_.dtype, options_.device, c.layout);
      loads_[i] = ++load_counter_;
    }
    return dits_[i];
  }

  bool both_experts_fit() const {
    if (!options_.device.is_cpu()) return false;
    const uint64_t bytes = (io::count_parameters(source_.transformer.store) + io::count_parameters(source_.transformer_2.store)) *
                           static_cast<uint64_t>(c10::elementSize(*options_.dtype));
    return bytes < physical_ram_bytes() * 2 / 5;
  }

  WanVAE& vae() {
    if (vae_.is_empty()) vae_ = load_wan_vae(source_, options_.device);
    return vae_;
  }

  WanModelSource source_;
  models::RuntimeOptions options_;
  text::TextEncoderOptions text_;
  WanTransformer3DModel dits_[2] = {WanTransformer3DModel{nullptr}, WanTransformer3DModel{nullptr}};
  int64_t loads_[2] = {-1, -1};
  int64_t load_counter_ = 0;
  WanVAE vae_{nullptr};
};

}  // namespace

std::unique_ptr<models::VideoModel> make_model(WanModelSource source, const models::RuntimeOptions& options) {
  const std::string kind = source.kind;
  auto m = std::make_unique<WanModel>(std::move(source), options);
  t2v::logger().info("model: {} ({}), device {}, DiT dtype {}", m->root().string(), kind,
                     m->runtime().device.str(), c10::toString(*m->runtime().dtype));
  return m;
}

std::unique_ptr<models::VideoModel> open_model(const models::ModelLocation& location,
                                               const models::RuntimeOptions& options) {
  if (!location.folder.empty()) return make_model(open_diffusers_folder(location.folder), options);
  auto file = [&](const char* role) {
    auto it = location.files.find(role);
    return it == location.files.end() ? fs::path() : it->second;
  };
  for (const auto& [role, path] : location.files) {
    if (role != "transformer" && role != "transformer_2" && role != "text_encoder" && role != "vae" && role != "tokenizer" &&
        role != "image_encoder") {
      throw UsageError("files: a Wan model has no \"" + role + "\" component (" + path.string() + ")");
    }
  }
  SingleFilePaths paths;
  paths.transformer = file("transformer");
  paths.transformer_2 = file("transformer_2");
  paths.text_encoder = file("text_encoder");
  paths.vae = file("vae");
  paths.tokenizer = file("tokenizer");
  paths.image_encoder = file("image_encoder");
  return make_model(open_single_files(paths), options);
}

}  // namespace t2v::wan
