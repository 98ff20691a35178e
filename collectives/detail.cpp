#include "collectives/detail.h"

#include <climits>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "collectives/stats.h"
#include "sharding/error.h"

namespace meshlm {

const char* impl_name(CollectiveImpl impl) {
  switch (impl) {
    case CollectiveImpl::meshlm:
      return "meshlm";
    case CollectiveImpl::meshlm_latency:
      return "meshlm-latency";
    case CollectiveImpl::meshlm_bandwidth:
      return "meshlm-bandwidth";
    case CollectiveImpl::mpi:
      return "mpi";
  }
  return "?";
}

namespace detail {

// ---- argument checks -------------------------------------------------------

namespace {
std::string where(const char* op, const AxisGroup& g) {
  return std::string(op) + " over axis '" + g.name + "' (size " + std::to_string(g.size) + ")";
}
}  // namespace

size_t element_size(const char* op, const AxisGroup& g, DType dtype, bool reduction) {
  if (reduction && dtype != DType::f32 && dtype != DType::bf16)
    MESHLM_FAIL(where(op, g) << ": dtype " << dtype_name(dtype)
                             << " is not supported (reductions take fp32 or bf16)");
  if (dtype == DType::i4)
    MESHLM_FAIL(where(op, g) << ": dtype int4 is not supported (elements must be whole bytes; "
                                "move int4 data as int8 pairs)");
  return static_cast<size_t>(dtype_bits(dtype) / 8);
}

void check_group(const char* op, const AxisGroup& g) {
  if (g.comm == MPI_COMM_NULL || g.size < 1 || g.rank < 0 || g.rank >= g.size)
    MESHLM_FAIL(op << " over axis '" << g.name << "': the group has no communicator (size "
                   << g.size << ", rank " << g.rank
                   << "); take groups from DeviceMesh::axis() or DeviceMesh::all()");
}

void check_count(const char* op, const AxisGroup& g, size_t count, size_t esize, size_t blocks) {
  const size_t limit = static_cast<size_t>(PTRDIFF_MAX) / esize / blocks;
  if (count > limit)
    MESHLM_FAIL(where(op, g) << ": count " << count << " is too large (" << blocks
                             << " block(s) of " << esize << "-byte elements overflow; at most "
                             << limit << " elements; a negative count converted to size_t?)");
}

void check_buffer(const char* op, const AxisGroup& g, const char* which, const void* p,
                  size_t count) {
  if (p == nullptr && count > 0)
    MESHLM_FAIL(where(op, g) << ": " << which << " buffer is null but count is " << count);
}

size_t check_send_recv(const char* op, const AxisGroup& g, const void* send, const void* recv,
                       size_t count, DType dtype, bool reduction, size_t blocks) {
  check_group(op, g);
  const size_t es = element_size(op, g, dtype, reduction);
  check_count(op, g, count, es, blocks);
  check_buffer(op, g, "send", send, count);
  check_buffer(op, g, "recv", recv, count);
  return es;
}

void check_overlap(const char* op, const AxisGroup& g, const void* a, size_t abytes, const void* b,
                   size_t bbytes, const void* allowed1, const void* allowed2) {
  if (abytes == 0 || bbytes == 0 || a == nullptr || b == nullptr) return;
  if (a == allowed1 || (allowed2 != nullptr && a == allowed2)) return;
  const auto pa = reinterpret_cast<uintptr_t>(a), pb = reinterpret_cast<uintptr_t>(b);
  if (pa < pb + bbytes && pb < pa + abytes)
    MESHLM_FAIL(where(op, g) << ": send and recv buffers overlap without being in place ("
                             << "send " << a << " + " << abytes << " B, recv " << b << " + "
                             << bbytes << " B; see collectives.h for the in-place layouts)");
}

void check_mpi_count(const char* op, const AxisGroup& g, size_t elements) {
  if (elements > static_cast<size_t>(INT_MAX))
    MESHLM_FAIL(where(op, g) << ": " << elements << " elements exceed the plain-MPI backend's "
                             << INT_MAX << " (MPI counts are int; use the meshlm backend)");
}

// ---- point-to-point --------------------------------------------------------

namespace {
constexpr size_t kPiece = size_t{1} << 30;
// Messages above 1 GiB travel in 1 GiB pieces (MPI counts are int). Splitting
// medium messages into eager-sized pieces was measured and is slower.
size_t piece_len(size_t bytes) {
  return bytes > kPiece ? kPiece : (bytes > 0 ? bytes : 1);
}
size_t pieces(size_t bytes) {
  return bytes == 0 ? 1 : (bytes + piece_len(bytes) - 1) / piece_len(bytes);
}
}  // namespace

void sendrecv(const void* sbuf, size_t sbytes, int dst, void* rbuf, size_t rbytes, int src,
              MPI_Comm comm, int tag) {
  if (pieces(sbytes) == 1 && pieces(rbytes) == 1) {
    MPI_Sendrecv(sbuf, static_cast<int>(sbytes), MPI_BYTE, dst, tag, rbuf, static_cast<int>(rbytes),
                 MPI_BYTE, src, tag, comm, MPI_STATUS_IGNORE);
    return;
  }
  // Several messages: both ends derive the same pieces from the same byte
  // count, so they match.
  std::vector<MPI_Request> reqs;
  auto post = [&](bool is_send, size_t bytes, int peer) {
    if (peer == MPI_PROC_NULL) return;
    const size_t piece = piece_len(bytes);
    for (size_t i = 0, n = pieces(bytes); i < n; ++i) {
      const size_t off = i * piece, len = bytes - off < piece ? bytes - off : piece;
      reqs.emplace_back();
      if (is_send)
        MPI_Isend(static_cast<const char*>(sbuf) + off, static_cast<int>(len), MPI_BYTE, peer, tag,
                  comm, &reqs.back());
      else
        MPI_Irecv(static_cast<char*>(rbuf) + off, static_cast<int>(len), MPI_BYTE, peer, tag, comm,
                  &reqs.back());
    }
  };
  post(false, rbytes, src);
  post(true, sbytes, dst);
  MPI_Waitall(static_cast<int>(reqs.size()), reqs.data(), MPI_STATUSES_IGNORE);
}

// ---- scratch ---------------------------------------------------------------

namespace {
struct ScratchSlots {
  void* ptr[kScratchSlots] = {};
  size_t cap[kScratchSlots] = {};
  ~ScratchSlots() {
    for (void* p : ptr) std::free(p);
  }
};
thread_local ScratchSlots t_scratch;
}  // namespace

void* scratch(int slot, size_t bytes) {
  MESHLM_CHECK(slot >= 0 && slot < kScratchSlots, "scratch slot " << slot);
  if (bytes > t_scratch.cap[slot]) {
    std::free(t_scratch.ptr[slot]);
    t_scratch.ptr[slot] = nullptr;
    t_scratch.cap[slot] = 0;
    const size_t rounded = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded);
    if (p == nullptr) throw std::bad_alloc();
    t_scratch.ptr[slot] = p;
    t_scratch.cap[slot] = rounded;
  }
  return t_scratch.ptr[slot];
}

// ---- reduction kernels -----------------------------------------------------

namespace {
inline float load(const float* p, size_t i) {
  return p[i];
}
inline float load(const bf16* p, size_t i) {
  return bf16_to_float(p[i]);
}
inline void store(float* p, size_t i, float v) {
  p[i] = v;
}
inline void store(bf16* p, size_t i, float v) {
  p[i] = float_to_bf16(v);
}

template <class O, class A, class B>
void add_kernel(O* out, const A* a, const B* b, size_t n) {
  for (size_t i = 0; i < n; ++i) store(out, i, load(a, i) + load(b, i));
}

// Calls fn with a typed pointer for an fp32 or bf16 buffer.
template <class Fn>
void with_type(DType t, const void* p, Fn&& fn) {
  if (t == DType::f32)
    fn(static_cast<const float*>(p));
  else
    fn(static_cast<const bf16*>(p));
}
}  // namespace

void add(void* out, DType out_t, const void* a, DType a_t, const void* b, DType b_t, size_t n) {
  with_type(a_t, a, [&](auto* ta) {
    with_type(b_t, b, [&](auto* tb) {
      if (out_t == DType::f32)
        add_kernel(static_cast<float*>(out), ta, tb, n);
      else
        add_kernel(static_cast<bf16*>(out), ta, tb, n);
    });
  });
}

void convert(void* out, DType out_t, const void* in, DType in_t, size_t n) {
  if (out_t == in_t) {
    if (out != in && n > 0) std::memcpy(out, in, n * static_cast<size_t>(dtype_bits(in_t) / 8));
    return;
  }
  with_type(in_t, in, [&](auto* ti) {
    if (out_t == DType::f32)
      for (size_t i = 0; i < n; ++i) store(static_cast<float*>(out), i, load(ti, i));
    else
      for (size_t i = 0; i < n; ++i) store(static_cast<bf16*>(out), i, load(ti, i));
  });
}

// ---- plain-MPI backend -----------------------------------------------------

MPI_Datatype mpi_type(DType dtype) {
  switch (dtype) {
    case DType::f32:
      return MPI_FLOAT;
    case DType::bf16:
    case DType::f16:
      return MPI_UINT16_T;
    case DType::i32:
      return MPI_INT32_T;
    case DType::u8:
      return MPI_UINT8_T;
    default:
      return MPI_INT8_T;
  }
}

namespace {
// inout[i] = bf16(fp32(in[i]) + fp32(inout[i])): one rounding per application.
void bf16_sum(void* in, void* inout, int* len, MPI_Datatype*) {
  add_kernel(static_cast<bf16*>(inout), static_cast<const bf16*>(in),
             static_cast<const bf16*>(inout), static_cast<size_t>(*len));
}
}  // namespace

MPI_Op mpi_sum_op(DType dtype) {
  if (dtype == DType::f32) return MPI_SUM;
  static MPI_Op op = [] {
    MPI_Op o;
    MPI_Op_create(&bf16_sum, /*commute=*/1, &o);
    return o;
  }();
  return op;
}

// ---- statistics ------------------------------------------------------------

StatsScope::StatsScope(const char* op, CollectiveImpl impl, uint64_t bytes)
    : op_(op), impl_(impl), bytes_(bytes), start_(MPI_Wtime()) {}

StatsScope::~StatsScope() {
  const double seconds = MPI_Wtime() - start_;
  if (impl_ == CollectiveImpl::mpi)
    collective_stats().record(std::string(op_) + "[mpi]", bytes_, seconds);
  else
    collective_stats().record(op_, bytes_, seconds);
}

}  // namespace detail
}  // namespace meshlm
