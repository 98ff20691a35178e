// Reader of Hugging Face checkpoints: config.json + one safetensors file or an
// index (model.safetensors.index.json) of several. Tensors already carry the
// canonical names and the rotate-half q/k layout.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "model/io/checkpoint_formats.h"
#include "model/io/quantized_checkpoint.h"
#include "model/io/safetensors_format.h"
#include "model/io/stored_checkpoint.h"
#include "sharding/device_spec.h"
#include "sharding/error.h"
#include "sharding/units.h"

namespace meshlm {

namespace fs = std::filesystem;

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

class SafetensorsCheckpoint : public StoredCheckpoint {
 public:
  explicit SafetensorsCheckpoint(const std::string& path) {
    fs::path dir, index, single;
    if (fs::is_directory(path)) {
      dir = path;
      if (fs::exists(dir / "model.safetensors.index.json"))
        index = dir / "model.safetensors.index.json";
      else if (fs::exists(dir / "model.safetensors"))
        single = dir / "model.safetensors";
      else
        MESHLM_FAIL("model directory " << path
                                       << " holds neither model.safetensors nor "
                                          "model.safetensors.index.json");
    } else if (ends_with(path, ".index.json")) {
      index = path;
      dir = index.parent_path();
    } else {
      single = path;
      dir = single.parent_path();
    }
    if (dir.empty()) dir = ".";
    const fs::path config_path = dir / "config.json";
    if (!fs::exists(config_path))
      MESHLM_FAIL("no config.json beside the safetensors checkpoint "
                  << path << " (looked for " << config_path.string() << ")");
    const std::string name = fs::absolute(dir).lexically_normal().filename().string();
    std::optional<DType> quantized;
    try {
      const nlohmann::json j = read_json_file(config_path.string());
      config_ = ModelConfig::from_hf_json(j, name);
      quantized = declared_quantization(j, "config " + config_path.string());
    } catch (const Error& e) {
      MESHLM_FAIL("config " << config_path.string() << ": " << e.what());
    }

    uint64_t total_bytes = 0;
    if (!index.empty()) {
      const std::map<std::string, std::string> file_of =
          parse_safetensors_index(read_json_file(index.string()), index.string());
      std::set<std::string> shard_names;
      for (const auto& [tensor, shard] : file_of) shard_names.insert(shard);
      for (const std::string& shard : shard_names) total_bytes += add_file((dir / shard).string());
      for (const auto& [tensor, shard] : file_of) {
        auto t = tensors_.find(tensor);
        if (t == tensors_.end() || t->second.file->path() != (dir / shard).string())
          MESHLM_FAIL("index " << index.string() << " maps tensor '" << tensor << "' to " << shard
                               << ", which does not hold it");
      }
    } else {
      total_bytes += add_file(single.string());
    }
    const bool mxfp4 = quantized == DType::mxfp4;
    if (quantized && !mxfp4) fold_quantized(*quantized, "safetensors checkpoint " + path);
    validate_against_config("safetensors checkpoint " + path, mxfp4);
    description_ = "safetensors checkpoint " + fs::path(path).filename().string() + " (" +
                   std::to_string(files_.size()) + (files_.size() == 1 ? " file, " : " files, ") +
                   format_bytes(static_cast<double>(total_bytes)) + ")";
  }

 private:
  uint64_t add_file(const std::string& path) {
    files_.push_back(std::make_unique<MappedFile>(path));
    const MappedFile& file = *files_.back();
    const SafetensorsHeader header = parse_safetensors_header(file);
    for (const SafetensorsTensor& st : header.tensors) {
      StoredTensor t;
      t.data = file.data() + header.data_start + st.begin;
      t.dtype = st.dtype;
      t.shape = st.shape;
      t.file = &file;
      auto [it, inserted] = tensors_.emplace(st.name, std::move(t));
      if (!inserted)
        MESHLM_FAIL("tensor '" << st.name << "' appears in both " << it->second.file->path()
                               << " and " << path);
    }
    return file.size();
  }
};

}  // namespace

std::unique_ptr<Checkpoint> open_safetensors_checkpoint(const std::string& path) {
  return std::make_unique<SafetensorsCheckpoint>(path);
}

}  // namespace meshlm
