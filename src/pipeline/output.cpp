#include "t2v/pipeline/output.h"

#include <torch/torch.h>

#include "t2v/error.h"
#include "t2v/io/json_file.h"
#include "t2v/io/safetensors.h"

namespace t2v::pipeline {
namespace fs = std::filesystem;

LayoutComposer::LayoutComposer(std::vector<OutputSpan> layout, std::map<int, torch::Tensor> kept, FrameSink& sink)
    : layout_(std::move(layout)), kept_(std::move(kept)), sink_(sink) {
  for (const auto& span : layout_) {
    if (!span.generated && !kept_.count(span.input)) throw Error("output layout: no frames for kept input " + std::to_string(span.input));
  }
  flush_kept();
}

void LayoutComposer::flush_kept() {
  while (span_ < layout_.size() && !layout_[span_].generated) {
    const auto& span = layout_[span_];
    const auto& frames = kept_.at(span.input);
    for (int k = 0; k < span.count; ++k) sink_.write(frames[span.first + k]);
    written_ += span.count;
    ++span_;
  }
}

void LayoutComposer::generated(const torch::Tensor& frames) {
  for (int64_t k = 0; k < frames.size(0); ++k) {
    const int g = next_generated_++;
    if (span_ >= layout_.size()) continue;
    const auto& span = layout_[span_];
    if (g < span.first) continue;  // overlap frames before the span
    sink_.write(frames[k]);
    ++written_;
    if (g == span.first + span.count - 1) {
      ++span_;
      flush_kept();
    }
  }
}

void LayoutComposer::finish() {
  flush_kept();
  if (span_ != layout_.size()) {
    throw Error("output layout: the decoder produced " + std::to_string(next_generated_) + " frames, fewer than the layout needs");
  }
  sink_.finish();
}

namespace {
constexpr const char* kFormat = "t2v-latents/1";

nlohmann::json layout_json(const std::vector<OutputSpan>& layout) {
  auto a = nlohmann::json::array();
  for (const auto& s : layout) a.push_back({{"generated", s.generated}, {"input", s.input}, {"first", s.first}, {"count", s.count}});
  return a;
}
}  // namespace

void save_latent_file(const fs::path& path, const LatentFile& f) {
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  if (!fs::is_directory(dir)) throw InputError("save_latents: directory does not exist: " + dir.string());
  std::vector<std::pair<std::string, torch::Tensor>> tensors = {{"latent", f.latent.to(torch::kCPU, torch::kFloat32)}};
  for (const auto& [i, frames] : f.kept) tensors.emplace_back("kept." + std::to_string(i), frames.to(torch::kCPU));
  std::map<std::string, std::string> meta = {
      {"format", kFormat},
      {"layout", io::to_json_text(layout_json(f.layout))},
      {"width", std::to_string(f.width)},
      {"height", std::to_string(f.height)},
      {"frames", std::to_string(f.frames)},
      {"fps", std::to_string(f.fps.num) + "/" + std::to_string(f.fps.den)},
      {"title", f.title},
      {"settings", io::to_json_text(f.settings)}};
  io::save_safetensors(path, tensors, meta);
}

LatentFile load_latent_file(const fs::path& path) {
  std::shared_ptr<io::SafetensorsFile> file;
  try {
    file = io::SafetensorsFile::open(path);
  } catch (const Error& e) {
    throw InputError(std::string("decode_only: ") + e.what());
  }
  const auto& meta = file->metadata();
  auto need = [&](const std::string& key) -> const std::string& {
    auto it = meta.find(key);
    if (it == meta.end()) throw InputError("decode_only: " + path.string() + ": not a t2v latent file (no \"" + key + "\" metadata)");
    return it->second;
  };
  if (need("format") != kFormat) {
    throw InputError("decode_only: " + path.string() + ": format \"" + meta.at("format") + "\", expected " + kFormat);
  }
  LatentFile f;
  try {
    f.width = std::stoi(need("width"));
    f.height = std::stoi(need("height"));
    f.frames = std::stoi(need("frames"));
    if (f.width < 1 || f.height < 1 || f.frames < 1) throw std::invalid_argument("width, height and frames must be positive");
    f.fps = io::parse_fps(need("fps"));
    f.title = need("title");
    f.settings = nlohmann::json::parse(need("settings"));
    for (const auto& s : nlohmann::json::parse(need("layout"))) {
      OutputSpan span;
      span.generated = s.at("generated").get<bool>();
      if (!io::json_integer(s.at("input"), &span.input) || !io::json_integer(s.at("first"), &span.first) ||
          !io::json_integer(s.at("count"), &span.count)) {
        throw std::invalid_argument("layout entries need integer input/first/count");
      }
      f.layout.push_back(span);
    }
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& e) {
    throw InputError("decode_only: " + path.string() + ": malformed latent-file metadata (" + e.what() + ")");
  }
  if (!file->contains("latent") || file->info("latent").shape.size() != 4) {
    throw InputError("decode_only: " + path.string() + ": expected a 4-d \"latent\" tensor [C, T, h, w]");
  }
  f.latent = file->load("latent", torch::kFloat32);
  int total = 0;
  for (const auto& s : f.layout) {
    if (s.count < 0 || s.first < 0) throw InputError("decode_only: " + path.string() + ": malformed layout");
    total += s.count;
    if (s.generated) continue;
    const std::string name = "kept." + std::to_string(s.input);
    if (!file->contains(name)) throw InputError("decode_only: " + path.string() + ": missing tensor \"" + name + "\"");
    auto frames = file->load(name, torch::kUInt8);
    if (frames.dim() != 4 || frames.size(1) != f.height || frames.size(2) != f.width || frames.size(3) != 3 ||
        frames.size(0) < s.first + s.count) {
      throw InputError("decode_only: " + path.string() + ": tensor \"" + name + "\" does not fit the layout");
    }
    f.kept[s.input] = frames;
  }
  if (total != f.frames) throw InputError("decode_only: " + path.string() + ": layout frames do not add up to \"frames\"");
  return f;
}

}  // namespace t2v::pipeline
