#include "model/io/quantized_checkpoint.h"

#include <filesystem>
#include <fstream>
#include <map>

#include "arch/tensor_roles.h"
#include "model/io/checkpoint.h"
#include "model/io/checkpoint_writer.h"
#include "model/io/safetensors_format.h"
#include "model/ops/quant.h"
#include "sharding/device_spec.h"
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
  if (method == kMxfp4Method) return DType::mxfp4;
  if (method != kQuantMethod)
    MESHLM_FAIL(where << ": quantization_config.quant_method '" << method.substr(0, 40)
                      << "' is not supported (meshlm reads '" << kMxfp4Method << "' (gpt-oss) and '"
                      << kQuantMethod << "' checkpoints written by mesh-model quantize)");
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
  if (dtype != DType::i8 && dtype != DType::i4)
    MESHLM_FAIL("mesh-model quantize writes int8 or int4, not "
                << dtype_name(dtype) << " (mxfp4: mesh-model make --mxfp4)");
  fs::create_directories(dir);
  for (const char* stale : {"model.safetensors", "model.safetensors.index.json"})
    fs::remove(fs::path(dir) / stale);
  const ModelConfig& c = src.config();
  nlohmann::json config = c.to_hf_json();
  config["torch_dtype"] = "bfloat16";
  config["quantization_config"] = {{"quant_method", kQuantMethod},
                                   {"bits", dtype == DType::i8 ? 8 : 4},
                                   {"block_size", kQuantBlock}};

  // The entries: BF16 ones (every matrix's scales, the vectors) first, so
  // that each starts on an even offset, then every matrix's U8 data.
  std::vector<SafetensorsTensor> entries, data;
  // A stack of matrices [E, rows, cols] is stored as the matrix [E * rows, cols].
  auto rows_of = [](const TensorInfo& t) { return num_elements(t.shape) / t.shape.back(); };
  for (const TensorInfo& t : tensor_inventory(c)) {
    if (is_quantized(storage_dtype(t, dtype))) {
      const int64_t rows = rows_of(t), cols = t.shape.back();
      data.push_back({t.name, DType::u8, {rows, quant_row_bytes(dtype, cols)}});
      entries.push_back({t.name + kScalesSuffix, DType::bf16, {rows, quant_blocks(cols)}});
    } else {
      entries.push_back({t.name, DType::bf16, t.shape});
    }
  }
  entries.insert(entries.end(), data.begin(), data.end());
  std::string header;
  const uint64_t data_bytes = safetensors_header(entries, header);
  std::map<std::string, const SafetensorsTensor*> entry;
  for (const SafetensorsTensor& e : entries) entry[e.name] = &e;

  // One pass over the tensors, each written at its offset.
  const fs::path path = fs::path(dir) / "model.safetensors";
  std::ofstream out(path, std::ios::binary);
  if (!out) MESHLM_FAIL("cannot create " << path.string());
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  auto write_at = [&](const std::string& name, const void* bytes) {
    const SafetensorsTensor& e = *entry.at(name);
    out.seekp(static_cast<std::streamoff>(header.size() + e.begin));
    out.write(static_cast<const char*>(bytes), static_cast<std::streamsize>(e.end - e.begin));
  };
  uint64_t done = 0;
  for (const TensorInfo& t : tensor_inventory(c)) {
    const std::vector<float> v = read_tensor_f32(src, t.name);
    if (is_quantized(storage_dtype(t, dtype))) {
      const int64_t rows = rows_of(t), cols = t.shape.back();
      std::vector<bf16> scales(static_cast<size_t>(rows * quant_blocks(cols)));
      std::vector<std::byte> q(static_cast<size_t>(rows * quant_row_bytes(dtype, cols)));
      quantize_rows(v.data(), rows, cols, cols, dtype, scales.data(), q.data());
      write_at(t.name + kScalesSuffix, scales.data());
      write_at(t.name, q.data());
      done += scales.size() * 2 + q.size();
    } else {
      std::vector<bf16> h(v.size());
      for (size_t i = 0; i < v.size(); ++i) h[i] = float_to_bf16(v[i]);
      write_at(t.name, h.data());
      done += h.size() * 2;
    }
    if (options.progress) options.progress(done, data_bytes);
  }
  out.close();
  if (!out) MESHLM_FAIL("cannot write " << path.string());
  const fs::path config_path = fs::path(dir) / "config.json";
  write_json_file(config_path.string(), config);
  return {config_path.string(), path.string()};
}

}  // namespace meshlm
