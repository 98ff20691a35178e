#include "planner/report.h"

#include <cstdio>
#include <sstream>

#include "sharding/units.h"

namespace meshlm {

namespace {

std::string b2(uint64_t v) {
  return format_bytes(static_cast<double>(v));
}
std::string b2s(int64_t v) {
  return format_bytes(static_cast<double>(v));
}
std::string gb(uint64_t v) {
  return format_bytes(static_cast<double>(v), false);
}

std::string printf_str(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

std::string rate(double tok_s) {
  if (tok_s >= 100) return format_count(static_cast<uint64_t>(tok_s + 0.5)) + " tok/s";
  return printf_str("%.1f tok/s", tok_s);
}

std::string pad(const std::string& s, size_t w) {
  return s.size() >= w ? s + " " : s + std::string(w - s.size(), ' ');
}

std::string device_line(const SearchResult& r) {
  const DeviceSpec& d = r.request.device;
  const uint64_t cap = r.request.capacity();
  std::string s =
      std::to_string(r.request.devices()) + " x " + d.name + ": " + b2(cap) + " (" + gb(cap) +
      ") memory each" + (r.request.device_memory ? " (overridden)" : "") + ", " +
      printf_str("%.2f TB/s", d.hbm_bandwidth / 1e12) + ", " +
      printf_str("%.1f TFLOP/s ", d.flops_for(compute_dtype_for(r.request.weight_dtype)) / 1e12) +
      dtype_name(compute_dtype_for(r.request.weight_dtype)) + "; interconnect " +
      printf_str("%.1f GB/s", d.interconnect_bandwidth / 1e9) + ", alpha " +
      format_seconds(d.interconnect_latency);
  return s;
}

std::string dtype_line(const SearchResult& r) {
  const DType w = r.request.weight_dtype;
  std::string s = std::string("weights ") + dtype_name(w);
  if (w == DType::mxfp4)
    s += " (the experts' matrices: FP4 E2M1 in blocks of " + std::to_string(kQuantBlock) +
         " along the input dim, one E8M0 scale each, 4.25 bits per weight; everything else bf16)";
  else if (is_quantized(w))
    s += " (blocks of " + std::to_string(kQuantBlock) + " along the input dim, one " +
         dtype_name(kQuantScaleDType) + " scale each; 1-D tensors " + dtype_name(kQuantScaleDType) +
         ")";
  s += ", KV cache " + std::string(dtype_name(r.kv_dtype));
  if (r.kv_dtype == DType::i8) s += " (one bf16 scale per position and KV head)";
  s += ", activations fp32";
  return s;
}

}  // namespace

std::string format_search_table(const SearchResult& r) {
  const ModelConfig& c = r.config;
  const SearchRequest& q = r.request;
  std::ostringstream o;
  o << "model     " << c.name << " (" << c.model_type
    << (c.is_moe() ? ", MoE " + std::to_string(c.num_experts) + " experts top-" +
                         std::to_string(c.experts_per_token)
                   : std::string(", dense"))
    << "): " << format_count(r.parameters) << " parameters, " << b2(r.weight_bytes) << " ("
    << gb(r.weight_bytes) << ") of weights\n";
  o << "dtypes    " << dtype_line(r) << "\n";
  o << "KV cache  " << b2(r.kv_bytes_per_token) << " per token (" << c.num_layers << " layers x "
    << c.num_kv_heads << " KV heads x " << c.head_dim << " x K,V), " << b2(r.kv_bytes_per_sequence)
    << " per sequence of " << r.shown_seq_len() << " positions (whole model";
  if (c.sliding_window > 0) o << "; sliding-window layers hold at most " << c.sliding_window;
  o << ")\n";
  o << "devices   " << device_line(r) << "\n";
  o << "settings  seq len " << (r.seq_len > 0 ? std::to_string(r.seq_len) : "none fits")
    << (q.seq_len == 0 ? (r.seq_len_capped ? " (longest that fits; model max " +
                                                 std::to_string(c.max_position_embeddings) + ")"
                                           : " (model max)")
                       : std::string())
    << ", batch " << (q.batch > 0 ? std::to_string(q.batch) : std::string("max that fits"))
    << ", prefill chunk " << effective_chunk(q.prefill_chunk, r.shown_seq_len())
    << " tokens, reserve " << q.reserve.describe() << " = "
    << b2(q.reserve.for_capacity(q.capacity())) << ", objective " << objective_name(q.objective)
    << "\n\n";

  o << "Memory per device (binary units, 1 GiB = 2^30 B) at the batch used for speed below:\n";
  const std::vector<std::pair<std::string, size_t>> mem_cols = {{"mesh", 7},
                                                                {"weights", 12},
                                                                {"KV cache", 12},
                                                                {"activations", 13},
                                                                {"comm", 12},
                                                                {"reserve", 11},
                                                                {"free", 12},
                                                                {"KV/sequence", 13},
                                                                {"max batch/replica", 19},
                                                                {"max batch total", 15}};
  o << "  ";
  for (auto& [h, w] : mem_cols) o << pad(h, w);
  o << "\n";
  for (size_t i = 0; i < r.candidates.size(); ++i) {
    const MeshCandidate& m = r.candidates[i];
    o << (r.chosen && *r.chosen == i ? "* " : "  ") << pad(m.label(), 7);
    if (!m.feasible) {
      o << "rejected: " << m.reason << "\n";
      continue;
    }
    const MemoryBreakdown& b = m.memory;
    o << pad(b2(b.weights), 12) << pad(b2(b.kv_cache), 12) << pad(b2(b.activations), 13)
      << pad(b2(b.comm), 12) << pad(b2(b.reserve), 11) << pad(b2s(b.free()), 12)
      << pad(b2(m.kv_bytes_per_sequence), 13)
      << pad(format_count(static_cast<uint64_t>(m.max_batch_local)), 19)
      << format_count(static_cast<uint64_t>(m.max_batch_total())) << "\n";
  }

  bool any = false;
  for (auto& m : r.candidates) any = any || m.feasible;
  if (any) {
    o << "Activations per device (fp32): prefill of one "
      << effective_chunk(q.prefill_chunk, r.shown_seq_len())
      << "-token chunk / decode step per sequence:";
    for (auto& m : r.candidates)
      if (m.feasible)
        o << "  " << m.label() << " " << b2(m.activation_bytes_prefill) << " / "
          << b2(m.activation_bytes_decode_seq);
    o << "\n";
  }
  if (any) {
    int64_t prompt = 0;
    for (auto& m : r.candidates)
      if (m.feasible) prompt = m.prompt_len;
    o << "\nSpeed (roofline + alpha-beta collectives; decode step at context " << r.seq_len
      << ", prefill of one " << prompt << "-token prompt):\n";
    const std::vector<std::pair<std::string, size_t>> cols = {
        {"mesh", 7},         {"batch", 9},           {"prefill", 12},
        {"decode step", 13}, {"bound", 9},           {"comm/step", 12},
        {"coll/step", 11},   {"tok/s/sequence", 16}, {"tok/s total", 14}};
    o << "  ";
    for (auto& [h, w] : cols) o << pad(h, w);
    o << "\n";
    for (size_t i = 0; i < r.candidates.size(); ++i) {
      const MeshCandidate& m = r.candidates[i];
      if (!m.feasible) continue;
      o << (r.chosen && *r.chosen == i ? "* " : "  ") << pad(m.label(), 7)
        << pad(format_count(static_cast<uint64_t>(m.batch_local * m.dp)), 9)
        << pad(format_seconds(m.prefill.total_s), 12) << pad(format_seconds(m.decode.total_s), 13)
        << pad(m.decode.compute_bound() ? "compute" : "memory", 9)
        << pad(format_seconds(m.decode.comm_s), 12) << pad(std::to_string(m.decode.collectives), 11)
        << pad(rate(m.tokens_per_s_sequence), 16) << rate(m.tokens_per_s_total) << "\n";
    }
  }
  if (any) {
    int64_t avg = 0;
    for (auto& m : r.candidates)
      if (m.feasible) avg = m.avg_seq_len;
    o << "\nServing (mesh-run serve: paged KV in blocks of " << kDefaultKvBlockSize
      << " positions, sequences of average length " << avg << ", --avg-seq-len):\n";
    for (size_t i = 0; i < r.candidates.size(); ++i) {
      const MeshCandidate& m = r.candidates[i];
      if (!m.feasible) continue;
      o << (r.chosen && *r.chosen == i ? "* " : "  ") << pad(m.label(), 7) << b2(m.kv_budget_bytes)
        << " KV budget per device: " << format_count(static_cast<uint64_t>(m.serving_sequences))
        << " sequences at once per replica, "
        << format_count(static_cast<uint64_t>(m.serving_sequences * m.dp)) << " in all\n";
    }
  }
  bool header = false;
  for (auto& m : r.candidates) {
    if (m.notes.empty() || !m.feasible) continue;
    if (!header) o << "\nNotes:\n";
    header = true;
    for (auto& n : m.notes) o << "  " << m.label() << ": " << n << "\n";
  }
  if (r.chosen) o << "\n" << r.explanation << "\n";
  return o.str();
}

std::string nothing_fits_message(const SearchResult& r) {
  if (r.chosen) return "";
  const ModelConfig& c = r.config;
  const SearchRequest& q = r.request;
  std::ostringstream o;
  o << "error: " << c.name << " (" << format_count(r.parameters) << " parameters) does not fit on "
    << q.devices() << " x " << q.device.name << " (" << b2(q.capacity()) << " = "
    << gb(q.capacity()) << " each) in " << dtype_name(q.weight_dtype) << " on any mesh";
  if (!r.advice || r.advice->best_mesh.empty()) {
    o << ": no mesh can split the model (see the reasons above)\n";
    if (r.advice && r.advice->devices_needed > 0)
      o << "  what would fit: " << r.advice->devices_needed << " devices (mesh "
        << r.advice->devices_mesh << ")\n";
    return o.str();
  }
  const NothingFitsAdvice& a = *r.advice;
  const int64_t batch = q.batch > 0 ? q.batch : 1;
  const MemoryBreakdown& m = a.best_memory;
  o << "\n  per device, on the mesh that needs least (" << a.best_mesh << "), " << batch
    << " sequence(s) of " << a.target_seq_len << " positions need " << b2(m.used()) << ": weights "
    << b2(m.weights) << " + KV cache " << b2(m.kv_cache) << " + activations " << b2(m.activations)
    << " + comm buffers " << b2(m.comm) << " + reserve " << b2(m.reserve) << "; available "
    << b2(m.capacity) << " (" << gb(m.capacity) << ")\n";
  o << "  what would fit:\n";
  if (a.longest_seq_len > 0)
    o << "    - the longest sequence that fits is " << a.longest_seq_len << " positions at batch "
      << batch << " (mesh " << a.longest_mesh << ", --seq-len " << a.longest_seq_len << ")\n";
  else
    o << "    - no sequence length fits: the weights alone need " << b2(m.weights)
      << " per device, and " << b2(m.capacity - m.reserve) << " is left after the reserve\n";
  for (auto& s : a.smaller_dtypes) o << "    - " << s << "\n";
  if (a.devices_needed > 0)
    o << "    - " << a.devices_needed << " devices of this kind (mesh " << a.devices_mesh
      << ") at seq len " << a.target_seq_len << " and batch " << batch << "\n";
  else
    o << "    - no count of these devices up to 4096 holds it at seq len " << a.target_seq_len
      << "\n";
  return o.str();
}

namespace {

nlohmann::json step_json(const StepCost& s) {
  return {{"seconds", s.total_s},
          {"flops_per_device", s.flops},
          {"hbm_bytes_per_device", s.bytes},
          {"compute_seconds", s.compute_s},
          {"memory_seconds", s.memory_s},
          {"comm_seconds", s.comm_s},
          {"comm_bytes_per_device", s.comm_bytes},
          {"collectives", s.collectives},
          {"bound", s.compute_bound() ? "compute" : "memory"}};
}

nlohmann::json memory_json(const MemoryBreakdown& m) {
  return {{"capacity", m.capacity}, {"weights", m.weights},
          {"kv_cache", m.kv_cache}, {"activations", m.activations},
          {"comm", m.comm},         {"reserve", m.reserve},
          {"used", m.used()},       {"free", m.free()}};
}

}  // namespace

nlohmann::json search_to_json(const SearchResult& r) {
  const ModelConfig& c = r.config;
  const SearchRequest& q = r.request;
  nlohmann::json j;
  j["units"] = {{"bytes", "B (exact integers)"}, {"time", "s"}, {"rate", "tokens/s"}};
  j["model"] = {{"name", c.name},
                {"model_type", c.model_type},
                {"parameters", r.parameters},
                {"weight_dtype", dtype_name(q.weight_dtype)},
                {"weight_bytes", r.weight_bytes},
                {"kv_dtype", dtype_name(r.kv_dtype)},
                {"kv_bytes_per_token", r.kv_bytes_per_token},
                {"kv_bytes_per_sequence", r.kv_bytes_per_sequence},
                {"config", c.to_hf_json()}};
  j["device"] = q.device.to_json();
  j["device"]["hbm_bytes"] = q.capacity();
  j["devices"] = q.devices();
  j["settings"] = {{"seq_len", r.seq_len},
                   {"seq_len_requested", q.seq_len},
                   {"batch_requested", q.batch},
                   {"prefill_chunk", effective_chunk(q.prefill_chunk, r.shown_seq_len())},
                   {"reserve_bytes", q.reserve.for_capacity(q.capacity())},
                   {"reserve", q.reserve.describe()},
                   {"objective", objective_name(q.objective)},
                   {"quant_block", kQuantBlock},
                   {"quant_scale_dtype", dtype_name(quant_scale_dtype(q.weight_dtype))},
                   {"allow_fewer_devices", q.allow_fewer_devices}};
  j["meshes"] = nlohmann::json::array();
  for (size_t i = 0; i < r.candidates.size(); ++i) {
    const MeshCandidate& m = r.candidates[i];
    nlohmann::json e = {
        {"mesh", m.mesh.shape_string()},
        {"moe", m.moe ? nlohmann::json(moe_sharding_name(*m.moe)) : nlohmann::json()},
        {"dp", m.dp},
        {"mp", m.mp},
        {"feasible", m.feasible},
        {"chosen", r.chosen && *r.chosen == i},
        {"notes", m.notes}};
    if (!m.feasible) {
      e["reason"] = m.reason;
      j["meshes"].push_back(e);
      continue;
    }
    e["seq_len"] = m.seq_len;
    e["max_batch_per_replica"] = m.max_batch_local;
    e["max_batch_total"] = m.max_batch_total();
    e["batch_per_replica"] = m.batch_local;
    e["batch_total"] = m.batch_local * m.dp;
    e["bytes_per_device"] = memory_json(m.memory);
    e["kv_bytes_per_token_per_device"] = m.kv_bytes_per_token;
    e["kv_bytes_per_sequence_per_device"] = m.kv_bytes_per_sequence;
    e["activation_bytes_prefill_chunk"] = m.activation_bytes_prefill;
    e["activation_bytes_decode_per_sequence"] = m.activation_bytes_decode_seq;
    e["collectives_per_decode_step"] = m.collectives_per_step;
    e["prefill"] = step_json(m.prefill);
    e["prefill"]["prompt_len"] = m.prompt_len;
    e["decode_step"] = step_json(m.decode);
    e["decode_tokens_per_s_per_sequence"] = m.tokens_per_s_sequence;
    e["decode_tokens_per_s_total"] = m.tokens_per_s_total;
    e["serving"] = {{"kv_block_size", kDefaultKvBlockSize},
                    {"kv_budget_bytes_per_device", m.kv_budget_bytes},
                    {"avg_seq_len", m.avg_seq_len},
                    {"sequences_per_replica", m.serving_sequences},
                    {"sequences_total", m.serving_sequences * m.dp}};
    j["meshes"].push_back(e);
  }
  j["fits"] = r.chosen.has_value();
  if (r.chosen) {
    j["chosen"] = r.candidates[*r.chosen].mesh.shape_string();
    j["explanation"] = r.explanation;
  }
  if (r.advice) {
    const NothingFitsAdvice& a = *r.advice;
    j["advice"] = {{"best_mesh", a.best_mesh},
                   {"needed_bytes_per_device", memory_json(a.best_memory)},
                   {"target_seq_len", a.target_seq_len},
                   {"longest_seq_len", a.longest_seq_len},
                   {"longest_seq_len_mesh", a.longest_mesh},
                   {"smaller_dtypes", a.smaller_dtypes},
                   {"devices_needed", a.devices_needed},
                   {"devices_needed_mesh", a.devices_mesh},
                   {"message", nothing_fits_message(r)}};
  }
  return j;
}

}  // namespace meshlm
