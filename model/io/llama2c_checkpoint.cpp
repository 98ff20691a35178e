// Reader of llama2.c checkpoints: the header gives the config, the float32
// arrays are mapped onto canonical HF names, and q/k rows are exposed in the
// HF rotate-half layout through a row permutation (docs/DESIGN.md §5).
#include <cstring>
#include <filesystem>
#include <sstream>

#include "model/io/checkpoint_formats.h"
#include "model/io/llama2c_format.h"
#include "model/io/stored_checkpoint.h"
#include "sharding/error.h"
#include "sharding/units.h"

namespace meshlm {

namespace {

std::shared_ptr<const std::vector<int64_t>> rope_row_map(int64_t rows, int64_t head_dim) {
  auto map = std::make_shared<std::vector<int64_t>>(rows);
  for (int64_t r = 0; r < rows; ++r) (*map)[r] = llama2c_row_of_hf_row(r, head_dim);
  return map;
}

class Llama2cCheckpoint : public StoredCheckpoint {
 public:
  explicit Llama2cCheckpoint(const std::string& path) {
    files_.push_back(std::make_unique<MappedFile>(path));
    const MappedFile& file = *files_.back();
    const std::string where = "llama2.c checkpoint " + path;
    config_ = llama2c_config(file.data(), file.size(), path);
    const int64_t expected = llama2c_file_bytes(config_);
    const int64_t hd = config_.head_dim;
    auto q_map = rope_row_map(config_.num_heads * hd, hd);
    auto k_map = rope_row_map(config_.num_kv_heads * hd, hd);
    int64_t offset = kLlama2cHeaderBytes;
    for (const Llama2cArray& a : llama2c_layout(config_)) {
      if (!a.name.empty()) {
        StoredTensor t;
        t.data = file.data() + offset;
        t.dtype = DType::f32;
        t.shape = a.shape;
        t.file = &file;
        if (a.rope_rows) t.row_map = a.role == TensorRole::q ? q_map : k_map;
        tensors_.emplace(a.name, std::move(t));
      }
      offset += 4 * num_elements(a.shape);
    }
    MESHLM_CHECK(offset == expected, "llama2.c layout ("
                                         << offset << " bytes) disagrees with its size formula ("
                                         << expected << ")");
    validate_against_config(where);
    description_ = "llama2.c checkpoint " + std::filesystem::path(path).filename().string() + " (" +
                   format_bytes(static_cast<double>(file.size())) + ")";
  }
};

}  // namespace

std::unique_ptr<Checkpoint> open_llama2c_checkpoint(const std::string& path) {
  return std::make_unique<Llama2cCheckpoint>(path);
}

}  // namespace meshlm
