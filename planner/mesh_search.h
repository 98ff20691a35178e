// The mesh search: every dp x mp factorization of the device count (and, when
// allowed, of every smaller count), each laid out with the default rules,
// sized by the memory model, timed by the cost model, and the best one chosen
// for the objective. Every rejected mesh keeps its reason; when nothing fits,
// advice says what would (longest sequence, smaller dtype, devices needed).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "arch/model_config.h"
#include "planner/cost_model.h"
#include "planner/layout.h"
#include "planner/memory_model.h"
#include "sharding/device_spec.h"
#include "sharding/plan.h"

namespace meshlm {

enum class Objective { throughput, latency };
Objective parse_objective(const std::string& s);
const char* objective_name(Objective o);

// Two scores closer than this (relative) tie; ties go to fewer collectives.
inline constexpr double kTieTolerance = 0.01;
inline constexpr int64_t kDefaultPrefillChunk = 512;
inline constexpr int64_t kDefaultPromptLen = 1024;

struct SearchRequest {
  DeviceSpec device;
  int num_devices = 0;                    // 0 = device.device_count
  std::optional<uint64_t> device_memory;  // overrides device.hbm_bytes
  bool allow_fewer_devices = false;       // also meshes of 1 .. num_devices-1 devices
  std::optional<AbstractMesh> only_mesh;  // evaluate this mesh only
  DType weight_dtype = DType::bf16;
  std::optional<DType> kv_dtype;  // default: the weight dtype if fp32/bf16/fp16, else bf16
  int64_t seq_len = 0;            // 0 = the longest that fits, up to max_position_embeddings
  int64_t batch = 0;              // global; 0 = the largest that fits
  int64_t prefill_chunk = kDefaultPrefillChunk;  // 0 = seq_len
  int64_t prompt_len = 0;   // prefill estimate; 0 = min(seq_len, kDefaultPromptLen)
  int64_t avg_seq_len = 0;  // serving estimate (paged KV); 0 = seq_len / 2
  Reserve reserve;
  Objective objective = Objective::throughput;
  // MoE models: evaluate only this placement of the experts; by default
  // every mesh with mp > 1 is evaluated with both (tp and ep).
  std::optional<MoeSharding> moe;

  uint64_t capacity() const { return device_memory.value_or(device.hbm_bytes); }
  int devices() const { return num_devices > 0 ? num_devices : device.device_count; }
  DType kv() const;
};

struct MeshCandidate {
  AbstractMesh mesh;
  int dp = 1, mp = 1;
  std::optional<MoeSharding> moe;  // MoE models: the experts' placement
  std::string label() const;       // "1x4", or "1x4 ep" for a MoE model with mp > 1
  bool feasible = false;
  std::string reason;                        // why rejected (empty when feasible)
  std::vector<std::string> notes;            // KV heads replicated, vocab replicated, ...
  std::shared_ptr<const MeshLayout> layout;  // null when the layout itself failed
  int collectives_per_step = 0;
  int64_t seq_len = 0;
  int64_t max_batch_local = 0;            // per replica, at seq_len
  int64_t batch_local = 0;                // the operating batch per replica the figures below use
  MemoryBreakdown memory;                 // per device at (batch_local, seq_len)
  uint64_t kv_bytes_per_token = 0;        // per device (no window cap)
  uint64_t kv_bytes_per_sequence = 0;     // per device at seq_len
  uint64_t activation_bytes_prefill = 0;  // per device, one chunk of one sequence (batch 1)
  uint64_t activation_bytes_decode_seq = 0;  // per device, added by each decoding sequence
  int64_t prompt_len = 0;
  StepCost prefill;                  // one prompt of prompt_len tokens on one replica
  StepCost decode;                   // one step of batch_local sequences at context seq_len
  double tokens_per_s_sequence = 0;  // decode, per sequence
  double tokens_per_s_total = 0;     // decode, all replicas
  // Serving (mesh-run serve): the KV budget per device (what the operating
  // batch's activations, the weights and the reserve leave) and the
  // sequences of avg_seq_len positions it holds at once per replica as
  // paged blocks of kDefaultKvBlockSize positions (PagedKvGeometry).
  uint64_t kv_budget_bytes = 0;
  int64_t avg_seq_len = 0;
  int64_t serving_sequences = 0;
  int64_t max_batch_total() const { return max_batch_local * dp; }
  double score(Objective o) const;
};

struct NothingFitsAdvice {
  std::string best_mesh;        // the mesh needing the least memory per device
  MemoryBreakdown best_memory;  // its need at batch 1 (or the requested batch)
  int64_t target_seq_len = 0;
  int64_t longest_seq_len = 0;  // at that batch on any mesh; 0 = none
  std::string longest_mesh;
  std::vector<std::string> smaller_dtypes;  // "--dtype int8: mesh 1x4, max batch 3 at seq len 4096"
  int devices_needed = 0;                   // 0 = not found up to the search limit
  std::string devices_mesh;
};

struct SearchResult {
  ModelConfig config;
  SearchRequest request;
  DType kv_dtype = DType::bf16;
  uint64_t parameters = 0;
  uint64_t weight_bytes = 0;        // whole model in the weight dtype, scales included
  uint64_t kv_bytes_per_token = 0;  // whole model, all KV heads, no window cap
  int64_t seq_len = 0;          // the sequence length every mesh was evaluated at (0: none fits)
  bool seq_len_capped = false;  // seq_len 0 was asked and memory capped it below the model max
  uint64_t kv_bytes_per_sequence = 0;  // whole model at shown_seq_len()
  // seq_len, or when nothing fits the one asked for (else the model maximum).
  int64_t shown_seq_len() const {
    return seq_len > 0           ? seq_len
           : request.seq_len > 0 ? request.seq_len
                                 : config.max_position_embeddings;
  }
  std::vector<MeshCandidate> candidates;
  std::optional<size_t> chosen;
  std::string explanation;                  // one line
  std::optional<NothingFitsAdvice> advice;  // when nothing fits
};

SearchResult search_meshes(const ModelConfig& config, const SearchRequest& request);

// The plan of the chosen (or the given) candidate: plan_for_mesh at its
// seq_len and operating batch.
Plan plan_for_candidate(const SearchResult& result, const MeshCandidate& candidate);

}  // namespace meshlm
