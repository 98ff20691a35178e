// Token sampling from the logits of one sequence: greedy argmax (ties go to
// the lowest id), or temperature + top-k + top-p with a seeded RNG.
// Deterministic: the same logits and RNG state give the same token on every
// rank, which is how every mesh agrees (docs/DESIGN.md §4: sampling is identical
// whatever the mesh; each sequence has its own RNG stream, seeded from the
// run's seed and the sequence's global index, so the tokens do not depend on
// which dp replica runs it).
#pragma once

#include <cstdint>

namespace meshlm {

// The full-vocabulary logits of one sequence, possibly stored as the shards
// an all-gather produced: vocab id v = s * shard_len + j lives at
// data[s * shard_stride + j] (one shard: shard_stride unused).
struct LogitsView {
  float* data = nullptr;
  int64_t shard_len = 0;
  int64_t shard_stride = 0;
  int64_t shards = 1;

  int64_t vocab() const { return shard_len * shards; }
  float& at(int64_t v) const { return data[(v / shard_len) * shard_stride + v % shard_len]; }
};

struct SamplingParams {
  float temperature = 0.0f;  // <= 0: greedy
  int64_t top_k = 0;         // 0 or >= vocab: no top-k cut
  float top_p = 1.0f;        // >= 1: no nucleus cut
};

// xorshift64* (the llama2.c reference's generator).
class Rng {
 public:
  explicit Rng(uint64_t state = 0x853c49e6748fea9bull) : state_(state ? state : 1) {}
  // The stream of sequence `index` of a run seeded with `seed`.
  static Rng for_sequence(uint64_t seed, uint64_t index);
  uint32_t next_u32();
  float next_f32();  // in [0, 1)
  uint64_t state() const { return state_; }

 private:
  uint64_t state_;
};

// Greedy: the id of the largest logit, the lowest id on ties.
int32_t argmax(const LogitsView& logits);

// Samples a token. Greedy when temperature <= 0 (or top_k == 1). Otherwise
// turns the logits into probabilities in place (softmax of logits /
// temperature), keeps the top_k most probable ids and, of those, the smallest
// most-probable set whose mass reaches top_p (ties at a cut are kept), and
// draws one id with probability proportional to its mass, using one value of rng.
int32_t sample(const LogitsView& logits, const SamplingParams& params, Rng& rng);

}  // namespace meshlm
