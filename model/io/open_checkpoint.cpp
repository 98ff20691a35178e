// open_checkpoint(): picks the format from the path (checkpoint.h).
#include <filesystem>

#include "model/io/checkpoint_formats.h"
#include "sharding/error.h"

namespace meshlm {

namespace fs = std::filesystem;

std::unique_ptr<Checkpoint> open_checkpoint(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec))
    MESHLM_FAIL("checkpoint " << path
                              << " does not exist (expected a llama2.c .bin file or a Hugging Face "
                                 "model directory with config.json and safetensors)");
  const fs::path p(path);
  const std::string file = p.filename().string();
  if (fs::is_directory(p, ec)) return open_safetensors_checkpoint(path);
  if (file == "config.json")
    return open_safetensors_checkpoint(p.has_parent_path() ? p.parent_path().string() : ".");
  if (p.extension() == ".safetensors" || file.ends_with(".safetensors.index.json"))
    return open_safetensors_checkpoint(path);
  return open_llama2c_checkpoint(path);
}

std::vector<float> read_tensor_f32(const Checkpoint& checkpoint, const std::string& name) {
  const Shape shape = checkpoint.shape(name);
  std::vector<float> out(static_cast<size_t>(num_elements(shape)));
  checkpoint.read_block(name, Shape(shape.size(), 0), shape, DType::f32, out.data());
  return out;
}

}  // namespace meshlm
