// A checkpoint as one key -> tensor map over one or more safetensors files: a single file, or the
// shards listed by a `*.safetensors.index.json` (diffusers / HF sharding). Keys may be renamed to
// the canonical (diffusers) layout with a RenameTable, so model code sees only canonical names.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "t2v/io/key_rename.h"
#include "t2v/io/safetensors.h"

namespace t2v::io {

// A fused tensor stored as equal blocks of rows, seen as one key per block (open-clip's
// attn.in_proj_weight [3w, w] = [q; k; v]): `from` is a whole-key pattern (`*` = an index, as in
// RenameRule), `to` the block names in row order, their `*`s filled with the captured indices.
struct SplitRule {
  std::string from;
  std::vector<std::string> to;
};
using SplitTable = std::vector<SplitRule>;

class TensorStore {
 public:
  TensorStore() = default;
  // `path`: a .safetensors file, a .safetensors.index.json, or a directory holding exactly one
  // index or one .safetensors file. Missing shards and keys absent from their shard are errors.
  static TensorStore open(const std::filesystem::path& path);
  // One already opened file.
  static TensorStore from_file(std::shared_ptr<SafetensorsFile> file);
  // The shards of an index given as JSON text; `open_shard` opens a shard path (nullptr = missing).
  using ShardOpener = std::function<std::shared_ptr<SafetensorsFile>(const std::filesystem::path&)>;
  static TensorStore from_index_json(const std::string& text, const std::filesystem::path& index_path,
                                     const ShardOpener& open_shard);

  // Sorted keys.
  std::vector<std::string> keys() const;
  bool contains(const std::string& key) const { return entries_.count(key) != 0; }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  const TensorInfo& info(const std::string& key) const;
  const SafetensorsFile& file_of(const std::string& key) const;
  // Zero-copy view (FP8 as raw uint8); see SafetensorsFile::view.
  torch::Tensor view(const std::string& key) const;
  // Converted copy (FP8 decoded).
  torch::Tensor load(const std::string& key, torch::ScalarType dtype,
                     const torch::Device& device = torch::kCPU) const;

  const std::vector<std::shared_ptr<SafetensorsFile>>& files() const { return files_; }
  // Where the store was opened from (the file or the index).
  const std::filesystem::path& source() const { return source_; }
  uint64_t total_file_bytes() const;
  // Metadata of the first file.
  const std::map<std::string, std::string>& metadata() const;

  // A store whose keys are renamed by `table` (keys no rule matches are kept). Two keys renamed
  // to the same name are an error.
  TensorStore renamed(const RenameTable& table) const;
  // A store whose fused keys are split by `table` into row blocks (zero-copy views). A key whose
  // first dimension does not divide into the blocks is a WeightsError.
  TensorStore split_rows(const SplitTable& table) const;
  // A store without the keys starting with any of `patterns` (RenameTable pattern syntax).
  TensorStore without(const std::vector<std::string>& patterns) const;
  // Original (on-disk) name of a key.
  const std::string& stored_name(const std::string& key) const;

 private:
  struct Entry {
    size_t file = 0;
    std::string stored_name;
    int part = 0, parts = 1;                 // row block `part` of `parts` (split_rows)
    std::shared_ptr<TensorInfo> part_info;  // that block's shape and byte range
  };
  const Entry& entry(const std::string& key) const;
  std::filesystem::path source_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, Entry> entries_;
};

}  // namespace t2v::io
