// The mesh search: enumeration, rejection reasons, objectives and ties,
// requested batch / longest sequence, and the nothing-fits advice.
#include <gtest/gtest.h>

#include "planner/mesh_search.h"
#include "planner/report.h"
#include "sharding/error.h"

using namespace meshlm;

namespace {
SearchRequest tpu(DType dtype = DType::bf16) {
  SearchRequest r;
  r.device = DeviceSpec::load("tpu-v4-8");
  r.weight_dtype = dtype;
  return r;
}
std::vector<std::string> shapes(const SearchResult& r) {
  std::vector<std::string> out;
  for (auto& m : r.candidates) out.push_back(m.mesh.shape_string());
  return out;
}
}  // namespace

TEST(MeshSearch, EnumeratesEveryFactorizationWithReasons) {
  SearchRequest r = tpu();
  r.num_devices = 6;
  r.seq_len = 4096;
  const SearchResult res = search_meshes(ModelConfig::load("llama-2-7b"), r);
  EXPECT_EQ(shapes(res), (std::vector<std::string>{"6x1", "3x2", "2x3", "1x6"}));
  // 32 heads split over 3 or 6 is impossible; 6x1 does not fit the 13.5 GB of weights + KV.
  EXPECT_NE(res.candidates[2].reason.find("axis 'mp' (size 3)"), std::string::npos);
  EXPECT_NE(res.candidates[3].reason.find("axis 'mp' (size 6)"), std::string::npos);
  EXPECT_TRUE(res.candidates[1].feasible);
  ASSERT_TRUE(res.chosen.has_value());
  for (auto& m : res.candidates) EXPECT_EQ(m.feasible, m.reason.empty()) << m.mesh.shape_string();

  r.allow_fewer_devices = true;
  r.num_devices = 4;
  const SearchResult fewer = search_meshes(ModelConfig::load("llama-2-7b"), r);
  EXPECT_EQ(shapes(fewer),
            (std::vector<std::string>{"4x1", "2x2", "1x4", "3x1", "1x3", "2x1", "1x2", "1x1"}));
}

TEST(MeshSearch, RequestedBatchAndLongestSequence) {
  SearchRequest r = tpu();
  r.batch = 6;  // not divisible by dp 4
  r.seq_len = 2048;
  const SearchResult res = search_meshes(ModelConfig::load("llama-2-7b"), r);
  EXPECT_NE(res.candidates[0].reason.find("batch 6 is not divisible by axis 'dp' (size 4)"),
            std::string::npos);
  for (auto& m : res.candidates)
    if (m.feasible) {
      EXPECT_EQ(m.batch_local * m.dp, 6);
    }

  r.seq_len = 0;  // the longest sequence for batch 6 (<= 4096, the model max)
  const SearchResult longest = search_meshes(ModelConfig::load("llama-2-7b"), r);
  EXPECT_EQ(longest.seq_len, 4096);
  const SearchResult mistral = search_meshes(ModelConfig::load("mistral-7b-v0.1"), r);
  EXPECT_EQ(mistral.seq_len, 32768);  // the 4096 window caps the KV cache
  r.batch = 64;
  const SearchResult capped = search_meshes(ModelConfig::load("llama-3.1-70b"), [&] {
    SearchRequest q = r;
    q.weight_dtype = DType::i4;
    return q;
  }());
  ASSERT_TRUE(capped.chosen.has_value());
  EXPECT_TRUE(capped.seq_len_capped);
  const MeshCandidate& m = capped.candidates[*capped.chosen];
  EXPECT_TRUE(memory_for(capped.config, *m.layout, {m.memory.capacity, r.reserve, DType::bf16, 512},
                         m.batch_local, capped.seq_len)
                  .fits());
  EXPECT_FALSE(memory_for(capped.config, *m.layout,
                          {m.memory.capacity, r.reserve, DType::bf16, 512}, m.batch_local,
                          capped.seq_len + 1)
                   .fits());
}

TEST(MeshSearch, LatencyObjectiveAndTiesGoToFewerCollectives) {
  // Batch 1 per replica: 4x1, 2x1 and 1x1 decode equally fast; the tie goes to the
  // fewest collectives and then the fewest devices. Sharding over mp must beat
  // them by more than 1% to win.
  SearchRequest r = tpu();
  r.objective = Objective::latency;
  r.allow_fewer_devices = true;
  r.seq_len = 512;
  const SearchResult tiny =
      search_meshes(ModelConfig::load(std::string(MESHLM_TESTDATA_DIR) + "/stories260K.bin"), r);
  ASSERT_TRUE(tiny.chosen.has_value());
  // For a 1 MB model the 5 us per collective dominates: no tensor parallelism.
  EXPECT_EQ(tiny.candidates[*tiny.chosen].mesh.shape_string(), "1x1");
  EXPECT_NE(tiny.explanation.find("ties with"), std::string::npos) << tiny.explanation;

  // 13B at batch 1: splitting the 26 GB of weights 4 ways wins by far.
  r.allow_fewer_devices = false;
  r.seq_len = 4096;
  const SearchResult big = search_meshes(ModelConfig::load("llama-2-13b"), r);
  const MeshCandidate& c = big.candidates[*big.chosen];
  EXPECT_EQ(c.mesh.shape_string(), "1x4");
  EXPECT_EQ(c.batch_local, 1);
  EXPECT_NE(big.explanation.find("per-sequence decode speed"), std::string::npos);
}

TEST(MeshSearch, NothingFitsGivesAdvice) {
  const ModelConfig c = ModelConfig::load("llama-3.1-70b");
  const SearchResult res = search_meshes(c, tpu());
  ASSERT_FALSE(res.chosen.has_value());
  ASSERT_TRUE(res.advice.has_value());
  const NothingFitsAdvice& a = *res.advice;
  EXPECT_EQ(a.best_mesh, "1x4");
  // bf16 weights on mp 4: 2 x ((70,553,706,496 - 161 x 8192) / 4 + 161 x 8192).
  EXPECT_EQ(a.best_memory.weights, 2 * ((70553706496ull - 161 * 8192) / 4 + 161 * 8192));
  EXPECT_FALSE(a.best_memory.fits());
  EXPECT_EQ(a.longest_seq_len, 0);  // the weights alone exceed 28.8 GiB
  EXPECT_EQ(a.devices_needed, 8);   // 1x8: 16.4 GiB of weights + 5 GiB KV at 131072 positions
  EXPECT_EQ(a.devices_mesh, "1x8");
  ASSERT_FALSE(a.smaller_dtypes.empty());
  EXPECT_EQ(a.smaller_dtypes[0].rfind("--dtype int8: fits on mesh 1x4", 0), 0u)
      << a.smaller_dtypes[0];
  const std::string msg = nothing_fits_message(res);
  EXPECT_NE(msg.find("need 50.16 GiB"), std::string::npos) << msg;
  EXPECT_NE(msg.find("available 32.00 GiB (34.36 GB)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("8 devices"), std::string::npos) << msg;

  // int8 fits, at the longest sequence 1x4 holds.
  const SearchResult int8 = search_meshes(c, tpu(DType::i8));
  ASSERT_TRUE(int8.chosen.has_value());
  EXPECT_EQ(int8.candidates[*int8.chosen].mesh.shape_string(), "1x4");
  EXPECT_TRUE(int8.seq_len_capped);
  EXPECT_GT(int8.seq_len, 65536);

  // A requested sequence too long for the batch: the longest that fits is reported.
  SearchRequest r = tpu(DType::i8);
  r.seq_len = 131072;
  r.batch = 1;
  const SearchResult too_long = search_meshes(c, r);
  ASSERT_FALSE(too_long.chosen.has_value());
  EXPECT_EQ(too_long.advice->longest_seq_len, int8.seq_len);
  EXPECT_NE(nothing_fits_message(too_long).find("--seq-len " + std::to_string(int8.seq_len)),
            std::string::npos);
}

TEST(MeshSearch, JsonCarriesTheSameFigures) {
  SearchRequest r = tpu();
  r.seq_len = 4096;
  const SearchResult res = search_meshes(ModelConfig::load("llama-2-13b"), r);
  const nlohmann::json j = search_to_json(res);
  EXPECT_EQ(j["model"]["parameters"], 13015864320ull);
  EXPECT_EQ(j["model"]["weight_bytes"], 2 * 13015864320ull);
  EXPECT_EQ(j["model"]["kv_bytes_per_token"], 2ull * 40 * 40 * 128 * 2);
  EXPECT_EQ(j["chosen"], "1x4");
  EXPECT_TRUE(j["fits"].get<bool>());
  ASSERT_EQ(j["meshes"].size(), 3u);
  const auto& m = j["meshes"][2];
  EXPECT_EQ(m["mesh"], "1x4");
  EXPECT_TRUE(m["chosen"].get<bool>());
  EXPECT_EQ(m["max_batch_total"], 28);
  EXPECT_EQ(m["bytes_per_device"]["weights"], 6508554240ull);
  EXPECT_EQ(m["kv_bytes_per_sequence_per_device"], 838860800ull);
  EXPECT_EQ(
      m["bytes_per_device"]["used"].get<uint64_t>() + m["bytes_per_device"]["free"].get<int64_t>(),
      34359738368ull);
  const std::string table = format_search_table(res);
  EXPECT_NE(table.find("* 1x4"), std::string::npos) << table;
  EXPECT_NE(table.find("13,015,864,320 parameters"), std::string::npos);
  EXPECT_NE(table.find("6.06 GiB"), std::string::npos);
  EXPECT_NE(table.find("966 tok/s"), std::string::npos);
}

TEST(MeshSearch, PlanOfTheChosenMesh) {
  SearchRequest r;
  r.device = DeviceSpec::load("cpu-rank");
  r.num_devices = 4;
  r.weight_dtype = DType::f32;
  r.seq_len = 512;
  r.batch = 4;
  r.only_mesh = dp_mp_mesh(2, 2);
  const SearchResult res =
      search_meshes(ModelConfig::load(std::string(MESHLM_TESTDATA_DIR) + "/stories260K.bin"), r);
  ASSERT_TRUE(res.chosen.has_value());
  const MeshCandidate& m = res.candidates[*res.chosen];
  const Plan p = plan_for_candidate(res, m);
  EXPECT_EQ(p.mesh, dp_mp_mesh(2, 2));
  EXPECT_EQ(p.batch, 4);
  EXPECT_EQ(p.kv_dtype, DType::f32);
  EXPECT_EQ(p.predicted_bytes.at("weights"), m.memory.weights);
  EXPECT_EQ(p.predicted_bytes.at("kv_cache"), m.memory.kv_cache);
  EXPECT_EQ(p.predicted_bytes.at("activations"), m.memory.activations);
  EXPECT_EQ(p.predicted_bytes.at("reserve"), m.memory.reserve);

  r.only_mesh = dp_mp_mesh(4, 2);
  EXPECT_THROW(search_meshes(ModelConfig::load("llama-2-7b"), r), Error);
}
