// mesh-bench collectives: the project's collectives next to the plain MPI
// call on the same data, in the manner of osu_allreduce and nccl-tests.
//   mpirun -n 2 mesh-bench collectives --op all_reduce --json ar.json --tsv ar.tsv
#include <mpi.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/bench_util.h"
#include "bench/collective_case.h"
#include "bench/commands.h"
#include "collectives/collectives.h"
#include "mesh/device_mesh.h"
#include "mesh/mpi_session.h"
#include "sharding/units.h"

namespace meshlm::bench {
namespace {

struct Options {
  std::string op = "all";
  std::string dtype = "fp32";
  std::string sizes;  // "" = 4 B .. 64 MiB by powers of two
  std::string mesh;   // "" = 1xN
  std::string axis = "all";
  int warmup = 5;
  int iters = 20;
  int root = 0;
  std::string algo = "auto";  // meshlm's algorithm: auto, latency or bandwidth
  uint64_t seed = 1234;
  bool in_place = false;
  bool check = false;
  std::string json, tsv;
};

// Everything the options resolve to, validated on every rank.
struct Setup {
  std::vector<Op> ops;
  DType dtype = DType::f32;
  std::vector<uint64_t> sizes;
  std::unique_ptr<DeviceMesh> mesh;
  const AxisGroup* group = nullptr;
  std::vector<int> members;  // world ranks of this rank's group, in group order
};

Setup resolve(const Options& o) {
  Setup s;
  int world = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  all_agree(MPI_COMM_WORLD, [&] {
    if (o.iters < 1) MESHLM_FAIL("--iters must be at least 1 (got " << o.iters << ")");
    if (o.warmup < 0) MESHLM_FAIL("--warmup must be at least 0 (got " << o.warmup << ")");
    if (o.algo != "auto" && o.algo != "latency" && o.algo != "bandwidth")
      MESHLM_FAIL("unknown --algo '" << o.algo << "' (expected auto, latency or bandwidth)");
    s.ops = parse_ops(o.op);
    s.dtype = parse_dtype(o.dtype);
    if (s.dtype != DType::f32 && s.dtype != DType::bf16)
      MESHLM_FAIL("--dtype " << o.dtype << " is not benchmarked (expected fp32 or bf16)");
    s.sizes = o.sizes.empty() ? powers_of_two(4, 64ull << 20) : parse_size_list(o.sizes);
    const std::string shape = o.mesh.empty() ? "1x" + std::to_string(world) : o.mesh;
    s.mesh = std::make_unique<DeviceMesh>(MPI_COMM_WORLD, AbstractMesh::parse(shape));
    s.group = &s.mesh->axis(o.axis);
    if (o.root < 0 || o.root >= s.group->size)
      MESHLM_FAIL("--root " << o.root << " is out of range for axis '" << o.axis << "' of size "
                            << s.group->size << " (valid roots are 0.." << s.group->size - 1
                            << ")");
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank == 0) {
      if (!o.json.empty()) check_writable(o.json);
      if (!o.tsv.empty()) check_writable(o.tsv);
    }
  });
  const int me = s.mesh->rank();
  s.members.resize(static_cast<size_t>(s.group->size));
  MPI_Allgather(&me, 1, MPI_INT, s.members.data(), 1, MPI_INT, s.group->comm);
  return s;
}

struct ImplResult {
  RankSpread time;              // seconds: each rank's median over the iterations
  double algbw = 0, busbw = 0;  // GB/s (1e9), from the slowest rank's median
  uint64_t wrong = 0;
};

nlohmann::json to_json(const ImplResult& r, bool check) {
  nlohmann::json j = {
      {"time_us", spread_json(r.time, 1e6)}, {"algbw_GBps", r.algbw}, {"busbw_GBps", r.busbw}};
  if (check) j["wrong"] = r.wrong;
  return j;
}

void print_header(const Options& o, const Setup& s, Op op) {
  std::vector<std::string> ranks;
  for (int w : s.members) ranks.push_back(std::to_string(w));
  const std::string members = join(ranks, ",");
  print0("\n# %s, %s, %s, axis '%s' of %s (groups of %d ranks; rank 0's group: world ranks %s)\n",
         op_name(op), dtype_name(s.dtype),
         op == Op::broadcast ? "in place (one buffer)"
         : o.in_place        ? "in-place"
                             : "out-of-place",
         s.group->name.c_str(), s.mesh->abstract().to_string().c_str(), s.group->size,
         members.c_str());
  print0(
      "# size = bytes of the %s; time = each rank's median of %d iterations (barrier before "
      "each, %d warm-up), avg/min/max over ranks; algbw = size / max time; busbw = algbw x %.3f\n",
      op == Op::all_reduce || op == Op::broadcast ? "vector"
      : op == Op::all_gather                      ? "gathered output"
                                                  : "input",
      o.iters, o.warmup, busbw_factor(op, s.group->size));
  print0("#%11s %11s | %-55s | %-55s | %8s%s\n", "", "", "meshlm", "mpi", "mpi/meshlm",
         o.check ? " |   wrong elements" : "");
  print0("#%11s %11s | %9s %9s %9s %12s %12s | %9s %9s %9s %12s %12s | %8s%s\n", "size(B)", "count",
         "avg(us)", "min(us)", "max(us)", "algbw(GB/s)", "busbw(GB/s)", "avg(us)", "min(us)",
         "max(us)", "algbw(GB/s)", "busbw(GB/s)", "speedup", o.check ? " |  meshlm      mpi" : "");
}

int run(const Options& o) {
  Setup s = resolve(o);
  const AxisGroup& g = *s.group;
  const MPI_Comm world = s.mesh->comm();
  const InputGen gen{o.seed, input_range(g.size)};
  const CollectiveImpl mine = o.algo == "latency"     ? CollectiveImpl::meshlm_latency
                              : o.algo == "bandwidth" ? CollectiveImpl::meshlm_bandwidth
                                                      : CollectiveImpl::meshlm;
  const CollectiveImpl impls[2] = {mine, CollectiveImpl::mpi};

  print0("mesh-bench collectives: %d ranks, %s, %zu size(s), meshlm (--algo %s) vs plain MPI%s\n",
         s.mesh->size(), dtype_name(s.dtype), s.sizes.size(), o.algo.c_str(),
         o.check ? ", checking every result against an exact serial reference" : "");
  nlohmann::json results = nlohmann::json::array();
  std::string tsv = "# mesh-bench collectives: " + std::to_string(s.mesh->size()) +
                    " ranks, mesh " + s.mesh->abstract().shape_string() + ", axis '" + g.name +
                    "' (" + std::to_string(g.size) + " ranks), " + dtype_name(s.dtype) +
                    (o.in_place ? ", in-place" : ", out-of-place") + ", meshlm --algo " + o.algo +
                    "\n";
  tsv +=
      "# op\tdtype\tbytes\tcount\tmeshlm_time_us\tmpi_time_us\tmeshlm_algbw_GBps\tmpi_algbw_GBps"
      "\tmeshlm_busbw_GBps\tmpi_busbw_GBps\tspeedup\n";
  uint64_t wrong_total = 0;

  for (Op op : s.ops) {
    print_header(o, s, op);
    for (uint64_t size : s.sizes) {
      const CaseShape shape = case_shape(op, size, s.dtype, g.size);
      CaseBuffers buf;
      all_agree(world, [&] { buf = make_buffers(shape, s.dtype, o.in_place); });
      fill_inputs(buf, shape, s.dtype, gen, s.mesh->rank(), g.rank, o.root, o.in_place);

      std::vector<std::function<void()>> fns;
      for (CollectiveImpl impl : impls)
        fns.push_back([&, impl] { run_case(shape, g, buf, s.dtype, o.root, o.in_place, impl); });
      const auto times = time_interleaved(world, o.warmup, o.iters, fns);

      ImplResult res[2];
      for (int k = 0; k < 2; ++k) {
        res[k].time = spread_over_ranks(world, median(times[k]));
        res[k].algbw = static_cast<double>(shape.bytes) / res[k].time.max / 1e9;
        res[k].busbw = res[k].algbw * busbw_factor(op, g.size);
      }
      if (o.check) {
        const std::vector<float> expected = reference_output(shape, gen, s.members, g.rank, o.root);
        for (int k = 0; k < 2; ++k) {
          fill_inputs(buf, shape, s.dtype, gen, s.mesh->rank(), g.rank, o.root, o.in_place);
          run_case(shape, g, buf, s.dtype, o.root, o.in_place, impls[k]);
          unsigned long long mine = count_wrong(buf.recv_ptr(), s.dtype, expected), all = 0;
          MPI_Allreduce(&mine, &all, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, world);
          res[k].wrong = all;
          wrong_total += all;
        }
      }
      const double speedup = res[1].time.max / res[0].time.max;

      char note[96] = "";
      if (shape.bytes != shape.requested) {
        if (shape.op == Op::all_reduce || shape.op == Op::broadcast)
          std::snprintf(note, sizeof note, "  (asked %llu B: whole elements)",
                        static_cast<unsigned long long>(shape.requested));
        else
          std::snprintf(note, sizeof note, "  (asked %llu B: %d ranks x %zu elements)",
                        static_cast<unsigned long long>(shape.requested), g.size, shape.count);
      }
      char wrong[40] = "";
      if (o.check)
        std::snprintf(wrong, sizeof wrong, " | %7llu %8llu",
                      static_cast<unsigned long long>(res[0].wrong),
                      static_cast<unsigned long long>(res[1].wrong));
      print0(
          " %11llu %11zu | %9.2f %9.2f %9.2f %12.3f %12.3f | %9.2f %9.2f %9.2f %12.3f %12.3f | "
          "%7.2fx%s%s\n",
          static_cast<unsigned long long>(shape.bytes), shape.count, res[0].time.avg * 1e6,
          res[0].time.min * 1e6, res[0].time.max * 1e6, res[0].algbw, res[0].busbw,
          res[1].time.avg * 1e6, res[1].time.min * 1e6, res[1].time.max * 1e6, res[1].algbw,
          res[1].busbw, speedup, wrong, note);

      results.push_back({{"op", op_name(op)},
                         {"requested_bytes", shape.requested},
                         {"bytes", shape.bytes},
                         {"count", shape.count},
                         {"busbw_factor", busbw_factor(op, g.size)},
                         {"meshlm", to_json(res[0], o.check)},
                         {"mpi", to_json(res[1], o.check)},
                         {"speedup", speedup}});
      char line[320];
      std::snprintf(line, sizeof line,
                    "%s\t%s\t%llu\t%zu\t%.3f\t%.3f\t%.6f\t%.6f\t%.6f\t%.6f\t%.4f\n", op_name(op),
                    dtype_name(s.dtype), static_cast<unsigned long long>(shape.bytes), shape.count,
                    res[0].time.max * 1e6, res[1].time.max * 1e6, res[0].algbw, res[1].algbw,
                    res[0].busbw, res[1].busbw, speedup);
      tsv += line;
    }
  }

  if (s.mesh->rank() == 0) {
    if (!o.json.empty()) {
      nlohmann::json j = {
          {"benchmark", "collectives"},
          {"ranks", s.mesh->size()},
          {"mesh", s.mesh->abstract().shape_string()},
          {"axis", g.name},
          {"group_size", g.size},
          {"dtype", dtype_name(s.dtype)},
          {"in_place", o.in_place},
          {"warmup", o.warmup},
          {"iters", o.iters},
          {"seed", o.seed},
          {"meshlm_impl", impl_name(mine)},
          {"timing",
           "time = each rank's median over iters (barrier before each iteration); avg/min/max "
           "over ranks; algbw = bytes / max; busbw = algbw * busbw_factor (nccl-tests)"},
          {"check", o.check},
          {"results", results}};
      if (o.check) j["wrong_total"] = wrong_total;
      write_json_file(o.json, j);
      print0("wrote %s\n", o.json.c_str());
    }
    if (!o.tsv.empty()) {
      write_text_file(o.tsv, tsv);
      print0("wrote %s\n", o.tsv.c_str());
    }
  }
  if (o.check) {
    print0("\ncheck: %llu wrong element(s)%s\n", static_cast<unsigned long long>(wrong_total),
           wrong_total ? " -- FAILED" : " (every result equals the exact serial reference)");
    if (wrong_total) return 1;
  }
  return 0;
}

}  // namespace

Command add_collectives_command(CLI::App& app) {
  auto o = std::make_shared<Options>();
  auto* sub = app.add_subcommand(
      "collectives", "Time meshlm's collectives next to the plain MPI call (osu/nccl-tests style)");
  sub->add_option("--op", o->op,
                  "all_reduce, all_gather, reduce_scatter, broadcast, all_to_all or all")
      ->capture_default_str();
  sub->add_option("--dtype", o->dtype, "fp32 or bf16")->capture_default_str();
  sub->add_option("--sizes", o->sizes,
                  "Comma-separated message sizes in bytes (units allowed: 4,1001,1MiB); default "
                  "4 B to 64 MiB by powers of two");
  sub->add_option("--mesh", o->mesh, "Mesh shape dp x mp, e.g. 2x2 (default 1xN)");
  sub->add_option("--axis", o->axis, "Axis to run over: dp, mp or all")->capture_default_str();
  sub->add_option("--warmup", o->warmup, "Warm-up iterations per size")->capture_default_str();
  sub->add_option("--iters", o->iters, "Timed iterations per size")->capture_default_str();
  sub->add_option("--root", o->root, "Broadcast root (rank within the group)")
      ->capture_default_str();
  sub->add_option("--algo", o->algo,
                  "meshlm's algorithm: auto (by size), latency (recursive doubling / binomial "
                  "tree) or bandwidth (ring / pipelined chain); all_reduce and broadcast")
      ->capture_default_str();
  sub->add_option("--seed", o->seed, "Seed of the input generator")->capture_default_str();
  sub->add_flag("--in-place", o->in_place, "Run in place (send == recv)");
  sub->add_flag("--check", o->check,
                "Verify every result against an exact serial reference; wrong elements fail the "
                "run");
  sub->add_option("--json", o->json, "Write the results as JSON to this file");
  sub->add_option("--tsv", o->tsv, "Write a table for scripts/plot-busbw to this file");
  return [o] { return run(*o); };
}

}  // namespace meshlm::bench
