// Pre-quantized checkpoints (docs/DESIGN.md §5, "Quantized weights"): a
// Hugging Face directory whose config.json says
//   "quantization_config": {"quant_method": "meshlm-block32", "bits": 8 | 4}
// and whose safetensors hold every matrix (a stack [E, rows, cols] as the
// matrix [E * rows, cols]) as two tensors: `<name>` (U8 [rows, row bytes]: the rows' int8 bytes q +
// 128, or int4 nibbles q + 8, as in device memory) and `<name>.scales` (BF16 [rows, ceil(cols /
// 32)]); norms, biases, sinks are BF16. Loading one gives the tensors of the model's shapes in
// int8/int4, read block by block without requantizing.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "sharding/dtype.h"

namespace meshlm {

class Checkpoint;
struct WriteOptions;

inline constexpr const char* kScalesSuffix = ".scales";
inline constexpr const char* kQuantMethod = "meshlm-block32";
// gpt-oss's released checkpoints: experts' matrices as <name>_blocks and
// <name>_scales (arch/tensor_roles.h file_tensors), everything else BF16.
inline constexpr const char* kMxfp4Method = "mxfp4";

// int8 or int4 when `config` (a config.json) declares meshlm's quantization,
// mxfp4 when it declares quant_method "mxfp4", nullopt when it declares
// none; throws naming an unknown method or bits.
std::optional<DType> declared_quantization(const nlohmann::json& config, const std::string& where);

// Writes src quantized to `dtype` (int8 or int4) into dir: config.json and
// model.safetensors. Returns the paths written.
std::vector<std::string> write_quantized_checkpoint(const Checkpoint& src, const std::string& dir,
                                                    DType dtype, const WriteOptions& options);

}  // namespace meshlm
