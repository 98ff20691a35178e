// StoredCheckpoint::read_block: one block of a logical tensor, whatever the
// files do differently (stored_checkpoint.h): a stack of per-expert tensors
// is read part by part, a transposed tensor element-row by element-row, a
// quantized one (int8/int4 pre-quantized, mxfp4) copied in the device layout
// or dequantized, the rest as contiguous runs converted on the fly.
#include <cmath>
#include <cstring>
#include <vector>

#include "model/io/block_copy.h"
#include "model/io/stored_checkpoint.h"
#include "model/ops/quant.h"
#include "sharding/error.h"

namespace meshlm {

namespace {

void check_range(const std::string& name, const Shape& shape, const Shape& offset,
                 const Shape& block) {
  bool ok = offset.size() == shape.size() && block.size() == shape.size();
  for (size_t d = 0; ok && d < shape.size(); ++d)
    ok = offset[d] >= 0 && block[d] >= 0 && offset[d] + block[d] <= shape[d];
  if (!ok)
    MESHLM_FAIL("block " << shape_to_string(offset) << " + " << shape_to_string(block)
                         << " is outside tensor '" << name << "' " << shape_to_string(shape));
}

std::string file_of(const StoredTensor& t) {
  return t.file ? t.file->path() : "the checkpoint";
}

[[noreturn]] void non_finite(const std::string& name, const StoredTensor& t, int64_t first,
                             int64_t n) {
  MESHLM_FAIL("tensor '" << name << "' in " << file_of(t)
                         << " holds NaN or Inf values (among elements " << first << ".."
                         << first + n - 1 << " of its block read): corrupt checkpoint");
}

void read_plain(const std::string& name, const StoredTensor& t, const Shape& offset,
                const Shape& block, DType dst_dtype, std::byte* out) {
  check_block(name, t.shape, offset, block, dst_dtype);
  const int64_t src_bytes = element_bytes(t.dtype), dst_bytes = element_bytes(dst_dtype);
  const std::vector<int64_t>* row_map = t.row_map.get();
  const int64_t row_elems = t.shape.empty() ? 1 : num_elements(t.shape) / t.shape[0];
  for_each_block_run(t.shape, offset, block, row_map != nullptr,
                     [&](int64_t src, int64_t dst_index, int64_t n) {
                       if (row_map) src = (*row_map)[src / row_elems] * row_elems + src % row_elems;
                       if (!convert_elements(t.data + src * src_bytes, t.dtype,
                                             out + dst_index * dst_bytes, dst_dtype, n))
                         non_finite(name, t, src, n);
                     });
}

// Logical [..., R, C] stored as [..., C, R]: each stored row c gives column
// c of the block's rows.
void read_transposed(const std::string& name, const StoredTensor& t, const Shape& offset,
                     const Shape& block, DType dst_dtype, std::byte* out) {
  check_block(name, t.shape, offset, block, dst_dtype);
  const size_t nd = t.shape.size();
  MESHLM_CHECK(nd == 2 || nd == 3, "transposed tensor " << name << " of rank " << nd);
  const int64_t R = t.shape[nd - 2], C = t.shape[nd - 1];
  const int64_t r0 = offset[nd - 2], nr = block[nd - 2], c0 = offset[nd - 1], nc = block[nd - 1];
  const int64_t lead = nd == 3 ? block[0] : 1, lead0 = nd == 3 ? offset[0] : 0;
  const int64_t sb = element_bytes(t.dtype), db = element_bytes(dst_dtype);
  std::vector<std::byte> run(static_cast<size_t>(nr * db));
  for (int64_t m = 0; m < lead; ++m) {
    const int64_t base = (lead0 + m) * R * C;  // elements before this matrix in the file
    std::byte* dst = out + m * nr * nc * db;
    for (int64_t c = 0; c < nc; ++c) {
      const int64_t src = base + (c0 + c) * R + r0;
      if (!convert_elements(t.data + src * sb, t.dtype, run.data(), dst_dtype, nr))
        non_finite(name, t, src, nr);
      for (int64_t r = 0; r < nr; ++r)
        std::memcpy(dst + (r * nc + c) * db, run.data() + r * db, static_cast<size_t>(db));
    }
  }
}

// Logical [..., rows, cols] quantized along cols (int8/int4/mxfp4): matrix m
// of the stack holds rows [m * rows, (m + 1) * rows) of the stored data and scales.
void read_quantized(const std::string& name, const StoredTensor& t, const Shape& offset,
                    const Shape& block, DType dst_dtype, std::byte* out) {
  check_range(name, t.shape, offset, block);
  const size_t nd = t.shape.size();
  if (nd < 2) MESHLM_FAIL("quantized tensor '" << name << "' has rank " << nd);
  const int64_t rows = t.shape[nd - 2], cols = t.shape[nd - 1];
  const int64_t r0 = offset[nd - 2], nr = block[nd - 2], c0 = offset[nd - 1], n = block[nd - 1];
  if (c0 % kQuantBlock != 0 || (c0 + n != cols && n % kQuantBlock != 0))
    MESHLM_FAIL("columns [" << c0 << ", " << c0 + n << ") of quantized tensor '" << name
                            << "' cut a block of " << kQuantBlock
                            << " (a shard holds whole blocks)");
  int64_t lead = 1, lead0 = 0;  // matrices of the stack read, and the first
  for (size_t d = 0; d + 2 < nd; ++d) {
    lead *= block[d];
    lead0 = lead0 * t.shape[d] + offset[d];
  }
  MESHLM_CHECK(nd <= 3 || lead == 1, "quantized block of rank " << nd);
  const int64_t row_bytes = quant_row_bytes(t.dtype, cols), blocks = quant_blocks(cols);
  const int64_t b0 = c0 / kQuantBlock, nb = quant_blocks(n), bytes = quant_row_bytes(t.dtype, n);
  const int64_t byte0 = static_cast<int64_t>(dtype_bytes(t.dtype, static_cast<uint64_t>(c0)));
  const int64_t scale_bytes = static_cast<int64_t>(dtype_bytes(quant_scale_dtype(t.dtype), 1));
  const auto* scale_base = t.dtype == DType::mxfp4 ? reinterpret_cast<const std::byte*>(t.exponents)
                                                   : reinterpret_cast<const std::byte*>(t.scales);
  const bool same = dst_dtype == t.dtype;
  if (!same && dst_dtype != DType::f32 && dst_dtype != DType::bf16 && dst_dtype != DType::f16)
    MESHLM_FAIL("quantized tensor '" << name << "' (" << dtype_name(t.dtype) << ") can be read as "
                                     << dtype_name(t.dtype)
                                     << " or dequantized to fp32, bf16 or "
                                        "fp16, not as "
                                     << dtype_name(dst_dtype));
  std::vector<float> f32(same ? 0 : static_cast<size_t>(n));
  for (int64_t m = 0; m < lead; ++m) {
    const int64_t row_first = (lead0 + m) * rows + r0;  // stored row of the block's row 0
    auto row_data = [&](int64_t r) { return t.data + (row_first + r) * row_bytes + byte0; };
    auto row_scales = [&](int64_t r) {
      return scale_base + ((row_first + r) * blocks + b0) * scale_bytes;
    };
    // Scales are checked as they are read, as every other read checks its values.
    for (int64_t r = 0; r < nr; ++r)
      for (int64_t b = 0; b < nb; ++b) {
        const std::byte* p = row_scales(r) + b * scale_bytes;
        bool finite;
        if (t.dtype == DType::mxfp4) {
          finite = std::to_integer<uint8_t>(*p) != 0xff;  // E8M0 NaN
        } else {
          bf16 s;
          std::memcpy(&s, p, sizeof s);
          finite = std::isfinite(bf16_to_float(s));
        }
        if (!finite)
          MESHLM_FAIL("tensor '" << name << "' in " << file_of(t)
                                 << " holds NaN or Inf block scales (row " << row_first + r
                                 << ", block " << b0 + b << "): corrupt checkpoint");
      }
    if (same) {  // the device layout: the block's scale rows, then its data rows
      for (int64_t r = 0; r < nr; ++r)
        std::memcpy(out + r * nb * scale_bytes, row_scales(r),
                    static_cast<size_t>(nb * scale_bytes));
      std::byte* data = out + nr * nb * scale_bytes;
      for (int64_t r = 0; r < nr; ++r)
        std::memcpy(data + r * bytes, row_data(r), static_cast<size_t>(bytes));
      out += weight_bytes({nr, n}, t.dtype);
      continue;
    }
    QuantMatrix q;
    q.dtype = t.dtype;
    q.rows = (lead0 + m + 1) * rows;  // the stored rows up to this matrix's end
    q.cols = cols;
    q.row_bytes = row_bytes;
    q.blocks = blocks;
    q.data = t.data;
    q.scales = t.scales;
    q.exponents = t.exponents;
    const int64_t db = element_bytes(dst_dtype);
    for (int64_t r = 0; r < nr; ++r) {
      q.dequantize_row(row_first + r, c0, n, f32.data());
      convert_elements(reinterpret_cast<const std::byte*>(f32.data()), DType::f32, out, dst_dtype,
                       n);
      out += n * db;
    }
  }
}

void read_stored(const std::string& name, const StoredTensor& t, const Shape& offset,
                 const Shape& block, DType dst_dtype, std::byte* dst) {
  if (!t.parts.empty()) {  // a stack of per-expert tensors
    check_range(name, t.shape, offset, block);
    const Shape sub_offset(offset.begin() + 1, offset.end()),
        sub_block(block.begin() + 1, block.end());
    const uint64_t step = weight_bytes(sub_block, dst_dtype);
    for (int64_t e = 0; e < block[0]; ++e)
      read_stored(name, t.parts[static_cast<size_t>(offset[0] + e)], sub_offset, sub_block,
                  dst_dtype, dst + e * step);
    return;
  }
  if (is_quantized(t.dtype)) return read_quantized(name, t, offset, block, dst_dtype, dst);
  if (t.transposed) return read_transposed(name, t, offset, block, dst_dtype, dst);
  read_plain(name, t, offset, block, dst_dtype, dst);
}

}  // namespace

void StoredCheckpoint::read_block(const std::string& name, const Shape& offset, const Shape& block,
                                  DType dst_dtype, void* dst) const {
  read_stored(name, find(name), offset, block, dst_dtype, static_cast<std::byte*>(dst));
}

}  // namespace meshlm
