// open_checkpoint() (picks the format from the path) and whole-tensor reads.
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "model/io/block_copy.h"
#include "model/io/checkpoint_formats.h"
#include "sharding/device_spec.h"
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
  // By type before any read: sniffing a FIFO or a device would block.
  check_regular_file(path, "checkpoint");
  if (p.extension() == ".safetensors" || file.ends_with(".safetensors.index.json"))
    return open_safetensors_checkpoint(path);
  // Sniff the first bytes: a safetensors file under another name starts with
  // a small length then '{'; a PyTorch checkpoint is a zip archive ("PK").
  char head[9] = {};
  std::ifstream(path, std::ios::binary).read(head, sizeof head);
  uint64_t n = 0;
  std::memcpy(&n, head, 8);
  if (head[8] == '{' && n > 0 && n < fs::file_size(p, ec)) return open_safetensors_checkpoint(path);
  if (head[0] == 'P' && head[1] == 'K')
    MESHLM_FAIL(
        path << " looks like a PyTorch (zip) checkpoint, which is not supported: convert it "
                "to safetensors, or give a llama2.c .bin");
  return open_llama2c_checkpoint(path);
}

std::vector<float> read_tensor_f32(const Checkpoint& checkpoint, const std::string& name) {
  const Shape shape = checkpoint.shape(name);
  std::vector<float> out(static_cast<size_t>(num_elements(shape)));
  checkpoint.read_block(name, Shape(shape.size(), 0), shape, DType::f32, out.data());
  return out;
}

void read_in_row_chunks(const Checkpoint& checkpoint, const std::string& name, DType dst_dtype,
                        int64_t chunk_bytes,
                        const std::function<void(const void*, int64_t, int64_t)>& fn) {
  const Shape shape = checkpoint.shape(name);
  const int64_t rows = shape.empty() ? 1 : shape[0];
  const int64_t row_elems = rows ? num_elements(shape) / rows : 0;
  const int64_t row_bytes = std::max<int64_t>(1, row_elems * element_bytes(dst_dtype));
  const int64_t chunk = std::clamp<int64_t>(chunk_bytes / row_bytes, 1, std::max<int64_t>(rows, 1));
  std::vector<std::byte> buf(static_cast<size_t>(chunk * row_bytes));
  for (int64_t r = 0; r < rows; r += chunk) {
    Shape offset(shape.size(), 0), block = shape;
    const int64_t n = std::min(chunk, rows - r);
    if (!shape.empty()) offset[0] = r, block[0] = n;
    checkpoint.read_block(name, offset, block, dst_dtype, buf.data());
    fn(buf.data(), r, n);
  }
}

}  // namespace meshlm
