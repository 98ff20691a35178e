#include "sharding/checked.h"

namespace meshlm {

void size_overflow(std::string_view what, int64_t a, char op, int64_t b) {
  if (a < 0 || b < 0)
    MESHLM_FAIL(what << ": negative size " << (a < 0 ? a : b) << " in " << a << " " << op << " "
                     << b);
  MESHLM_FAIL(what << ": " << a << " " << op << " " << b << " overflows int64 (at most "
                   << INT64_MAX << ")");
}

int64_t checked_product(std::span<const int64_t> sizes, std::string_view what) {
  int64_t n = 1;
  for (int64_t d : sizes) n = checked_mul(n, d, what);
  return n;
}

void check_range(int64_t v, int64_t max, std::string_view what) {
  if (v < 1 || v > max) MESHLM_FAIL(what << " is " << v << " (expected 1.." << max << ")");
}

}  // namespace meshlm
