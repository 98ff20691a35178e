#include "model/accuracy.h"

#include <algorithm>
#include <cmath>

#include "model/ops/sampling.h"
#include "sharding/error.h"

namespace meshlm {

namespace {
std::vector<float> copy_row(const LogitsView& l) {
  std::vector<float> out(static_cast<size_t>(l.vocab()));
  for (int64_t v = 0; v < l.vocab(); ++v) out[static_cast<size_t>(v)] = l.at(v);
  return out;
}
int32_t argmax_of(std::vector<float> row) {
  return argmax(LogitsView{row.data(), static_cast<int64_t>(row.size()), 0, 1});
}
}  // namespace

LogitTrace teacher_forced_logits(Engine& e, const std::vector<int32_t>& prompt,
                                 const std::vector<int32_t>& fed) {
  LogitTrace out;
  e.reset_all();
  const SlotTokens p{0, prompt};
  e.prefill({&p, 1});
  out.push_back(copy_row(e.logits(0)));
  const int32_t slot = 0;
  for (const int32_t& t : fed) {
    e.decode_step({&slot, 1}, {&t, 1});
    out.push_back(copy_row(e.logits(0)));
  }
  return out;
}

LogitAgreement logit_agreement(const LogitTrace& got, const LogitTrace& want) {
  MESHLM_CHECK(got.size() == want.size() && !got.empty(),
               "traces of " << got.size() << " and " << want.size() << " steps");
  LogitAgreement a;
  double err = 0, ref = 0;
  int64_t agree = 0;
  for (size_t s = 0; s < got.size(); ++s) {
    for (size_t v = 0; v < got[s].size(); ++v) {
      const double d = static_cast<double>(got[s][v]) - want[s][v];
      err += d * d;
      ref += static_cast<double>(want[s][v]) * want[s][v];
      a.max_abs_diff = std::max(a.max_abs_diff, std::abs(d));
    }
    agree += argmax_of(got[s]) == argmax_of(want[s]);
  }
  a.nmse = err / ref;
  a.top1 = static_cast<double>(agree) / static_cast<double>(got.size());
  return a;
}

}  // namespace meshlm
