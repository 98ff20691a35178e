// The llama2.c checkpoint layout (docs/DESIGN.md §5), shared by the reader and the
// writer: the order of the float32 arrays after the 7-int32 header, mapped
// onto canonical Hugging Face names, and the q/k row permutation between
// llama2.c's adjacent-pair RoPE and HF's rotate-half RoPE.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "arch/model_config.h"
#include "arch/tensor_roles.h"
#include "sharding/named_sharding.h"

namespace meshlm {

constexpr int64_t kLlama2cHeaderBytes = 7 * 4;

// One float32 array of the file, in file order.
struct Llama2cArray {
  std::string name;  // canonical HF name; "" for the two unused RoPE tables
  TensorRole role = TensorRole::embed;
  Shape shape;             // HF shape ([out, in] for linear weights)
  bool rope_rows = false;  // q_proj/k_proj: rows permuted (llama2c_row_of_hf_row)
};

// Per head of `head_dim` rows: HF row j (j < hd/2) is llama2.c row 2j, HF row
// hd/2 + j is llama2.c row 2j + 1. Maps a row index of the whole tensor.
inline int64_t llama2c_row_of_hf_row(int64_t row, int64_t head_dim) {
  const int64_t head = row / head_dim, j = row % head_dim, half = head_dim / 2;
  return head * head_dim + (j < half ? 2 * j : 2 * (j - half) + 1);
}

// The config of the llama2.c checkpoint whose whole file is the `size` bytes
// at `data` (`path` names it in errors; its stem names the model): the header
// is valid (every field >= 1 but vocab_size, which is not 0; the limits of
// check_limits) and the file holds exactly the bytes the header describes
// (errors name both sizes: "truncated", "trailing data").
ModelConfig llama2c_config(const std::byte* data, uint64_t size, const std::string& path);

// The arrays of a llama2.c file for `config`, in file order.
std::vector<Llama2cArray> llama2c_layout(const ModelConfig& config);
// Bytes of the whole file (header + arrays), without building the layout.
// Saturates at INT64_MAX for absurd headers.
int64_t llama2c_file_bytes(const ModelConfig& config);
// The header a writer stores for `config` (vocab negative when untied).
void llama2c_header(const ModelConfig& config, int32_t header[7]);
// "" when `config` can be written as a llama2.c checkpoint that reads back as
// the same model; otherwise why not.
std::string llama2c_unrepresentable_reason(const ModelConfig& config);

}  // namespace meshlm
