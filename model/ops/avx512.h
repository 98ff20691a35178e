// <immintrin.h> for the AVX-512 kernels (when the build targets AVX-512).
// GCC 12 reports its own _mm512_undefined_* placeholders inside the
// intrinsics as uninitialized (GCC bug 105593): silence that, for the header only.
#pragma once

#if defined(__AVX512F__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif
