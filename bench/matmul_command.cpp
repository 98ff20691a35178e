// mesh-bench matmul: linear() (fp32, bf16, int8, int4 or mxfp4 weights) next to plain
// cblas_sgemm on the same data, for GEMV (decode, n = batch) and GEMM
// (prefill, n = tokens) shapes, with this core's memory-read bandwidth.
//   mesh-bench matmul --shapes 5632x2048,2048x5632 --n 1,8,256 --json mm.json
// Under mpirun every rank runs the same cases at once (one core each), which
// shows the per-core figures when all cores stream memory together.
#include <cblas.h>
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/bench_util.h"
#include "bench/commands.h"
#include "mesh/mpi_session.h"
#include "model/ops/linear.h"
#include "model/ops/membw.h"
#include "model/ops/quant.h"
#include "sharding/error.h"
#include "sharding/units.h"

namespace meshlm::bench {
namespace {

struct Options {
  // Default: TinyLlama-1.1B's projections (q/o, k/v, gate/up, down, lm_head).
  std::string shapes = "2048x2048,256x2048,5632x2048,2048x5632,32000x2048";
  std::string n = "1,2,4,8,16,64,256";
  std::string dtypes = "fp32,bf16";
  int warmup = 2;
  int iters = 9;
  std::string rotate = "512MiB";  // weights cycled through so GEMV reads memory, not cache
  std::string membw = "1GiB";     // bandwidth probe buffer ("0" = skip)
  uint64_t seed = 42;
  std::string json;
};

struct Shape {
  int64_t rows, cols;
};

std::vector<int64_t> parse_int_list(const std::string& text, const char* what) {
  std::vector<int64_t> v;
  for (uint64_t x : parse_size_list(text)) v.push_back(static_cast<int64_t>(x));
  if (v.empty()) MESHLM_FAIL(what << " is empty");
  return v;
}

std::vector<Shape> parse_shapes(const std::string& text) {
  std::vector<Shape> shapes;
  for (const std::string& item : split(text)) {
    long long r = 0, c = 0;
    char extra = 0;
    if (std::sscanf(item.c_str(), "%lldx%lld%c", &r, &c, &extra) != 2 || r < 1 || c < 1)
      MESHLM_FAIL("shape '" << item << "' in --shapes '" << text
                            << "' is not ROWSxCOLS (out x in features, e.g. 5632x2048)");
    shapes.push_back({r, c});
  }
  return shapes;
}

// Copies of one weight matrix (and its fp32 widening for BLAS), cycled so
// that consecutive calls do not find the weights in cache.
struct Weights {
  std::vector<AlignedBuffer> w;    // [copies] rows x cols in the benchmarked dtype
  std::vector<AlignedBuffer> w32;  // [copies] fp32 (the same buffers when dtype is fp32)
  size_t next = 0;
};

// Bytes of the benchmarked weights (block scales included when quantized).
uint64_t stored_bytes(Shape s, DType dt) {
  return is_quantized(dt) ? quant_matrix_bytes(dt, s.rows, s.cols)
                          : dtype_bytes(dt, static_cast<uint64_t>(s.rows * s.cols));
}

Weights make_weights(Shape s, DType dt, uint64_t rotate_bytes, uint64_t seed) {
  const uint64_t count = static_cast<uint64_t>(s.rows * s.cols);
  const uint64_t bytes = count * 4 + (dt == DType::f32 ? 0 : stored_bytes(s, dt));
  const size_t copies = static_cast<size_t>(std::clamp<uint64_t>(rotate_bytes / bytes + 1, 1, 64));
  Weights w;
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.f, 0.02f);
  for (size_t c = 0; c < copies; ++c) {
    AlignedBuffer f(count * 4);
    float* fp = static_cast<float*>(f.data());
    for (uint64_t i = 0; i < count; ++i) fp[i] = nd(rng);
    if (dt == DType::bf16) {
      AlignedBuffer h(count * 2);
      bf16* hp = static_cast<bf16*>(h.data());
      for (uint64_t i = 0; i < count; ++i) {
        hp[i] = float_to_bf16(fp[i]);
        fp[i] = bf16_to_float(hp[i]);
      }
      w.w.push_back(std::move(h));
    } else if (is_quantized(dt)) {  // BLAS gets the dequantized values
      AlignedBuffer q(stored_bytes(s, dt));
      quantize_matrix(fp, s.rows, s.cols, s.cols, dt, static_cast<std::byte*>(q.data()));
      const QuantMatrix m = QuantMatrix::of(q.data(), dt, s.rows, s.cols);
      for (int64_t r = 0; r < s.rows; ++r) m.dequantize_row(r, 0, s.cols, fp + r * s.cols);
      w.w.push_back(std::move(q));
    }
    w.w32.push_back(std::move(f));
  }
  return w;
}

struct Case {
  double linear_s = 0, blas_s = 0, gemv_s = 0;  // slowest rank's median (gemv: n = 1 only)
};

int run(const Options& o) {
  std::vector<Shape> shapes;
  std::vector<int64_t> ns;
  std::vector<DType> dtypes;
  uint64_t rotate = 0, membw_bytes = 0;
  int rank = 0, ranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  all_agree(MPI_COMM_WORLD, [&] {
    shapes = parse_shapes(o.shapes);
    ns = parse_int_list(o.n, "--n");
    dtypes = parse_weight_dtypes(o.dtypes);
    rotate = parse_bytes(o.rotate);
    membw_bytes = o.membw == "0" ? 0 : parse_bytes(o.membw);
    if (o.warmup < 0 || o.iters < 1)
      MESHLM_FAIL("--warmup " << o.warmup << " / --iters " << o.iters
                              << " (expected warmup >= 0, iters >= 1)");
    if (rank == 0 && !o.json.empty()) check_writable(o.json);
  });

  print0("mesh-bench matmul: %d rank(s), each timing linear() against cblas_sgemm on one core\n",
         ranks);
  nlohmann::json membw_json = nullptr;
  double membw_Bps = 0;
  if (membw_bytes > 0) {
    MemBwOptions mo;
    mo.buffer_bytes = membw_bytes;
    MPI_Barrier(MPI_COMM_WORLD);
    const MemBwResult r = measure_read_bandwidth(mo);
    const RankSpread bw = spread_over_ranks(MPI_COMM_WORLD, r.median_bytes_per_s);
    membw_Bps = bw.avg;
    print0(
        "memory-read bandwidth per core: %.2f GB/s (median of %d passes over %s; min/max over "
        "ranks %.2f/%.2f)\n",
        bw.avg / 1e9, mo.repeats, format_bytes(static_cast<double>(r.buffer_bytes)).c_str(),
        bw.min / 1e9, bw.max / 1e9);
    membw_json = {{"buffer_bytes", r.buffer_bytes},
                  {"repeats", mo.repeats},
                  {"median_GBps", spread_json(bw, 1e-9)}};
  }
  print0(
      "# time = slowest rank's median of %d iterations (%d warm-up); GF/s = 2·n·rows·cols / "
      "time; GB/s = weight bytes / time; ratio = blas time / linear time (> 1: linear faster); "
      "cblas_sgemv too for n = 1\n",
      o.iters, o.warmup);
  print0("# %-12s %5s %5s | %10s %8s %8s | %10s %8s | %6s | %10s %6s\n", "rows x cols", "dtype",
         "n", "linear(us)", "GF/s", "GB/s", "sgemm(us)", "GF/s", "ratio", "sgemv(us)", "ratio");

  nlohmann::json results = nlohmann::json::array();
  for (DType dt : dtypes)
    for (Shape s : shapes) {
      Weights w = make_weights(s, dt, rotate, o.seed);
      const int64_t nmax = *std::max_element(ns.begin(), ns.end());
      AlignedBuffer x(static_cast<size_t>(nmax * s.cols * 4)),
          y(static_cast<size_t>(nmax * s.rows * 4));
      std::mt19937_64 rng(o.seed + 1);
      std::normal_distribution<float> nd;
      for (int64_t i = 0; i < nmax * s.cols; ++i) static_cast<float*>(x.data())[i] = nd(rng);
      const float* xp = static_cast<const float*>(x.data());
      float* yp = static_cast<float*>(y.data());
      const double wbytes = static_cast<double>(stored_bytes(s, dt));
      for (int64_t n : ns) {
        const size_t copies = w.w32.size();
        auto lin = [&] {
          const size_t c = w.next++ % copies;
          if (is_quantized(dt)) {
            const QuantMatrix m = QuantMatrix::of(w.w[c].data(), dt, s.rows, s.cols);
            linear(xp, n, WeightView{m.data, dt, s.rows, s.cols, m.scales, m.exponents}, yp);
            return;
          }
          const void* data = dt == DType::bf16 ? w.w[c].data() : w.w32[c].data();
          linear(xp, n, WeightView{data, dt, s.rows, s.cols}, yp);
        };
        auto blas = [&] {
          const size_t c = w.next++ % copies;
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(n),
                      static_cast<int>(s.rows), static_cast<int>(s.cols), 1.f, xp,
                      static_cast<int>(s.cols), static_cast<const float*>(w.w32[c].data()),
                      static_cast<int>(s.cols), 0.f, yp, static_cast<int>(s.rows));
        };
        auto gemv = [&] {
          const size_t c = w.next++ % copies;
          cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(s.rows),
                      static_cast<int>(s.cols), 1.f, static_cast<const float*>(w.w32[c].data()),
                      static_cast<int>(s.cols), xp, 1, 0.f, yp, 1);
        };
        std::vector<std::function<void()>> fns = {lin, blas};
        if (n == 1) fns.push_back(gemv);
        const auto times = time_interleaved(MPI_COMM_WORLD, o.warmup, o.iters, fns);
        Case c;
        c.linear_s = spread_over_ranks(MPI_COMM_WORLD, median(times[0])).max;
        c.blas_s = spread_over_ranks(MPI_COMM_WORLD, median(times[1])).max;
        if (n == 1) c.gemv_s = spread_over_ranks(MPI_COMM_WORLD, median(times[2])).max;
        const double flops = 2.0 * static_cast<double>(n * s.rows * s.cols);
        const double ratio = c.blas_s / c.linear_s;
        char gemv_cols[40] = "";
        if (n == 1)
          std::snprintf(gemv_cols, sizeof gemv_cols, " | %10.1f %6.2f", c.gemv_s * 1e6,
                        c.gemv_s / c.linear_s);
        print0("  %5lldx%-6lld %5s %5lld | %10.1f %8.1f %8.2f | %10.1f %8.1f | %6.2f%s\n",
               static_cast<long long>(s.rows), static_cast<long long>(s.cols), dtype_name(dt),
               static_cast<long long>(n), c.linear_s * 1e6, flops / c.linear_s / 1e9,
               wbytes / c.linear_s / 1e9, c.blas_s * 1e6, flops / c.blas_s / 1e9, ratio, gemv_cols);
        nlohmann::json j = {
            {"rows", s.rows},
            {"cols", s.cols},
            {"n", n},
            {"dtype", dtype_name(dt)},
            {"weight_bytes", wbytes},
            {"linear",
             {{"time_us", c.linear_s * 1e6},
              {"gflops", flops / c.linear_s / 1e9},
              {"weight_GBps", wbytes / c.linear_s / 1e9}}},
            {"sgemm_fp32", {{"time_us", c.blas_s * 1e6}, {"gflops", flops / c.blas_s / 1e9}}},
            {"ratio_sgemm_over_linear", ratio}};
        if (membw_Bps > 0) j["linear"]["weight_bw_fraction"] = wbytes / c.linear_s / membw_Bps;
        if (n == 1) {
          j["sgemv_fp32"] = {{"time_us", c.gemv_s * 1e6}, {"gflops", flops / c.gemv_s / 1e9}};
          j["ratio_sgemv_over_linear"] = c.gemv_s / c.linear_s;
        }
        results.push_back(j);
      }
    }
  if (rank == 0 && !o.json.empty()) {
    write_json_file(o.json, {{"benchmark", "matmul"},
                             {"ranks", ranks},
                             {"warmup", o.warmup},
                             {"iters", o.iters},
                             {"timing",
                              "time = slowest rank's median over iters (barrier before "
                              "each); sgemm_fp32 = cblas_sgemm(RowMajor, NoTrans x, "
                              "Trans W) on the fp32 (widened) weights"},
                             {"membw", membw_json},
                             {"results", results}});
    print0("wrote %s\n", o.json.c_str());
  }
  return 0;
}

}  // namespace

Command add_matmul_command(CLI::App& app) {
  auto o = std::make_shared<Options>();
  auto* sub = app.add_subcommand(
      "matmul",
      "Time linear() (fp32/bf16/int8/int4/mxfp4 weights) against cblas_sgemm on the same data");
  sub->add_option("--shapes", o->shapes, "Weight shapes ROWSxCOLS (out x in), comma-separated")
      ->capture_default_str();
  sub->add_option("--n", o->n, "Input rows (batch or tokens), comma-separated")
      ->capture_default_str();
  sub->add_option("--dtypes", o->dtypes,
                  "Weight dtypes: fp32, bf16, int8, int4, mxfp4 (quantized from the fp32 copy)")
      ->capture_default_str();
  sub->add_option("--warmup", o->warmup, "Warm-up iterations per case")->capture_default_str();
  sub->add_option("--iters", o->iters, "Timed iterations per case")->capture_default_str();
  sub->add_option("--rotate", o->rotate,
                  "Cycle through copies of the weights totalling at least this many bytes, so "
                  "GEMV reads memory, not cache")
      ->capture_default_str();
  sub->add_option("--membw", o->membw, "Buffer of the memory-read bandwidth probe (0 = skip)")
      ->capture_default_str();
  sub->add_option("--seed", o->seed, "Seed of the random weights and inputs")
      ->capture_default_str();
  sub->add_option("--json", o->json, "Write the results as JSON to this file");
  return [o] { return run(*o); };
}

}  // namespace meshlm::bench
