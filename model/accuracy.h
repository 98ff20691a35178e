// How close one run's logits come to another's along the same tokens: the
// measure `mesh-bench accuracy` reports for quantized weights and KV caches
// and the quantization tests bound (docs/DESIGN.md §11).
#pragma once

#include <cstdint>
#include <vector>

#include "model/engine.h"

namespace meshlm {

using LogitTrace = std::vector<std::vector<float>>;  // [step][vocab]

// Slot 0 of every replica: prefills `prompt`, then feeds `fed` one token per
// decode step (teacher forcing). Returns 1 + fed.size() rows of logits.
LogitTrace teacher_forced_logits(Engine& engine, const std::vector<int32_t>& prompt,
                                 const std::vector<int32_t>& fed);

struct LogitAgreement {
  double nmse = 0;          // sum of squared differences / sum of squares of `want`
  double max_abs_diff = 0;  // largest |got - want|
  double top1 = 0;          // share of steps whose argmax tokens agree
};
LogitAgreement logit_agreement(const LogitTrace& got, const LogitTrace& want);

}  // namespace meshlm
