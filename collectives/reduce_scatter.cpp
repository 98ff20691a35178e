// reduce_scatter: ring algorithm with fp32 partials (docs/DESIGN.md §7), and the
// ring reduce-scatter building block that all_reduce uses for large messages.
#include <mpi.h>

#include "collectives/collectives.h"
#include "collectives/detail.h"

namespace meshlm {
namespace detail {

namespace {
// Each ring step moves its chunk in segments of at most this many elements,
// so every received segment is added while it is still in cache (measured
// with mesh-bench on 2 ranks: 5-15% faster than whole chunks at 1-64 MiB;
// 16 Ki and 256 Ki elements were no better).
constexpr size_t kSegmentElems = 64 * 1024;  // 256 KiB of fp32 partials
}  // namespace

void ring_reduce_scatter(const AxisGroup& g, const void* in, void* out_own, const Chunks& chunks,
                         DType dtype) {
  const int p = g.size, r = g.rank;
  const size_t es = static_cast<size_t>(dtype_bits(dtype) / 8);
  const char* inb = static_cast<const char*>(in);
  char* out = static_cast<char*>(out_own);
  if (p == 1) {
    convert(out_own, dtype, in, dtype, chunks.size(0));
    return;
  }
  const int next = (r + 1) % p, prev = (r - 1 + p) % p;
  // Every rank derives the same segment count from the largest chunk, so the
  // messages of a step pair up even when neighbouring chunks differ in size.
  const size_t max_chunk = chunks.size(0);
  const size_t seg = max_chunk < kSegmentElems ? (max_chunk > 0 ? max_chunk : 1) : kSegmentElems;
  const size_t nseg = (max_chunk + seg - 1) / seg;
  // acc: [max_chunk] fp32 partial this rank forwards next step (p > 2 only);
  // tmp: [seg] the segment just received.
  float* acc = p > 2 ? static_cast<float*>(scratch(0, max_chunk * sizeof(float))) : nullptr;
  void* tmp = scratch(1, seg * sizeof(float));

  // Step s: send the partial of chunk r-s-1, receive the partial of chunk
  // r-s-2 and add this rank's elements to it. Step 0 sends raw input (in
  // dtype); later steps send fp32 partials, so bf16 is rounded only once.
  const char* sbuf = inb + chunks.offset(prev) * es;
  size_t send_es = es;
  for (int s = 0; s < p - 1; ++s) {
    const int sc = ((r - s - 1) % p + p) % p, c = ((r - s - 2) % p + p) % p;
    const size_t ns = chunks.size(sc), n = chunks.size(c);
    const DType wire = s == 0 ? dtype : DType::f32;
    const size_t wire_es = s == 0 ? es : sizeof(float);
    const char* own = inb + chunks.offset(c) * es;
    for (size_t k = 0; k < nseg; ++k) {
      const size_t lo = k * seg;
      const size_t slen = lo < ns ? (ns - lo < seg ? ns - lo : seg) : 0;
      const size_t rlen = lo < n ? (n - lo < seg ? n - lo : seg) : 0;
      sendrecv(sbuf + lo * send_es, slen * send_es, next, tmp, rlen * wire_es, prev, g.comm,
               kTagReduceScatter);
      // Writing acc[lo, lo+rlen) is safe: that part of the old partial is sent.
      if (s == p - 2)  // c == r: the finished chunk, rounded once
        add(out + lo * es, dtype, tmp, wire, own + lo * es, dtype, rlen);
      else
        add(acc + lo, DType::f32, tmp, wire, own + lo * es, dtype, rlen);
    }
    sbuf = reinterpret_cast<const char*>(acc);
    send_es = sizeof(float);
  }
}

}  // namespace detail

void reduce_scatter(const AxisGroup& g, const void* send, void* recv, size_t count, DType dtype,
                    CollectiveImpl impl) {
  constexpr const char* op = "reduce_scatter";
  const size_t p = static_cast<size_t>(g.size);
  const size_t es = detail::check_send_recv(op, g, send, recv, count, dtype, /*reduction=*/true, p);
  detail::check_overlap(op, g, send, p * count * es, recv, count * es, recv);
  detail::StatsScope stats(op, impl, p * count * es);
  if (count == 0) return;

  if (impl == CollectiveImpl::mpi) {
    detail::check_mpi_count(op, g, p * count);
    MPI_Reduce_scatter_block(send == recv ? MPI_IN_PLACE : send, recv, static_cast<int>(count),
                             detail::mpi_type(dtype), detail::mpi_sum_op(dtype), g.comm);
    return;
  }
  detail::ring_reduce_scatter(g, send, recv, detail::Chunks{p * count, g.size}, dtype);
}

}  // namespace meshlm
