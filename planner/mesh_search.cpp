#include "planner/mesh_search.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "arch/tensor_roles.h"
#include "planner/planner.h"
#include "sharding/error.h"
#include "sharding/units.h"

namespace meshlm {

Objective parse_objective(const std::string& s) {
  if (s == "throughput") return Objective::throughput;
  if (s == "latency") return Objective::latency;
  MESHLM_FAIL("unknown objective '" << s << "' (expected throughput or latency)");
}

const char* objective_name(Objective o) {
  return o == Objective::throughput ? "throughput" : "latency";
}

DType SearchRequest::kv() const {
  if (kv_dtype) return *kv_dtype;
  return is_quantized(weight_dtype) ? DType::bf16 : weight_dtype;
}

std::string MeshCandidate::label() const {
  // On mp = 1 every device holds every expert whole: the placement says nothing.
  return mesh.shape_string() + (moe && mp > 1 ? std::string(" ") + moe_sharding_name(*moe) : "");
}

double MeshCandidate::score(Objective o) const {
  return o == Objective::throughput ? tokens_per_s_total : tokens_per_s_sequence;
}

namespace {

std::string gib(uint64_t b) {
  return format_bytes(static_cast<double>(b));
}

std::string need_text(const MemoryBreakdown& m) {
  return gib(m.used()) + " (weights " + gib(m.weights) + " + KV cache " + gib(m.kv_cache) +
         " + activations " + gib(m.activations) + " + comm buffers " + gib(m.comm) + " + reserve " +
         gib(m.reserve) + ")";
}

// Layouts depend on (dp, mp) only through the mesh; the weights through mp
// (and the experts' placement).
class Layouts {
 public:
  Layouts(const ModelConfig& c, DType weight_dtype) : c_(c), dtype_(weight_dtype) {}
  // The layout for dp x mp, or null with `reason` set.
  std::shared_ptr<const MeshLayout> get(int dp, int mp, std::string* reason,
                                        std::optional<MoeSharding> moe = std::nullopt) {
    const MoeSharding placement = moe.value_or(default_moe_sharding(c_, mp, dtype_));
    auto it = by_mp_.find({mp, placement});
    if (it == by_mp_.end()) {
      Entry e;
      try {
        e.layout =
            std::make_shared<MeshLayout>(make_layout(c_, dp_mp_mesh(1, mp), dtype_, placement));
      } catch (const Error& err) {
        e.reason = err.what();
      }
      it = by_mp_.emplace(std::make_pair(mp, placement), std::move(e)).first;
    }
    if (!it->second.layout) {
      if (reason) *reason = it->second.reason;
      return nullptr;
    }
    if (dp == 1) return it->second.layout;
    auto copy = std::make_shared<MeshLayout>(*it->second.layout);
    copy->mesh = dp_mp_mesh(dp, mp);
    copy->dp = dp;
    return copy;
  }

 private:
  struct Entry {
    std::shared_ptr<MeshLayout> layout;
    std::string reason;
  };
  const ModelConfig& c_;
  DType dtype_;
  std::map<std::pair<int, MoeSharding>, Entry> by_mp_;
};

struct Try {
  int dp, mp;
  std::optional<MoeSharding> moe;
};

// The meshes to evaluate, and for a MoE model each placement of its experts.
std::vector<Try> meshes_to_try(const ModelConfig& c, const SearchRequest& r) {
  std::vector<std::pair<int, int>> meshes;
  if (r.only_mesh) {
    meshes.emplace_back(r.only_mesh->axis_size("dp"), r.only_mesh->axis_size("mp"));
  } else {
    const int n = r.devices();
    for (int m = n; m >= (r.allow_fewer_devices ? 1 : n); --m)
      for (int mp = 1; mp <= m; ++mp)
        if (m % mp == 0) meshes.emplace_back(m / mp, mp);
  }
  std::vector<Try> out;
  for (auto [dp, mp] : meshes) {
    if (!c.is_moe()) {
      out.push_back({dp, mp, std::nullopt});
    } else if (r.moe || mp == 1) {  // on one device the placements are the same
      out.push_back({dp, mp, r.moe.value_or(MoeSharding::tp)});
    } else {
      out.push_back({dp, mp, MoeSharding::tp});
      out.push_back({dp, mp, MoeSharding::ep});
    }
  }
  return out;
}

MemorySettings settings_of(const SearchRequest& r) {
  MemorySettings s;
  s.capacity = r.capacity();
  s.reserve = r.reserve;
  s.kv_dtype = r.kv();
  s.prefill_chunk = r.prefill_chunk;
  return s;
}

// Sequences per replica the search asks for memory checks (at least 1).
int64_t requested_local(const SearchRequest& r, int dp) {
  return r.batch > 0 ? r.batch / dp : 1;
}

void evaluate(const ModelConfig& c, const SearchRequest& r, const MemorySettings& ms,
              int64_t seq_len, MeshCandidate& m) {
  const MeshLayout& L = *m.layout;
  m.seq_len = seq_len;
  m.kv_bytes_per_token = kv_bytes_per_token(c, L.local.kv_heads, ms.kv_dtype);
  m.kv_bytes_per_sequence = kv_cache_bytes(c, L.local.kv_heads, 1, seq_len, ms.kv_dtype);
  m.activation_bytes_prefill =
      activation_bytes(c, L.local, activation_shape(1, seq_len, ms.prefill_chunk));
  ActivationShape decode_one;
  decode_one.seq_len = seq_len;
  m.activation_bytes_decode_seq = activation_bytes(c, L.local, decode_one);
  m.max_batch_local = max_batch_local(c, L, ms, seq_len);
  const int64_t want = requested_local(r, m.dp);
  if (m.max_batch_local < want) {
    m.memory = memory_for(c, L, ms, want, seq_len);
    m.reason = "does not fit: " + std::to_string(want) + " sequence(s) of " +
               std::to_string(seq_len) + " positions per replica need " + need_text(m.memory) +
               " per device, " + gib(m.memory.capacity) + " available";
    if (m.max_batch_local > 0)
      m.reason += " (max batch per replica " + std::to_string(m.max_batch_local) + ")";
    return;
  }
  m.feasible = true;
  m.batch_local = r.batch > 0 ? want : r.objective == Objective::throughput ? m.max_batch_local : 1;
  m.memory = memory_for(c, L, ms, m.batch_local, seq_len);
  const CostInputs in{&c, &L, &r.device, r.weight_dtype, ms.kv_dtype};
  m.prompt_len =
      r.prompt_len > 0 ? std::min(r.prompt_len, seq_len) : std::min(seq_len, kDefaultPromptLen);
  m.prefill = prefill_cost(in, m.prompt_len, ms.prefill_chunk);
  m.decode = decode_step_cost(in, m.batch_local, seq_len);
  m.tokens_per_s_sequence = 1.0 / m.decode.total_s;
  m.tokens_per_s_total = static_cast<double>(m.batch_local * m.dp) / m.decode.total_s;
  m.kv_budget_bytes =
      m.memory.capacity - std::min(m.memory.capacity, m.memory.used() - m.memory.kv_cache);
  m.avg_seq_len = std::clamp<int64_t>(r.avg_seq_len > 0 ? r.avg_seq_len : seq_len / 2, 1, seq_len);
  const PagedKvGeometry g =
      paged_kv_geometry(c, L.local.kv_heads, kDefaultKvBlockSize, seq_len, ms.kv_dtype);
  m.serving_sequences = static_cast<int64_t>(m.kv_budget_bytes / g.sequence_bytes(m.avg_seq_len));
}

// Better-first order: score, then (on a tie) fewer collectives, fewer devices, more dp.
bool better(const MeshCandidate& a, const MeshCandidate& b, Objective o) {
  const double sa = a.score(o), sb = b.score(o);
  if (std::fabs(sa - sb) > kTieTolerance * std::max(sa, sb)) return sa > sb;
  if (a.collectives_per_step != b.collectives_per_step)
    return a.collectives_per_step < b.collectives_per_step;
  if (a.mesh.size() != b.mesh.size()) return a.mesh.size() < b.mesh.size();
  if (a.dp != b.dp) return a.dp > b.dp;
  return sa > sb;
}

std::string fmt_rate(double v) {
  if (v >= 100) return format_count(static_cast<uint64_t>(std::llround(v)));
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string explain(const SearchResult& res) {
  const auto& cs = res.candidates;
  const MeshCandidate& best = cs[*res.chosen];
  const Objective o = res.request.objective;
  const std::string what =
      o == Objective::throughput ? "total decode throughput" : "per-sequence decode speed";
  auto figure = [&](const MeshCandidate& m) {
    return fmt_rate(m.score(o)) + " tok/s" +
           (o == Objective::throughput ? " at batch " + std::to_string(m.batch_local * m.dp) : "");
  };
  const MeshCandidate* runner = nullptr;
  size_t feasible = 0;
  for (size_t i = 0; i < cs.size(); ++i) {
    if (!cs[i].feasible) continue;
    ++feasible;
    if (i != *res.chosen && (!runner || better(cs[i], *runner, o))) runner = &cs[i];
  }
  std::string s =
      "chosen " + best.label() + " (dp=" + std::to_string(best.dp) +
      ", mp=" + std::to_string(best.mp) +
      (best.moe && best.mp > 1
           ? std::string(", experts ") +
                 (*best.moe == MoeSharding::ep ? "split whole over mp" : "sliced over mp")
           : "") +
      "): ";
  if (!runner) return s + "the only mesh that fits; " + what + " " + figure(best);
  const double sb = best.score(o), sr = runner->score(o);
  if (std::fabs(sb - sr) <= kTieTolerance * std::max(sb, sr)) {
    s += "ties with " + runner->label() + " on " + what + " (" + figure(best) + " vs " +
         figure(*runner) + ", within 1%) and ";
    if (best.collectives_per_step != runner->collectives_per_step)
      return s + "needs fewer collectives per decode step (" +
             std::to_string(best.collectives_per_step) + " vs " +
             std::to_string(runner->collectives_per_step) + ")";
    if (best.mesh.size() != runner->mesh.size())
      return s + "uses fewer devices (" + std::to_string(best.mesh.size()) + " vs " +
             std::to_string(runner->mesh.size()) + ")";
    if (best.dp != runner->dp)
      return s + "has more data-parallel replicas (" + std::to_string(best.dp) + " vs " +
             std::to_string(runner->dp) + ")";
    return s + "is ahead on it by the estimate (placement " + best.label() + " over " +
           runner->label() + ")";
  }
  char pct[32];
  std::snprintf(pct, sizeof pct, "%.0f%%", (sb / sr - 1) * 100);
  return s + "highest " + what + ", " + figure(best) + ", " + pct + " above the next best " +
         runner->label() + " (" + figure(*runner) + ") of " + std::to_string(feasible) +
         " candidates that fit";
}

SearchResult search_impl(const ModelConfig& c, const SearchRequest& r, bool advise);

void give_advice(const ModelConfig& c, const SearchRequest& r, SearchResult& res,
                 Layouts& layouts) {
  NothingFitsAdvice a;
  const MemorySettings ms = settings_of(r);
  a.target_seq_len = r.seq_len > 0 ? r.seq_len : c.max_position_embeddings;
  // Per device need on the mesh that needs least, and the longest sequence.
  bool any = false;
  for (auto& m : res.candidates) {
    if (!m.layout || (r.batch > 0 && r.batch % m.dp != 0)) continue;
    const int64_t b = requested_local(r, m.dp);
    const MemoryBreakdown need = memory_for(c, *m.layout, ms, b, a.target_seq_len);
    if (!any || need.used() < a.best_memory.used()) {
      a.best_memory = need;
      a.best_mesh = m.mesh.shape_string();
    }
    any = true;
    const int64_t longest = max_seq_len(c, *m.layout, ms, b, c.max_position_embeddings);
    if (longest > a.longest_seq_len) {
      a.longest_seq_len = longest;
      a.longest_mesh = m.mesh.shape_string();
    }
  }
  // Smaller weight dtypes, then an int8 KV cache.
  std::vector<std::pair<std::string, SearchRequest>> tries;
  for (DType t : {DType::bf16, DType::i8, DType::i4}) {
    if (dtype_bits(t) >= dtype_bits(r.weight_dtype)) continue;
    SearchRequest s = r;
    s.weight_dtype = t;
    if (!r.kv_dtype && dtype_bits(r.kv()) > 16) s.kv_dtype = DType::bf16;
    tries.emplace_back(std::string("--dtype ") + dtype_name(t), s);
  }
  if (r.kv() != DType::i8) {
    SearchRequest s = r;
    s.kv_dtype = DType::i8;
    tries.emplace_back("--kv-dtype int8", s);
  }
  for (auto& [flag, s] : tries) {
    const SearchResult sub = search_impl(c, s, false);
    if (!sub.chosen) continue;
    const MeshCandidate& m = sub.candidates[*sub.chosen];
    a.smaller_dtypes.push_back(flag + ": fits on mesh " + m.mesh.shape_string() + ", max batch " +
                               std::to_string(m.max_batch_total()) + " at seq len " +
                               std::to_string(m.seq_len));
  }
  // Devices of this kind needed (dp x mp with the least devices that fits).
  for (int n = r.devices() + 1; n <= 4096 && a.devices_needed == 0; ++n) {
    for (int mp = 1; mp <= n && a.devices_needed == 0; ++mp) {
      if (n % mp != 0) continue;
      const int dp = n / mp;
      if (r.batch > 0 && r.batch % dp != 0) continue;
      auto L = layouts.get(1, mp, nullptr, r.moe);
      if (!L) continue;
      if (memory_for(c, *L, ms, requested_local(r, dp), a.target_seq_len).fits()) {
        a.devices_needed = n;
        a.devices_mesh = std::to_string(dp) + "x" + std::to_string(mp);
      }
    }
  }
  res.advice = a;
}

SearchResult search_impl(const ModelConfig& c, const SearchRequest& r, bool advise) {
  check_kv_dtype(r.kv());
  if (r.devices() < 1) MESHLM_FAIL("the number of devices must be >= 1");
  if (r.seq_len < 0 || r.batch < 0 || r.prefill_chunk < 0 || r.prompt_len < 0)
    MESHLM_FAIL("seq len, batch, prefill chunk and prompt length must be >= 0");
  if (r.seq_len > c.max_position_embeddings)
    MESHLM_FAIL("seq len " << r.seq_len << " exceeds the model's max_position_embeddings ("
                           << c.max_position_embeddings << ")");
  if (r.only_mesh && r.only_mesh->size() > r.devices())
    MESHLM_FAIL("mesh " << r.only_mesh->shape_string() << " needs " << r.only_mesh->size()
                        << " devices but only " << r.devices() << " are available");
  if (r.reserve.for_capacity(r.capacity()) >= r.capacity())
    MESHLM_FAIL("the reserve (" << r.reserve.describe() << ") leaves no device memory");

  SearchResult res;
  res.config = c;
  res.request = r;
  res.kv_dtype = r.kv();
  for (auto& t : tensor_inventory(c)) {
    res.parameters += static_cast<uint64_t>(num_elements(t.shape));
    res.weight_bytes += weight_bytes(t.shape, storage_dtype(t, r.weight_dtype));
  }
  res.kv_bytes_per_token = kv_bytes_per_token(c, c.num_kv_heads, res.kv_dtype);

  const MemorySettings ms = settings_of(r);
  Layouts layouts(c, r.weight_dtype);
  for (auto [dp, mp, moe] : meshes_to_try(c, r)) {
    MeshCandidate m;
    m.mesh = dp_mp_mesh(dp, mp);
    m.dp = dp;
    m.mp = mp;
    m.moe = moe;
    m.layout = layouts.get(dp, mp, &m.reason, moe);
    if (m.layout) {
      m.notes = m.layout->notes;
      m.collectives_per_step = m.layout->collectives_per_step(c.num_layers);
      if (r.batch > 0 && r.batch % dp != 0)
        m.reason = "batch " + std::to_string(r.batch) + " is not divisible by axis 'dp' (size " +
                   std::to_string(dp) + ")";
    }
    res.candidates.push_back(std::move(m));
  }

  // The sequence length: as asked, or the longest any mesh holds (<= model max).
  res.seq_len = r.seq_len;
  if (res.seq_len == 0) {
    for (auto& m : res.candidates)
      if (m.layout && m.reason.empty())
        res.seq_len = std::max(res.seq_len, max_seq_len(c, *m.layout, ms, requested_local(r, m.dp),
                                                        c.max_position_embeddings));
    res.seq_len_capped = res.seq_len < c.max_position_embeddings;
  }
  for (auto& m : res.candidates) {
    if (!m.layout || !m.reason.empty()) continue;
    if (res.seq_len == 0) {  // nothing holds even one position
      m.memory = memory_for(c, *m.layout, ms, requested_local(r, m.dp), 1);
      m.reason = "does not fit even at seq len 1: needs " + need_text(m.memory) + " per device, " +
                 gib(m.memory.capacity) + " available";
      continue;
    }
    evaluate(c, r, ms, res.seq_len, m);
  }
  res.kv_bytes_per_sequence =
      kv_cache_bytes(c, c.num_kv_heads, 1, res.shown_seq_len(), res.kv_dtype);

  for (size_t i = 0; i < res.candidates.size(); ++i)
    if (res.candidates[i].feasible &&
        (!res.chosen || better(res.candidates[i], res.candidates[*res.chosen], r.objective)))
      res.chosen = i;
  if (res.chosen)
    res.explanation = explain(res);
  else if (advise)
    give_advice(c, r, res, layouts);
  return res;
}

}  // namespace

SearchResult search_meshes(const ModelConfig& c, const SearchRequest& r) {
  return search_impl(c, r, true);
}

Plan plan_for_candidate(const SearchResult& res, const MeshCandidate& m) {
  MESHLM_CHECK(m.feasible, "plan for a rejected mesh " << m.mesh.shape_string());
  PlanRequest p;
  p.weight_dtype = res.request.weight_dtype;
  p.kv_dtype = res.kv_dtype;
  p.seq_len = m.seq_len;
  p.batch = m.batch_local * m.dp;
  p.prefill_chunk = res.request.prefill_chunk;
  p.device = res.request.device;
  p.device_memory = res.request.capacity();
  p.reserve = res.request.reserve;
  p.moe = m.moe;
  return plan_for_mesh(res.config, m.mesh, p);
}

}  // namespace meshlm
