#include "model/io/quantized_checkpoint.h"

#include <filesystem>
#include <fstream>

#include "arch/tensor_roles.h"
#include "model/io/checkpoint.h"
#include "model/io/checkpoint_writer.h"
#include "model/ops/quant.h"
#include "sharding/error.h"

namespace meshlm {

namespace fs = std::filesystem;

std::optional<DType> declared_quantization(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("quantization_config") || j["quantization_config"].is_null())
    return std::nullopt;
  const nlohmann::json& q = j["quantization_config"];
  const std::string method =
      q.is_object() && q.contains("quant_method") && q["quant_method"].is_string()
          ? q["quant_method"].get<std::string>()
          : "";
  if (method != kQuantMethod)
    MESHLM_FAIL(where << ": quantization_config.quant_method '" << method.substr(0, 40)
                      << "' is not supported (meshlm reads '" << kQuantMethod
                      << "' checkpoints written by mesh-model quantize)");
  const int bits = q.contains("bits") && q["bits"].is_number_integer() ? q["bits"].get<int>() : 0;
  if (bits != 8 && bits != 4)
    MESHLM_FAIL(where << ": quantization_config.bits is "
                      << (q.contains("bits") ? q["bits"].dump().substr(0, 40) : "missing")
                      << " (expected 8 or 4)");
  if (q.contains("block_size") && q["block_size"] != kQuantBlock)
    MESHLM_FAIL(where << ": quantization_config.block_size is "
                      << q["block_size"].dump().substr(0, 40) << " (meshlm's blocks are "
                      << kQuantBlock << ")");
  return bits == 8 ? DType::i8 : DType::i4;
}

std::vector<std::string> write_quantized_checkpoint(const Checkpoint& src, const std::string& dir,
                                                    DType dtype, const WriteOptions& options) {
  if (!is_quantized(dtype))
    MESHLM_FAIL("mesh-model quantize writes int8 or int4, not " << dtype_name(dtype));
  fs::create_directories(dir);
  for (const char* stale : {"model.safetensors", "model.safetensors.index.json"})
    fs::remove(fs::path(dir) / stale);
  const ModelConfig& c = src.config();
  nlohmann::json config = c.to_hf_json();
  config["torch_dtype"] = "bfloat16";
  config["quantization_config"] = {{"quant_method", kQuantMethod},
                                   {"bits", dtype == DType::i8 ? 8 : 4},
                                   {"block_size", kQuantBlock}};

  // The entries: BF16 ones (every matrix's scales, the rank-1 tensors) first,
  // so that each starts on an even offset, then every matrix's U8 data.
  struct Entry {
    std::string name;
    DType dtype;
    Shape shape;
  };
  std::vector<Entry> entries, data;
  for (const TensorInfo& t : tensor_inventory(c)) {
    if (t.shape.size() > 2)
      MESHLM_FAIL("tensor " << t.name << " " << shape_to_string(t.shape)
                            << " has rank 3: pre-quantized checkpoints hold matrices and vectors");
    if (is_quantized(storage_dtype(t, dtype))) {
      data.push_back({t.name, DType::u8, {t.shape[0], quant_row_bytes(dtype, t.shape[1])}});
      entries.push_back(
          {t.name + kScalesSuffix, DType::bf16, {t.shape[0], quant_blocks(t.shape[1])}});
    } else {
      entries.push_back({t.name, DType::bf16, t.shape});
    }
  }
  entries.insert(entries.end(), data.begin(), data.end());
  nlohmann::json header = nlohmann::json::object();
  header["__metadata__"] = {{"format", "pt"}};
  uint64_t offset = 0;
  for (const Entry& e : entries) {
    const uint64_t bytes = dtype_bytes(e.dtype, static_cast<uint64_t>(num_elements(e.shape)));
    header[e.name] = {{"dtype", e.dtype == DType::u8 ? "U8" : "BF16"},
                      {"shape", e.shape},
                      {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  const fs::path path = fs::path(dir) / "model.safetensors";
  std::ofstream out(path, std::ios::binary);
  if (!out) MESHLM_FAIL("cannot create " << path.string());
  const uint64_t n = text.size();
  out.write(reinterpret_cast<const char*>(&n), 8);
  out.write(text.data(), static_cast<std::streamsize>(n));
  // Two passes in entry order: scales and vectors, then the matrices' data
  // (each matrix is quantized in both; the values are the same).
  uint64_t done = 0;
  for (bool data_pass : {false, true})
    for (const TensorInfo& t : tensor_inventory(c)) {
      const bool matrix = is_quantized(storage_dtype(t, dtype));
      if (data_pass && !matrix) continue;
      const std::vector<float> v = read_tensor_f32(src, t.name);
      if (matrix) {
        const int64_t rows = t.shape[0], cols = t.shape[1];
        std::vector<std::byte> q(quant_matrix_bytes(dtype, rows, cols));
        quantize_matrix(v.data(), rows, cols, cols, dtype, q.data());
        const QuantMatrix m = QuantMatrix::of(q.data(), dtype, rows, cols);
        const auto* bytes = data_pass ? reinterpret_cast<const char*>(m.data)
                                      : reinterpret_cast<const char*>(m.scales);
        const int64_t count = data_pass ? rows * m.row_bytes : rows * m.blocks * 2;
        out.write(bytes, static_cast<std::streamsize>(count));
        done += static_cast<uint64_t>(count);
      } else {
        std::vector<bf16> h(v.size());
        for (size_t i = 0; i < v.size(); ++i) h[i] = float_to_bf16(v[i]);
        out.write(reinterpret_cast<const char*>(h.data()),
                  static_cast<std::streamsize>(h.size() * 2));
        done += h.size() * 2;
      }
      if (options.progress) options.progress(done, offset);
    }
  out.close();
  if (!out) MESHLM_FAIL("cannot write " << path.string());
  const fs::path config_path = fs::path(dir) / "config.json";
  std::ofstream cf(config_path);
  cf << config.dump(2) << "\n";
  if (!cf) MESHLM_FAIL("cannot write " << config_path.string());
  return {config_path.string(), path.string()};
}

}  // namespace meshlm
