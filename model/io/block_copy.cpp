#include "model/io/block_copy.h"

#include <cstring>

#if defined(__F16C__) && defined(__AVX__)
#include <immintrin.h>
#endif

#include "sharding/error.h"

namespace meshlm {

namespace {

inline uint16_t load_u16(const std::byte* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

void bf16_to_f32(const std::byte* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t u = static_cast<uint32_t>(load_u16(src + 2 * i)) << 16;
    std::memcpy(dst + i, &u, 4);
  }
}

void f16_to_f32(const std::byte* src, float* dst, int64_t n) {
  int64_t i = 0;
#if defined(__F16C__) && defined(__AVX__)
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * i));
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
  }
#endif
  for (; i < n; ++i) dst[i] = fp16_to_float(load_u16(src + 2 * i));
}

void f32_to_bf16(const std::byte* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float f;
    std::memcpy(&f, src + 4 * i, 4);
    dst[i] = float_to_bf16(f).bits;
  }
}

}  // namespace

int64_t element_bytes(DType t) {
  switch (t) {
    case DType::f32:
      return 4;
    case DType::bf16:
    case DType::f16:
      return 2;
    case DType::u8:
      return 1;
    default:
      MESHLM_FAIL("dtype " << dtype_name(t) << " cannot be stored in a checkpoint here");
  }
}

namespace {

void convert_run(const std::byte* src, DType src_dtype, void* dst, DType dst_dtype, int64_t n) {
  if (src_dtype == dst_dtype) {
    std::memcpy(dst, src, static_cast<size_t>(n * element_bytes(src_dtype)));
    return;
  }
  if (dst_dtype == DType::f32) {
    float* out = static_cast<float*>(dst);
    if (src_dtype == DType::bf16) return bf16_to_f32(src, out, n);
    if (src_dtype == DType::f16) return f16_to_f32(src, out, n);
  } else if (dst_dtype == DType::f16) {
    uint16_t* out = static_cast<uint16_t*>(dst);
    // Through fp32 (bf16 -> f32 is exact); runs are at most kRun elements.
    alignas(64) float tmp[1024];
    const float* f = reinterpret_cast<const float*>(src);
    if (src_dtype == DType::bf16) {
      bf16_to_f32(src, tmp, n);
      f = tmp;
    }
    if (src_dtype == DType::f32 || src_dtype == DType::bf16) {
      for (int64_t i = 0; i < n; ++i) {
        float v;
        std::memcpy(&v, f + i, 4);
        out[i] = float_to_fp16(v);
      }
      return;
    }
  } else if (dst_dtype == DType::bf16) {
    uint16_t* out = static_cast<uint16_t*>(dst);
    if (src_dtype == DType::f32) return f32_to_bf16(src, out, n);
    if (src_dtype == DType::f16) {
      // Through fp32 (f16 -> f32 is exact); runs are at most kRun elements.
      alignas(64) float tmp[1024];
      f16_to_f32(src, tmp, n);
      f32_to_bf16(reinterpret_cast<const std::byte*>(tmp), out, n);
      return;
    }
  }
  MESHLM_FAIL("cannot convert " << dtype_name(src_dtype) << " to " << dtype_name(dst_dtype)
                                << " (reads give fp32, bf16 or fp16 from fp32, bf16 or fp16)");
}

// Whether n converted elements (fp32, bf16 or fp16) are all finite: a
// branch-free scan of the exponent bits while they are still in cache.
bool all_finite(const void* p, DType t, int64_t n) {
  uint32_t bad = 0;
  if (t == DType::f32) {
    const auto* u = static_cast<const uint32_t*>(p);
    for (int64_t i = 0; i < n; ++i) bad |= (u[i] & 0x7f800000u) == 0x7f800000u;
  } else if (t == DType::f16) {
    const auto* u = static_cast<const uint16_t*>(p);
    for (int64_t i = 0; i < n; ++i) bad |= (u[i] & 0x7c00u) == 0x7c00u;
  } else {
    const auto* u = static_cast<const uint16_t*>(p);
    for (int64_t i = 0; i < n; ++i) bad |= (u[i] & 0x7f80u) == 0x7f80u;
  }
  return bad == 0;
}

}  // namespace

bool convert_elements(const std::byte* src, DType src_dtype, void* dst, DType dst_dtype,
                      int64_t n) {
  // In runs of 1024 elements, each checked for NaN/Inf right after it is
  // written (no second pass over the tensor).
  constexpr int64_t kRun = 1024;
  const int64_t sb = element_bytes(src_dtype), db = element_bytes(dst_dtype);
  bool finite = true;
  for (int64_t i = 0; i < n; i += kRun) {
    const int64_t m = n - i < kRun ? n - i : kRun;
    void* out = static_cast<std::byte*>(dst) + i * db;
    convert_run(src + i * sb, src_dtype, out, dst_dtype, m);
    finite = all_finite(out, dst_dtype, m) && finite;
  }
  return finite;
}

void check_block(const std::string& name, const Shape& shape, const Shape& offset,
                 const Shape& block, DType dst_dtype) {
  if (dst_dtype != DType::f32 && dst_dtype != DType::bf16 && dst_dtype != DType::f16)
    MESHLM_FAIL("cannot read " << name << " as " << dtype_name(dst_dtype)
                               << ": blocks are read as fp32, bf16 or fp16");
  if (offset.size() != shape.size() || block.size() != shape.size())
    MESHLM_FAIL("block of " << name << " has offset " << shape_to_string(offset) << " and extent "
                            << shape_to_string(block) << " but the tensor has " << shape.size()
                            << " dimensions " << shape_to_string(shape));
  if (shape.size() > 16) MESHLM_FAIL(name << " has more than 16 dimensions");
  for (size_t d = 0; d < shape.size(); ++d)
    if (offset[d] < 0 || block[d] < 0 || offset[d] + block[d] > shape[d])
      MESHLM_FAIL("block of " << name << " at offset " << shape_to_string(offset) << " with extent "
                              << shape_to_string(block) << " is out of range in dimension " << d
                              << " of shape " << shape_to_string(shape));
}

}  // namespace meshlm
