#include "cli/generate_options.h"

#include <spdlog/spdlog.h>

#include <random>

#include "t2v/demo/demo_model.h"
#include "t2v/error.h"
#include "t2v/models/registry.h"
#include "t2v/runtime.h"
#include "t2v/sampling/sampler.h"

namespace t2v::cli {
namespace fs = std::filesystem;

void add_model_options(CLI::App* cmd, ModelOptions* o) {
  auto* g = "Model";
  cmd->add_option("-m,--model", o->model_dir, "Diffusers model folder (e.g. models/Wan2.1-T2V-1.3B-Diffusers; default: the bundled demo model)")
      ->check(CLI::ExistingDirectory)
      ->group(g);
  cmd->add_option("--transformer,--high-noise", o->files.transformer,
                  "DiT single file (ComfyUI .safetensors); of a two-expert model (Wan2.2 A14B) the high-noise expert")
      ->check(CLI::ExistingFile)
      ->group(g);
  cmd->add_option("--transformer-2,--low-noise", o->files.transformer_2,
                  "The low-noise expert's single file of a two-expert model (Wan2.2 A14B)")
      ->check(CLI::ExistingFile)
      ->group(g);
  cmd->add_option("--text-encoder", o->files.text_encoder, "umT5 single file")->check(CLI::ExistingFile)->group(g);
  cmd->add_option("--image-encoder", o->files.image_encoder,
                  "CLIP vision single file of Wan2.1 I2V / FLF2V (ComfyUI clip_vision_h.safetensors)")
      ->check(CLI::ExistingFile)
      ->group(g);
  cmd->add_option("--vae", o->files.vae, "VAE single file")->check(CLI::ExistingFile)->group(g);
  cmd->add_option("--tokenizer", o->files.tokenizer, "spiece.model (default: inside the umT5 file)")
      ->check(CLI::ExistingFile)
      ->group(g);
  cmd->add_option("--text-len", o->text_len, "Prompt tokens incl. </s> (default: the model's, 512 for Wan)")
      ->check(CLI::Range(1, 4096))
      ->group(g);
  auto* r = "Runtime";
  cmd->add_option("--device", o->device, "auto | cpu | cuda | cuda:N")->capture_default_str()->group(r);
  cmd->add_option("--dtype", o->dtype, "DiT weights: auto (fp32 on CPU, bf16 on CUDA) | fp32 | bf16 | fp16")
      ->check(CLI::IsMember({"auto", "fp32", "bf16", "fp16"}))
      ->capture_default_str()
      ->group(r);
  cmd->add_option("--text-encoder-device", o->text_encoder_device, "Where umT5 runs (auto = --device; cpu saves GPU memory)")
      ->capture_default_str()
      ->group(r);
  cmd->add_option("--threads", o->threads, "CPU threads (0 = all cores)")->check(CLI::NonNegativeNumber)->group(r);
  cmd->add_option("--vae-tile", o->vae_tile, "Decode in spatial tiles of this many pixels (0 = whole frames)")
      ->check(CLI::NonNegativeNumber)
      ->group(r);
  cmd->add_option("--vae-tile-overlap", o->vae_tile_overlap, "Tile overlap in pixels, blended")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str()
      ->group(r);
}

void add_generate_options(CLI::App* cmd, GenerateOptions* o, bool with_prompt) {
  auto* p = "Prompt";
  if (with_prompt) cmd->add_option("-p,--prompt", o->prompt, "What the video shows (required unless --decode-only)")->group(p);
  cmd->add_option("-n,--negative-prompt", o->negative_prompt,
                  "What to avoid (default: Wan's default negative prompt; \"\" for none)")
      ->group(p);
  auto* s = "Size and length";
  cmd->add_option("--width", o->width, "Width in pixels (rounded to a multiple of 16)")->check(CLI::PositiveNumber)->group(s);
  cmd->add_option("--height", o->height, "Height in pixels (rounded to a multiple of 16)")->check(CLI::PositiveNumber)->group(s);
  cmd->add_option("--size", o->size, "WIDTHxHEIGHT, e.g. 832x480 (default: the model's, 832x480 for Wan2.1)")->group(s);
  cmd->add_option("--resolution", o->resolution, "480p | 720p | 1080p (with --aspect)")
      ->check(CLI::IsMember({"480p", "720p", "1080p"}))
      ->group(s);
  cmd->add_option("--aspect", o->aspect, "16:9 | 9:16 | 1:1 | 4:3 | 3:4 | 21:9")
      ->check(CLI::IsMember({"16:9", "9:16", "1:1", "4:3", "3:4", "21:9"}))
      ->group(s);
  cmd->add_option("--frames", o->frames, "Video frames, made 4k+1 (default 81; 1 = an image)")->check(CLI::PositiveNumber)->group(s);
  cmd->add_option("--duration", o->duration, "Length in seconds (frames = duration x fps, made 4k+1)")->group(s);
  cmd->add_option("--fps", o->fps, "Frame rate, e.g. 16 or 24000/1001 (default: the model's native, 16)")->group(s);
  auto* q = "Sampling";
  cmd->add_option("--steps", o->steps, "Denoising steps (default: the model's, 50 for Wan)")->check(CLI::Range(1, 1000))->group(q);
  cmd->add_option("--guidance", o->guidance,
                  "Classifier-free guidance scale (default: the model's: 5.0 for Wan2.1; the high-noise expert's "
                  "4.0 for Wan2.2 T2V-A14B)")
      ->check(CLI::Range(0.0, 100.0))
      ->group(q);
  cmd->add_option("--guidance-2", o->guidance_2,
                  "Two-expert models: the low-noise expert's guidance (default: the model's, 3.0 for Wan2.2 T2V-A14B)")
      ->check(CLI::Range(0.0, 100.0))
      ->group(q);
  cmd->add_option("--shift", o->shift, "Flow shift (default: the official 5.0 for Wan2.1 T2V; the diffusers "
                                       "scheduler_config's flow_shift is not used)")
      ->check(CLI::Range(0.01, 100.0))
      ->group(q);
  cmd->add_option("--sampler", o->sampler,
                  "unipc (official FlowUniPC, official sigma grid; default) | euler | dpm++ (official FlowDPMSolver)")
      ->check(CLI::IsMember({"unipc", "euler", "dpm++"}))
      ->group(q);
  cmd->add_option("--seed", o->seed, "Random seed (default: random, printed and stored in the output)")->group(q);
  auto* w = "Output";
  cmd->add_option("-o,--output", o->output, "Output file: .mp4 .mkv .webm .png (default: <prompt-slug>-<seed>.mp4)")->group(w);
  cmd->add_option("--crf", o->crf, "Video quality (x264/x265/VP9 CRF; lower = better)")->check(CLI::Range(0, 63))->capture_default_str()->group(w);
  cmd->add_option("--codec", o->codec, "h264 | h265 for .mp4/.mkv (.webm is VP9, .png an image). H.264 MP4 and VP9 WebM play in "
                  "browsers; H.265 does not (Chrome/Firefox have no HEVC), only in Safari and desktop players")
      ->check(CLI::IsMember({"h264", "h265"}))
      ->capture_default_str()
      ->group(w);
  cmd->add_option("--save-intermediates", o->save_intermediates,
                  "Write text contexts, noise, per-step predictions/latents and the video as safetensors "
                  "(names as the golden fixtures)")
      ->group(w);
}

void add_condition_options(CLI::App* cmd, GenerateOptions* o) {
  auto* c = "Images and videos (an image is a one-frame video)";
  cmd->add_option("--image", o->image, "First frame: image-to-video (PNG, JPEG, WebP; or a video's first frame)")->group(c);
  cmd->add_option("--last-image", o->last_image, "Last frame; with --image: first-last-frame")->group(c);
  cmd->add_option("--init-video", o->init_video, "Video-to-video: transform this video (MP4, WebM, MKV, MOV)")->group(c);
  cmd->add_option("--strength", o->strength,
                  "With --init-video: 1 ignores the video (= text-to-video with the same seed), small values stay "
                  "close to it (default 0.8)")
      ->group(c);
  cmd->add_option("--extend", o->extend, "Continue this clip: output = the clip unchanged + --frames new frames")->group(c);
  cmd->add_flag("--backward", o->backward, "With --extend: generate the frames before the clip")->group(c);
  cmd->add_option("--overlap", o->overlap,
                  "With --extend/--join: source frames that condition the new part (default 5: the 4k+1 frames of two "
                  "latent frames)")
      ->group(c);
  cmd->add_option("--join", o->join, "A B: output = A + a generated transition of --frames frames + B")
      ->expected(2)
      ->group(c);
  cmd->add_option("--cond", o->cond,
                  "FILE@FRAME[:STRENGTH]: place an image or clip at an output frame (negative counts from the "
                  "end: -1 = last); repeatable")
      ->group(c);
  cmd->add_option("--fit", o->fit,
                  "How inputs meet the output size: crop (cover, centre-crop) | pad | stretch (default: crop; "
                  "stretch on image-to-video models, as their official code)")
      ->check(CLI::IsMember({"crop", "pad", "stretch"}))
      ->group(c);
  cmd->add_option("--max-area", o->max_area,
                  "With no size given, the output takes the first input's aspect ratio at this many pixels "
                  "(default: the model's area, 832x480 for Wan2.1)")
      ->check(CLI::PositiveNumber)
      ->group(c);
}

namespace {
// nlohmann's get<int>() of a JSON float or of an out-of-range integer is a C++ float->int conversion
// outside the target's range: undefined behaviour (found by fuzz_batch with {"frames": 1e55}).
int int_value(const nlohmann::json& v, const std::string& key) {
  if (!v.is_number_integer()) throw UsageError("\"" + key + "\" must be an integer, got " + v.dump());
  const bool fits = v.is_number_unsigned() ? v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int>::max())
                                           : v.get<int64_t>() >= std::numeric_limits<int>::min() &&
                                                 v.get<int64_t>() <= std::numeric_limits<int>::max();
  if (!fits) throw UsageError("\"" + key + "\" is out of range: " + v.dump());
  return static_cast<int>(v.get<int64_t>());
}

uint64_t seed_value(const nlohmann::json& v) {
  if (!v.is_number_integer() || (!v.is_number_unsigned() && v.get<int64_t>() < 0)) {
    throw UsageError("\"seed\" must be a non-negative integer, got " + v.dump());
  }
  return v.get<uint64_t>();
}

double number_value(const nlohmann::json& v, const std::string& key) {
  if (!v.is_number()) throw UsageError("\"" + key + "\" has a value of the wrong type: " + v.dump());
  return v.get<double>();
}
}  // namespace

void apply_overrides(GenerateOptions& o, const nlohmann::json& line) {
  if (!line.is_object()) throw UsageError("expected a JSON object");
  for (auto it = line.begin(); it != line.end(); ++it) {
    const std::string& k = it.key();
    const auto& v = it.value();
    try {
      if (k == "prompt") o.prompt = v.get<std::string>();
      else if (k == "negative_prompt") o.negative_prompt = v.get<std::string>();
      else if (k == "seed") o.seed = seed_value(v);
      else if (k == "width") o.width = int_value(v, k);
      else if (k == "height") o.height = int_value(v, k);
      else if (k == "size") o.size = v.get<std::string>();
      else if (k == "resolution") o.resolution = v.get<std::string>();
      else if (k == "aspect") o.aspect = v.get<std::string>();
      else if (k == "frames") o.frames = int_value(v, k);
      else if (k == "duration") o.duration = number_value(v, k);
      else if (k == "fps") o.fps = v.is_string() ? v.get<std::string>() : v.dump();
      else if (k == "steps") o.steps = int_value(v, k);
      else if (k == "guidance") o.guidance = number_value(v, k);
      else if (k == "guidance_2") o.guidance_2 = number_value(v, k);
      else if (k == "shift") o.shift = number_value(v, k);
      else if (k == "sampler") o.sampler = v.get<std::string>();
      else if (k == "output") o.output = v.get<std::string>();
      else if (k == "crf") o.crf = int_value(v, k);
      else if (k == "image") o.image = v.get<std::string>();
      else if (k == "last_image") o.last_image = v.get<std::string>();
      else if (k == "init_video") o.init_video = v.get<std::string>();
      else if (k == "strength") o.strength = number_value(v, k);
      else if (k == "extend") o.extend = v.get<std::string>();
      else if (k == "backward") o.backward = v.get<bool>();
      else if (k == "overlap") o.overlap = int_value(v, k);
      else if (k == "join") {
        o.join = v.get<std::vector<std::string>>();
        if (o.join.size() != 2) throw UsageError("\"join\" must be a list of two files [A, B]");
      } else if (k == "cond") {
        o.cond = v.is_string() ? std::vector<std::string>{v.get<std::string>()} : v.get<std::vector<std::string>>();
      } else if (k == "fit") o.fit = v.get<std::string>();
      else throw UsageError("unknown key \"" + k + "\" (expected prompt, negative_prompt, seed, width, height, size, "
                            "resolution, aspect, frames, duration, fps, steps, guidance, guidance_2, shift, sampler, output, crf, "
                            "image, last_image, init_video, strength, extend, backward, overlap, join, cond, fit)");
    } catch (const nlohmann::json::exception&) {
      throw UsageError("\"" + k + "\" has a value of the wrong type: " + v.dump());
    }
  }
  if (!o.prompt || o.prompt->empty()) throw UsageError("missing \"prompt\"");
}

torch::ScalarType parse_dtype(const std::string& d, const torch::Device& device) {
  if (d == "fp32") return torch::kFloat32;
  if (d == "bf16") return torch::kBFloat16;
  if (d == "fp16") return torch::kFloat16;
  return device.is_cuda() ? torch::kBFloat16 : torch::kFloat32;  // auto: as the official code
}

models::ModelLocation model_location(const std::string& model_dir, const ModelFiles& files) {
  models::ModelLocation loc;
  loc.folder = model_dir;
  const std::pair<const char*, const fs::path*> roles[] = {{"transformer", &files.transformer},
                                                           {"text_encoder", &files.text_encoder},
                                                           {"vae", &files.vae},
                                                           {"tokenizer", &files.tokenizer},
                                                           {"transformer_2", &files.transformer_2},
                                                           {"image_encoder", &files.image_encoder}};
  for (const auto& [role, path] : roles)
    if (!path->empty()) loc.files[role] = *path;
  return loc;
}

std::unique_ptr<pipeline::Pipeline> make_pipeline(const ModelOptions& m) {
  if (!m.model_dir.empty() && m.files.any()) {
    throw UsageError("give either -m/--model or --transformer/--text-encoder/--vae, not both");
  }
  if (!m.files.any() && !m.files.tokenizer.empty()) throw UsageError("--tokenizer goes with --transformer/--text-encoder/--vae");
  std::string dir = m.model_dir;
  if (dir.empty() && !m.files.any()) {
    dir = demo::find_demo_model().string();
    spdlog::info("{}", demo::demo_model_notice(dir));
  }
  configure_threads(m.threads);
  models::RuntimeOptions ro;
  ro.device = parse_device(m.device);
  if (m.dtype != "auto") ro.dtype = parse_dtype(m.dtype, ro.device);
  if (m.text_encoder_device != "auto") ro.text_encoder_device = parse_device(m.text_encoder_device);
  if (m.text_len) ro.text_len = *m.text_len;
  if (m.vae_tile && (m.vae_tile % 8 != 0 || m.vae_tile_overlap % 8 != 0 || m.vae_tile_overlap >= m.vae_tile)) {
    throw UsageError("--vae-tile and --vae-tile-overlap must be multiples of 8 with overlap < tile");
  }
  ro.vae_tile = m.vae_tile;
  ro.vae_overlap = m.vae_tile ? m.vae_tile_overlap : 0;
  return std::make_unique<pipeline::Pipeline>(models::open_model(model_location(dir, m.files), ro));
}

pipeline::GenerationSettings resolve_settings(const GenerateOptions& o, const pipeline::Pipeline& p,
                                              const std::string& default_output) {
  pipeline::GenerationSettings s;
  if (!o.prompt) throw UsageError("missing prompt (-p)");
  s.prompt = *o.prompt;
  const models::ModelDefaults d = p.model().defaults();
  s.negative_prompt = o.negative_prompt ? *o.negative_prompt : d.negative_prompt;
  // The prompts go into the output's metadata and the batch manifest as JSON strings.
  if (!is_valid_utf8(s.prompt)) throw UsageError("the prompt is not valid UTF-8 text");
  if (!is_valid_utf8(s.negative_prompt)) throw UsageError("the negative prompt is not valid UTF-8 text");
  pipeline::GridRequest g;
  if (o.size) {
    if (o.width || o.height) throw UsageError("--size cannot be combined with --width/--height");
    auto [w, h] = pipeline::parse_size(*o.size);
    g.width = w;
    g.height = h;
  } else {
    g.width = o.width;
    g.height = o.height;
  }
  g.resolution = o.resolution;
  g.aspect = o.aspect;
  g.frames = o.frames;
  g.duration = o.duration;
  g.fps = o.fps ? io::parse_fps(*o.fps) : d.fps;
  s.fps = g.fps;
  pipeline::ConditionsRequest cr;
  if (o.image) cr.conditions.push_back({*o.image, 0, 1.0, "image"});
  if (o.last_image) cr.conditions.push_back({*o.last_image, -1, 1.0, "last_image"});
  for (const auto& c : o.cond) cr.conditions.push_back(pipeline::parse_condition(c, "cond"));
  if (o.init_video) cr.init_video = *o.init_video;
  cr.strength = o.strength;
  if (o.extend) cr.extend = *o.extend;
  cr.backward = o.backward;
  cr.overlap = o.overlap;
  for (const auto& f : o.join) cr.join.emplace_back(f);
  if (!o.fit.empty()) cr.fit = pipeline::parse_fit(o.fit);
  cr.max_area = o.max_area;
  auto planned = pipeline::plan_generation(cr, g, p.grid_limits());
  s.grid = planned.grid;
  s.conditions = std::move(planned.plan);
  for (const auto& n : s.grid.notices) spdlog::warn("{}", n);
  for (const auto& n : s.conditions.notices) spdlog::info("{}", n);
  s.steps = o.steps.value_or(d.steps);
  if (s.steps < 1) throw UsageError("--steps must be at least 1");
  s.guidance = o.guidance.value_or(d.guidance);
  if (o.guidance_2 && !d.guidance_2) {
    throw UsageError("--guidance-2 is for two-expert models (Wan2.2 A14B); this model has one: use --guidance");
  }
  s.guidance_2 = o.guidance_2 ? o.guidance_2 : d.guidance_2;
  s.shift = o.shift.value_or(d.shift);
  s.sampler = o.sampler.value_or(d.sampler);
  sampling::make_sampler(s.sampler);  // validates the name
  s.seed = o.seed ? *o.seed : random_seed();
  s.crf = o.crf;
  s.codec = o.codec == "h265" ? io::Codec::H265 : io::Codec::Auto;
  s.output = o.output ? *o.output : default_output;
  const int out_frames = s.conditions.output_frames;
  if (s.output.empty()) s.output = slugify(s.prompt) + "-" + std::to_string(s.seed) + (out_frames == 1 ? ".png" : ".mp4");
  if (s.output.extension() == ".png" && out_frames != 1) {
    throw UsageError("output " + s.output.string() + ": a .png holds one frame; add --frames 1 or use .mp4");
  }
  io::check_output_path(s.output, s.codec);
  if (s.codec == io::Codec::H265) {
    spdlog::warn("{}: H.265 plays in Safari and desktop players, not in Chrome or Firefox (no HEVC); "
                 "use the default H.264 (.mp4) or .webm (VP9) for browsers", s.output.string());
  }
  s.save_intermediates = o.save_intermediates;
  if (!s.save_intermediates.empty()) {
    if (s.save_intermediates.extension() != ".safetensors") {
      throw UsageError("--save-intermediates " + s.save_intermediates.string() + ": expected a .safetensors file");
    }
    const fs::path dir = s.save_intermediates.has_parent_path() ? s.save_intermediates.parent_path() : fs::path(".");
    if (!fs::is_directory(dir)) throw InputError("--save-intermediates: directory does not exist: " + dir.string());
  }
  s.save_latents = o.save_latents;
  if (!s.save_latents.empty() && s.save_latents.extension() != ".safetensors") {
    throw UsageError("--save-latents " + s.save_latents.string() + ": expected a .safetensors file");
  }
  return s;
}

std::string slugify(const std::string& text, size_t max_len) {
  std::string out;
  bool dash = false;
  for (unsigned char c : text) {
    if (std::isalnum(c)) {
      if (dash && !out.empty()) out += '-';
      out += static_cast<char>(std::tolower(c));
      dash = false;
    } else {
      dash = true;
    }
    if (out.size() >= max_len) break;
  }
  return out.empty() ? "video" : out;
}

uint64_t random_seed() {
  std::random_device rd;
  return ((static_cast<uint64_t>(rd()) << 32) | rd()) & ((1ull << 53) - 1);  // exact in JSON doubles too
}

}  // namespace t2v::cli
