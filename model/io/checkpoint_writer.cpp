#include "model/io/checkpoint_writer.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/io/block_copy.h"
#include "model/io/llama2c_format.h"
#include "model/io/quantized_checkpoint.h"
#include "model/io/safetensors_format.h"
#include "model/ops/quant.h"
#include "sharding/device_spec.h"
#include "sharding/error.h"

namespace meshlm {

namespace fs = std::filesystem;

namespace {

// A file written sequentially, with progress and checked errors.
class OutFile {
 public:
  OutFile(const std::string& path, uint64_t total, const WriteOptions& options)
      : path_(path), total_(total), options_(options) {
    f_ = std::fopen(path.c_str(), "wb");
    if (!f_) MESHLM_FAIL("cannot create " << path << ": " << std::strerror(errno));
  }
  ~OutFile() {
    if (f_) std::fclose(f_);
  }
  void write(const void* data, size_t bytes) {
    if (bytes && std::fwrite(data, 1, bytes, f_) != bytes)
      MESHLM_FAIL("cannot write " << path_ << ": " << std::strerror(errno));
    done_ += bytes;
    if (options_.progress) options_.progress(done_, total_);
  }
  void close() {
    const int rc = std::fclose(f_);
    f_ = nullptr;
    if (rc != 0) MESHLM_FAIL("cannot write " << path_ << ": " << std::strerror(errno));
  }

 private:
  std::string path_;
  uint64_t total_, done_ = 0;
  const WriteOptions& options_;
  FILE* f_ = nullptr;
};

// Writes `n` fp32 values to `out` as `dtype`.
void write_values(const float* f32, int64_t n, DType dtype, OutFile& out,
                  std::vector<uint16_t>& half) {
  if (dtype == DType::f32) return out.write(f32, static_cast<size_t>(n) * 4);
  half.resize(static_cast<size_t>(n));
  if (dtype == DType::bf16)
    convert_elements(reinterpret_cast<const std::byte*>(f32), DType::f32, half.data(), DType::bf16,
                     n);
  else
    for (int64_t i = 0; i < n; ++i) half[i] = float_to_fp16(f32[i]);
  out.write(half.data(), static_cast<size_t>(n) * 2);
}

// Writes tensor `name` of src to `out` as `dtype`, in chunks of rows.
// `row_order` (optional): output row i is source row row_order[i].
void write_tensor(const Checkpoint& src, const std::string& name, DType dtype, OutFile& out,
                  const std::vector<int64_t>* row_order = nullptr) {
  std::vector<uint16_t> half;
  if (!row_order) {
    read_in_row_chunks(
        src, name, DType::f32, int64_t{4} << 20, [&](const void* data, int64_t, int64_t rows) {
          const Shape shape = src.shape(name);
          const int64_t row_elems = shape.empty() ? 1 : num_elements(shape) / shape[0];
          write_values(static_cast<const float*>(data), rows * row_elems, dtype, out, half);
        });
    return;
  }
  const Shape shape = src.shape(name);  // 2-D [rows, cols]
  std::vector<float> row(static_cast<size_t>(shape[1]));
  for (int64_t r = 0; r < shape[0]; ++r) {
    src.read_block(name, {(*row_order)[r], 0}, {1, shape[1]}, DType::f32, row.data());
    write_values(row.data(), shape[1], dtype, out, half);
  }
}

// One tensor of the files and the logical tensor it comes from.
struct FileEntry {
  FileTensor file;
  TensorInfo tensor;
  DType dtype;  // in the file
};

std::vector<FileEntry> file_entries(const Checkpoint& src, const WriteOptions& options) {
  std::vector<FileEntry> out;
  for (const TensorInfo& t : tensor_inventory(src.config()))
    for (FileTensor& f : file_tensors(t, options.mxfp4)) {
      const bool mx = f.part == FileTensor::mx_blocks || f.part == FileTensor::mx_scales;
      out.push_back({std::move(f), t, mx ? DType::u8 : options.dtype});
    }
  return out;
}

// Writes one file tensor, computed from its logical tensor matrix by matrix
// where the files store it otherwise (per expert, transposed, mxfp4).
void write_entry(const Checkpoint& src, const FileEntry& e, OutFile& out) {
  const Shape& s = e.tensor.shape;
  if (e.file.part == FileTensor::whole) return write_tensor(src, e.tensor.name, e.dtype, out);
  std::vector<uint16_t> half;
  const int64_t R = s[s.size() - 2], C = s.back(), first = e.file.expert >= 0 ? e.file.expert : 0;
  const int64_t count = e.file.expert >= 0 ? 1 : s[0];
  std::vector<float> m(static_cast<size_t>(R * C)), t;
  std::vector<std::byte> q;
  for (int64_t x = first; x < first + count; ++x) {
    src.read_block(e.tensor.name, {x, 0, 0}, {1, R, C}, DType::f32, m.data());
    switch (e.file.part) {
      case FileTensor::one_expert:
        write_values(m.data(), R * C, e.dtype, out, half);
        break;
      case FileTensor::transposed:
        t.resize(m.size());
        for (int64_t r = 0; r < R; ++r)
          for (int64_t c = 0; c < C; ++c) t[c * R + r] = m[r * C + c];
        write_values(t.data(), R * C, e.dtype, out, half);
        break;
      default: {  // mxfp4: the device layout is [exponents][data], as the files split them
        q.resize(quant_matrix_bytes(DType::mxfp4, R, C));
        quantize_matrix(m.data(), R, C, C, DType::mxfp4, q.data());
        const size_t exps = static_cast<size_t>(R * quant_blocks(C));
        if (e.file.part == FileTensor::mx_scales)
          out.write(q.data(), exps);
        else
          out.write(q.data() + exps, q.size() - exps);
      }
    }
  }
}

void write_safetensors_file(const Checkpoint& src, const std::vector<FileEntry>& entries,
                            const fs::path& path, const WriteOptions& options) {
  std::vector<SafetensorsTensor> tensors;
  for (const FileEntry& e : entries) tensors.push_back({e.file.name, e.dtype, e.file.shape});
  std::string header;
  const uint64_t data_bytes = safetensors_header(tensors, header);
  OutFile out(path.string(), header.size() + data_bytes, options);
  out.write(header.data(), header.size());
  for (const FileEntry& e : entries) write_entry(src, e, out);
  out.close();
}

}  // namespace

std::vector<std::string> write_safetensors_checkpoint(const Checkpoint& src, const std::string& dir,
                                                      const WriteOptions& options) {
  if (options.dtype != DType::f32 && options.dtype != DType::bf16 && options.dtype != DType::f16)
    MESHLM_FAIL("safetensors weights are written as fp32, bf16 or fp16, not "
                << dtype_name(options.dtype));
  fs::create_directories(dir);
  // A previous model in dir must not shadow this one (an index wins over a single file).
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string file = entry.path().filename().string();
    if (file == "model.safetensors" || file == "model.safetensors.index.json" ||
        (file.starts_with("model-") && file.ends_with(".safetensors")))
      fs::remove(entry.path());
  }
  std::vector<std::string> written;
  const fs::path config_path = fs::path(dir) / "config.json";
  nlohmann::json config = src.config().to_hf_json();
  if (options.mxfp4) config["quantization_config"] = {{"quant_method", kMxfp4Method}};
  write_json_file(config_path.string(), config);
  written.push_back(config_path.string());

  // Group tensors into shards (one shard when max_shard_bytes is 0).
  std::vector<std::vector<FileEntry>> shards(1);
  uint64_t shard_bytes = 0, total = 0;
  for (FileEntry& e : file_entries(src, options)) {
    const uint64_t bytes = num_elements(e.file.shape) * element_bytes(e.dtype);
    if (options.max_shard_bytes && shard_bytes > 0 &&
        shard_bytes + bytes > options.max_shard_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(std::move(e));
    shard_bytes += bytes;
    total += bytes;
  }
  if (!options.max_shard_bytes) {
    const fs::path path = fs::path(dir) / "model.safetensors";
    write_safetensors_file(src, shards[0], path, options);
    written.push_back(path.string());
    return written;
  }
  nlohmann::json index = {{"metadata", {{"total_size", total}}},
                          {"weight_map", nlohmann::json::object()}};
  for (size_t i = 0; i < shards.size(); ++i) {
    char file[64];
    std::snprintf(file, sizeof file, "model-%05zu-of-%05zu.safetensors", i + 1, shards.size());
    write_safetensors_file(src, shards[i], fs::path(dir) / file, options);
    written.push_back((fs::path(dir) / file).string());
    for (const FileEntry& e : shards[i]) index["weight_map"][e.file.name] = file;
  }
  const fs::path index_path = fs::path(dir) / "model.safetensors.index.json";
  write_json_file(index_path.string(), index);
  written.push_back(index_path.string());
  return written;
}

void write_llama2c_checkpoint(const Checkpoint& src, const std::string& path,
                              const WriteOptions& options) {
  const ModelConfig& c = src.config();
  int32_t header[7];
  llama2c_header(c, header);  // throws when not representable
  const int64_t hd = c.head_dim;
  // Inverse of llama2c_row_of_hf_row: llama2.c row -> HF row, for q and k.
  auto hf_rows = [hd](int64_t rows) {
    std::vector<int64_t> order(rows);
    for (int64_t r = 0; r < rows; ++r) order[llama2c_row_of_hf_row(r, hd)] = r;
    return order;
  };
  const std::vector<int64_t> q_order = hf_rows(c.num_heads * hd),
                             k_order = hf_rows(c.num_kv_heads * hd);

  OutFile out(path, llama2c_file_bytes(c), options);
  out.write(header, sizeof header);
  std::vector<Llama2cArray> layout = llama2c_layout(c);
  for (size_t a = 0; a < layout.size(); ++a) {
    const Llama2cArray& arr = layout[a];
    if (!arr.name.empty()) {
      const bool is_q = arr.role == TensorRole::q;
      write_tensor(src, arr.name, DType::f32, out,
                   arr.rope_rows ? (is_q ? &q_order : &k_order) : nullptr);
      continue;
    }
    // The unused RoPE tables of old llama2.c files: freq_cis_real then _imag.
    const bool imag = a > 0 && layout[a - 1].name.empty();
    const int64_t half = hd / 2;
    std::vector<float> table(static_cast<size_t>(half));
    for (int64_t pos = 0; pos < c.max_position_embeddings; ++pos) {
      for (int64_t i = 0; i < half; ++i) {
        const double angle = pos * std::pow(c.rope_theta, -2.0 * i / static_cast<double>(hd));
        table[i] = static_cast<float>(imag ? std::sin(angle) : std::cos(angle));
      }
      out.write(table.data(), table.size() * 4);
    }
  }
  out.close();
}

MadeModel make_random_model(const ModelConfig& config, uint64_t seed, const std::string& dir,
                            const WriteOptions& options) {
  MadeModel made;
  const auto synthetic = synthetic_checkpoint(config, seed);
  made.files = write_safetensors_checkpoint(*synthetic, dir, options);
  made.llama2c_skipped = llama2c_unrepresentable_reason(config);
  const std::string bin = (fs::path(dir) / "model.bin").string();
  if (!made.llama2c_skipped.empty()) fs::remove(bin);  // no stale twin of another model
  if (made.llama2c_skipped.empty()) {
    const auto written = open_checkpoint(dir);
    write_llama2c_checkpoint(*written, bin, options);
    made.files.push_back(bin);
  }
  return made;
}

}  // namespace meshlm
