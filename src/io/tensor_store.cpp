#include "t2v/io/tensor_store.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "t2v/error.h"

namespace t2v::io {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Picks the checkpoint inside a component directory: one index, else one .safetensors file.
fs::path resolve_directory(const fs::path& dir) {
  std::vector<fs::path> indexes, singles;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (ends_with(name, ".safetensors.index.json")) indexes.push_back(e.path());
    else if (ends_with(name, ".safetensors")) singles.push_back(e.path());
  }
  if (indexes.size() == 1) return indexes[0];
  if (indexes.size() > 1) {
    throw WeightsError(dir.string() + ": several *.safetensors.index.json files; expected one");
  }
  if (singles.size() == 1) return singles[0];
  if (singles.empty()) {
    throw WeightsError(dir.string() + ": no .safetensors weights found (.bin/.pth checkpoints are not supported; "
                       "convert them to safetensors)");
  }
  throw WeightsError(dir.string() + ": several .safetensors files and no *.safetensors.index.json");
}
}  // namespace

TensorStore TensorStore::open(const fs::path& path_in) {
  std::error_code ec;
  if (!fs::exists(path_in, ec)) throw WeightsError(path_in.string() + ": file not found");
  const fs::path path = fs::is_directory(path_in, ec) ? resolve_directory(path_in) : path_in;
  if (!ends_with(path.filename().string(), ".index.json")) return from_file(SafetensorsFile::open(path));

  std::ifstream f(path, std::ios::binary);
  if (!f) throw WeightsError(path.string() + ": cannot read shard index");
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return from_index_json(text, path, [](const fs::path& shard_path) {
    std::error_code ec;
    return fs::exists(shard_path, ec) ? SafetensorsFile::open(shard_path) : nullptr;
  });
}

TensorStore TensorStore::from_file(std::shared_ptr<SafetensorsFile> file) {
  TensorStore store;
  store.source_ = file->path();
  for (const auto& name : file->names()) store.entries_[name] = Entry{0, name, 0, 1, nullptr};
  store.files_.push_back(std::move(file));
  return store;
}

TensorStore TensorStore::from_index_json(const std::string& text, const fs::path& path, const ShardOpener& open_shard) {
  TensorStore store;
  store.source_ = path;
  json index;
  try {
    index = json::parse(text);
  } catch (const json::exception& e) {
    throw WeightsError(path.string() + ": shard index is not valid JSON (" + e.what() + ")");
  }
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
    throw WeightsError(path.string() + ": shard index has no \"weight_map\" object");
  }
  std::map<std::string, size_t> shard_ids;
  for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
    if (!it.value().is_string()) {
      throw WeightsError(path.string() + ": weight_map entry for '" + it.key() + "' is not a file name");
    }
    const std::string shard = it.value().get<std::string>();
    if (shard.find('/') != std::string::npos || shard == "..") {
      throw WeightsError(path.string() + ": shard name '" + shard + "' must be a file name in the same folder");
    }
    if (!shard_ids.count(shard)) {
      const fs::path shard_path = path.parent_path() / shard;
      auto file = shard.empty() || shard == "." ? nullptr : open_shard(shard_path);
      if (!file) throw WeightsError(shard_path.string() + ": missing shard (listed in " + path.string() + ")");
      shard_ids[shard] = store.files_.size();
      store.files_.push_back(std::move(file));
    }
    const size_t id = shard_ids[shard];
    if (!store.files_[id]->contains(it.key())) {
      throw WeightsError(store.files_[id]->path().string() + ": tensor '" + it.key() +
                         "' listed in " + path.filename().string() + " is not in this shard");
    }
    store.entries_[it.key()] = Entry{id, it.key(), 0, 1, nullptr};
  }
  if (store.files_.empty()) throw WeightsError(path.string() + ": shard index lists no tensors");
  return store;
}

std::vector<std::string> TensorStore::keys() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& kv : entries_) out.push_back(kv.first);
  return out;
}

const TensorStore::Entry& TensorStore::entry(const std::string& key) const {
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    throw WeightsError(source_.string() + ": no tensor named '" + key + "'");
  }
  return it->second;
}

const TensorInfo& TensorStore::info(const std::string& key) const {
  const Entry& e = entry(key);
  return e.part_info ? *e.part_info : files_[e.file]->info(e.stored_name);
}

const SafetensorsFile& TensorStore::file_of(const std::string& key) const { return *files_[entry(key).file]; }

const std::string& TensorStore::stored_name(const std::string& key) const { return entry(key).stored_name; }

torch::Tensor TensorStore::view(const std::string& key) const {
  const Entry& e = entry(key);
  auto full = files_[e.file]->view(e.stored_name);
  if (e.parts == 1) return full;
  const int64_t rows = full.size(0) / e.parts;
  return full.narrow(0, e.part * rows, rows);  // rows of a contiguous tensor: still contiguous
}

torch::Tensor TensorStore::load(const std::string& key, torch::ScalarType dtype,
                                const torch::Device& device) const {
  const Entry& e = entry(key);
  if (e.parts == 1) return files_[e.file]->load(e.stored_name, dtype, device);
  torch::Tensor t = view(key);
  if (e.part_info->dtype == DType::F8_E4M3 || e.part_info->dtype == DType::F8_E5M2) t = decode_fp8(t, e.part_info->dtype);
  return t.to(device, dtype, /*non_blocking=*/false, /*copy=*/true).contiguous();
}

uint64_t TensorStore::total_file_bytes() const {
  uint64_t n = 0;
  for (const auto& f : files_) n += f->file_size();
  return n;
}

const std::map<std::string, std::string>& TensorStore::metadata() const {
  static const std::map<std::string, std::string> kEmpty;
  return files_.empty() ? kEmpty : files_[0]->metadata();
}

TensorStore TensorStore::renamed(const RenameTable& table) const {
  TensorStore out;
  out.source_ = source_;
  out.files_ = files_;
  for (const auto& [key, e] : entries_) {
    std::string name = rename_key(table, key);
    if (!out.entries_.emplace(name, e).second) {
      throw WeightsError(source_.string() + ": two tensors map to '" + name + "' (one is '" + key + "')");
    }
  }
  return out;
}

TensorStore TensorStore::split_rows(const SplitTable& table) const {
  TensorStore out;
  out.source_ = source_;
  out.files_ = files_;
  for (const auto& [key, e] : entries_) {
    const SplitRule* rule = nullptr;
    for (const auto& r : table)
      if (!rule && match_full(r.from, key)) rule = &r;
    if (!rule || e.parts != 1) {
      out.entries_.emplace(key, e);
      continue;
    }
    const TensorInfo& whole = files_[e.file]->info(e.stored_name);
    const int parts = static_cast<int>(rule->to.size());
    if (whole.shape.empty() || whole.shape[0] % parts != 0) {
      throw WeightsError(source_.string() + ": " + key + " cannot be split into " + std::to_string(parts) +
                         " row blocks (first dimension " + (whole.shape.empty() ? "absent" : std::to_string(whole.shape[0])) + ")");
    }
    const uint64_t bytes = (whole.end - whole.begin) / static_cast<uint64_t>(parts);
    for (int k = 0; k < parts; ++k) {
      Entry part = e;
      part.part = k;
      part.parts = parts;
      part.part_info = std::make_shared<TensorInfo>(whole);
      part.part_info->shape[0] /= parts;
      part.part_info->begin = whole.begin + bytes * static_cast<uint64_t>(k);
      part.part_info->end = part.part_info->begin + bytes;
      const std::string name = rename_key({{rule->from, rule->to[k]}}, key);
      if (!out.entries_.emplace(name, part).second) {
        throw WeightsError(source_.string() + ": two tensors map to '" + name + "' (one is a block of '" + key + "')");
      }
    }
  }
  return out;
}

TensorStore TensorStore::without(const std::vector<std::string>& patterns) const {
  TensorStore out;
  out.source_ = source_;
  out.files_ = files_;
  for (const auto& [key, e] : entries_) {
    bool drop = false;
    for (const auto& p : patterns) drop = drop || match_start(p, key);
    if (!drop) out.entries_.emplace(key, e);
  }
  return out;
}

}  // namespace t2v::io
