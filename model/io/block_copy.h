// Helpers shared by every checkpoint: element conversion between stored and
// compute dtypes, and the walk over the contiguous runs of a block of a
// row-major tensor (so that a block read is a few long memcpy/convert calls).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "sharding/dtype.h"
#include "sharding/named_sharding.h"

namespace meshlm {

// Converts n elements from `src` (dtype f32, bf16 or f16; any alignment) to
// `dst` (f32, bf16 or f16, naturally aligned). Narrowing rounds to nearest even.
// Returns whether every converted value is finite (checked as it is copied:
// a checkpoint holding NaN or Inf is refused by the reader, naming the tensor).
bool convert_elements(const std::byte* src, DType src_dtype, void* dst, DType dst_dtype, int64_t n);

// Bytes per element of a dtype that can be stored or read (f32, bf16, f16).
int64_t element_bytes(DType t);

// Checks that `offset`/`block` select a valid block of a tensor of `shape`
// and that `dst_dtype` is f32, bf16 or f16; the message names the tensor.
void check_block(const std::string& name, const Shape& shape, const Shape& offset,
                 const Shape& block, DType dst_dtype);

// Calls fn(src_flat, dst_flat, n) for each contiguous run of the block, where
// src_flat is the flat (row-major) index of the run's first element in the
// whole tensor and dst_flat its index in the (row-major) block. Trailing
// dimensions the block covers in full are merged into one run. With
// `split_rows`, a run never crosses a boundary of dimension 0 (needed when
// rows are permuted).
template <class Fn>
void for_each_block_run(const Shape& shape, const Shape& offset, const Shape& block,
                        bool split_rows, Fn&& fn) {
  const int nd = static_cast<int>(shape.size());
  for (int d = 0; d < nd; ++d)
    if (block[d] == 0) return;
  // Dimensions [first, nd) form one run: all but `first` are covered in full.
  int first = nd - 1;
  while (first > 0 && block[first] == shape[first]) --first;
  const int min_first = split_rows ? 1 : 0;
  if (first < min_first) first = min_first;
  if (nd == 0) first = 0;
  int64_t run = 1;
  for (int d = first; d < nd; ++d) run *= block[d];
  // Strides of the whole tensor.
  int64_t stride[16];
  int64_t s = 1;
  for (int d = nd - 1; d >= 0; --d) {
    stride[d] = s;
    s *= shape[d];
  }
  int64_t idx[16] = {0};  // odometer over the outer dimensions [0, first)
  int64_t base = 0;
  for (int d = 0; d < nd; ++d) base += offset[d] * stride[d];
  int64_t dst = 0;
  for (;;) {
    int64_t src = base;
    for (int d = 0; d < first; ++d) src += idx[d] * stride[d];
    fn(src, dst, run);
    dst += run;
    int d = first - 1;
    for (; d >= 0; --d) {
      if (++idx[d] < block[d]) break;
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

}  // namespace meshlm
