#include "planner/planner.h"

#include <algorithm>

#include "sharding/error.h"
#include "sharding/units.h"

namespace meshlm {

namespace {

std::string describe(const MemoryBreakdown& m) {
  auto b = [](uint64_t v) { return format_bytes(static_cast<double>(v)); };
  return "weights " + b(m.weights) + " + KV cache " + b(m.kv_cache) + " + activations " +
         b(m.activations) + " + comm buffers " + b(m.comm) + " + reserve " + b(m.reserve);
}

}  // namespace

Plan plan_for_mesh(const ModelConfig& c, const AbstractMesh& mesh, const PlanRequest& req) {
  check_kv_dtype(req.kv_dtype);
  const MeshLayout layout = make_layout(
      c, mesh, req.weight_dtype,
      req.moe.value_or(default_moe_sharding(c, mesh.axis_size("mp"), req.weight_dtype)));
  const int dp = layout.dp;
  if (req.batch < 0 || req.seq_len < 0 || req.prefill_chunk < 0)
    MESHLM_FAIL("batch, seq_len and prefill_chunk must be >= 0 (0 = automatic)");
  if (req.batch % dp != 0)
    MESHLM_FAIL("batch " << req.batch << " is not divisible by axis 'dp' (size " << dp
                         << "): every data-parallel replica holds batch / dp sequences");
  if (req.seq_len > c.max_position_embeddings)
    MESHLM_FAIL("seq_len " << req.seq_len << " exceeds the model's max_position_embeddings ("
                           << c.max_position_embeddings << ")");

  std::optional<uint64_t> capacity = req.device_memory;
  if (!capacity && req.device) capacity = req.device->hbm_bytes;
  MemorySettings ms;
  ms.capacity = capacity.value_or(0);
  ms.reserve = capacity ? req.reserve : Reserve{0.0, std::nullopt};
  ms.kv_dtype = req.kv_dtype;
  ms.prefill_chunk = req.prefill_chunk;

  const std::string where = "model " + (c.name.empty() ? c.model_type : c.name) + " on mesh " +
                            mesh.shape_string() + " (dp=" + std::to_string(dp) +
                            ", mp=" + std::to_string(layout.mp) + ")";
  int64_t seq_len = req.seq_len;
  int64_t batch_local = req.batch / dp;
  if (seq_len == 0) {
    seq_len = c.max_position_embeddings;
    if (capacity) {
      const int64_t longest =
          max_seq_len(c, layout, ms, std::max<int64_t>(batch_local, 1), seq_len);
      if (longest == 0) {
        const MemoryBreakdown m = memory_for(c, layout, ms, std::max<int64_t>(batch_local, 1), 1);
        MESHLM_FAIL(where << " does not fit even at seq_len 1: each device needs "
                          << format_bytes(static_cast<double>(m.used())) << " (" << describe(m)
                          << ") but has " << format_bytes(static_cast<double>(m.capacity)));
      }
      seq_len = longest;
    }
  }
  if (batch_local == 0) {
    batch_local = capacity ? max_batch_local(c, layout, ms, seq_len) : 1;
    if (batch_local == 0) batch_local = 1;  // reported by the memory check below
  }
  const MemoryBreakdown m = memory_for(c, layout, ms, batch_local, seq_len);
  if (capacity && !m.fits())
    MESHLM_FAIL(where << " does not fit with " << batch_local << " sequence(s) of " << seq_len
                      << " positions per replica: each device needs "
                      << format_bytes(static_cast<double>(m.used())) << " (" << describe(m)
                      << ") but has " << format_bytes(static_cast<double>(m.capacity)));

  Plan p;
  p.model_name = c.name;
  p.model_config = c.to_hf_json();
  p.mesh = mesh;
  p.rules = layout.rules;
  p.tensors = layout.tensors;
  p.kv_cache_spec = layout.kv_cache_spec;
  p.activation_spec = layout.activation_spec;
  p.weight_dtype = req.weight_dtype;
  p.kv_dtype = req.kv_dtype;
  p.compute_dtype = DType::f32;
  p.seq_len = seq_len;
  p.batch = batch_local * dp;
  p.prefill_chunk = effective_chunk(req.prefill_chunk, seq_len);
  p.device = req.device;
  if (p.device && req.device_memory) p.device->hbm_bytes = *req.device_memory;
  p.predicted_bytes = {{"weights", m.weights},
                       {"kv_cache", m.kv_cache},
                       {"activations", m.activations},
                       {"comm", m.comm},
                       {"reserve", m.reserve}};
  if (capacity) p.predicted_bytes["capacity"] = *capacity;
  p.validate();
  return p;
}

}  // namespace meshlm
