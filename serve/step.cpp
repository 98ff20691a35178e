#include "serve/step.h"

#include <cstring>
#include <type_traits>

#include "sharding/error.h"

namespace meshlm {

namespace {

// Plain little-endian host layout: every rank of a job runs the same binary.
class Writer {
 public:
  template <class T>
  void put(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    const auto* p = reinterpret_cast<const std::byte*>(&v);
    out_.insert(out_.end(), p, p + sizeof(T));
  }
  template <class T>
  void put_vector(const std::vector<T>& v) {
    put(static_cast<uint64_t>(v.size()));
    for (const T& x : v) put(x);
  }
  std::vector<std::byte> take() { return std::move(out_); }

 private:
  std::vector<std::byte> out_;
};

class Reader {
 public:
  explicit Reader(std::span<const std::byte> in) : in_(in) {}
  template <class T>
  T get() {
    static_assert(std::is_trivially_copyable_v<T>);
    MESHLM_CHECK(pos_ + sizeof(T) <= in_.size(), "step message cut at byte " << pos_);
    T v;
    std::memcpy(&v, in_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  template <class T>
  std::vector<T> get_vector() {
    const auto n = get<uint64_t>();
    MESHLM_CHECK(n <= (in_.size() - pos_) / sizeof(T), "step message vector of " << n);
    std::vector<T> v(n);
    for (T& x : v) x = get<T>();
    return v;
  }
  bool done() const { return pos_ == in_.size(); }

 private:
  std::span<const std::byte> in_;
  size_t pos_ = 0;
};

}  // namespace

std::vector<std::byte> encode(const StepMessage& m) {
  Writer w;
  w.put(static_cast<uint8_t>(m.shutdown));
  w.put(static_cast<uint64_t>(m.replicas.size()));
  for (const auto& works : m.replicas) {
    w.put(static_cast<uint64_t>(works.size()));
    for (const SeqWork& s : works) {
      w.put(s.seq_id);
      w.put(s.slot);
      w.put(s.start_pos);
      w.put_vector(s.tokens);
      w.put_vector(s.block_table);
      w.put_vector(s.window_table);
      w.put(static_cast<uint8_t>(s.sample));
      w.put(s.num_generated);
      w.put(s.sampling.temperature);
      w.put(s.sampling.top_k);
      w.put(s.sampling.top_p);
      w.put(s.seed);
      w.put(s.logprobs);
    }
  }
  return w.take();
}

StepMessage decode_step(std::span<const std::byte> bytes) {
  Reader r(bytes);
  StepMessage m;
  m.shutdown = r.get<uint8_t>() != 0;
  m.replicas.resize(r.get<uint64_t>());
  for (auto& works : m.replicas) {
    works.resize(r.get<uint64_t>());
    for (SeqWork& s : works) {
      s.seq_id = r.get<int64_t>();
      s.slot = r.get<int32_t>();
      s.start_pos = r.get<int64_t>();
      s.tokens = r.get_vector<int32_t>();
      s.block_table = r.get_vector<int32_t>();
      s.window_table = r.get_vector<int32_t>();
      s.sample = r.get<uint8_t>() != 0;
      s.num_generated = r.get<int64_t>();
      s.sampling.temperature = r.get<float>();
      s.sampling.top_k = r.get<int64_t>();
      s.sampling.top_p = r.get<float>();
      s.seed = r.get<uint64_t>();
      s.logprobs = r.get<int32_t>();
    }
  }
  MESHLM_CHECK(r.done(), "trailing bytes in a step message");
  return m;
}

std::vector<std::byte> encode(const std::vector<SeqResult>& results) {
  Writer w;
  w.put(static_cast<uint64_t>(results.size()));
  for (const SeqResult& s : results) {
    w.put(s.seq_id);
    w.put(s.token);
    w.put(s.logprob);
    w.put_vector(s.top);
  }
  return w.take();
}

std::vector<SeqResult> decode_results(std::span<const std::byte> bytes) {
  Reader r(bytes);
  std::vector<SeqResult> out(r.get<uint64_t>());
  for (SeqResult& s : out) {
    s.seq_id = r.get<int64_t>();
    s.token = r.get<int32_t>();
    s.logprob = r.get<float>();
    s.top = r.get_vector<TokenLogprob>();
  }
  MESHLM_CHECK(r.done(), "trailing bytes in step results");
  return out;
}

}  // namespace meshlm
