// Hugging Face safetensors checkpoints: written and read back (one file or an
// index of several), F16/BF16 converted on read, and every kind of damage —
// header, offsets, dtype, missing tensor, config mismatch — named clearly.
#include <gtest/gtest.h>

#include <filesystem>

#include "model/io/block_copy.h"
#include "model/io/checkpoint.h"
#include "model/io/checkpoint_writer.h"
#include "model/io/safetensors_format.h"
#include "test_io_util.h"

namespace meshlm {
namespace {

namespace fs = std::filesystem;
using namespace test;

// The JSON header and the data of a safetensors file.
struct StFile {
  nlohmann::json header;
  std::string data;
  static StFile read(const std::string& path) {
    const std::string b = read_bytes(path);
    uint64_t n;
    std::memcpy(&n, b.data(), 8);
    return {nlohmann::json::parse(b.substr(8, n)), b.substr(8 + n)};
  }
  void write(const std::string& path) const {
    const std::string h = header.dump();
    const uint64_t n = h.size();
    write_bytes(path, std::string(reinterpret_cast<const char*>(&n), 8) + h + data);
  }
};

// A small model written from seeded synthetic weights.
struct Written {
  TempDir dir;
  std::unique_ptr<Checkpoint> src;
  explicit Written(DType dtype = DType::f32, uint64_t shard = 0,
                   const nlohmann::json& patch = nlohmann::json::object()) {
    src = synthetic_checkpoint(small_config(patch), 99);
    WriteOptions o;
    o.dtype = dtype;
    o.max_shard_bytes = shard;
    write_safetensors_checkpoint(*src, dir.str(), o);
  }
  std::string file() const { return dir / "model.safetensors"; }
};

TEST(SafetensorsCheckpoint, ReadsBackWhatWasWritten) {
  Written w;
  for (const std::string& path : {w.dir.str(), w.file(), w.dir / "config.json"}) {
    const auto ckpt = open_checkpoint(path);
    EXPECT_EQ(ckpt->config().hidden_size, 48);
    EXPECT_EQ(ckpt->config().num_kv_heads, 2);
    EXPECT_TRUE(ckpt->has("lm_head.weight"));
    EXPECT_EQ(ckpt->stored_dtype("model.embed_tokens.weight"), DType::f32);
    EXPECT_NE(ckpt->describe().find("safetensors"), std::string::npos);
    expect_same_weights(*w.src, *ckpt);
  }
}

TEST(SafetensorsCheckpoint, FormatIsSniffedWhateverTheFileName) {
  Written w;
  fs::rename(w.file(), w.dir / "weights.bin");
  EXPECT_NE(open_checkpoint(w.dir / "weights.bin")->describe().find("safetensors"),
            std::string::npos);
  write_bytes(w.dir / "pytorch_model.bin", std::string("PK\x03\x04") + std::string(100, 'x'));
  expect_error([&] { open_checkpoint(w.dir / "pytorch_model.bin"); }, {"PyTorch", "safetensors"});
}

TEST(SafetensorsCheckpoint, ReadsAnIndexOfSeveralFiles) {
  Written w(DType::f32, 40'000);
  int shards = 0;
  for (const auto& e : fs::directory_iterator(w.dir.str()))
    shards += e.path().filename().string().starts_with("model-");
  EXPECT_GE(shards, 3);
  EXPECT_FALSE(fs::exists(w.file()));
  const auto ckpt = open_checkpoint(w.dir.str());
  EXPECT_NE(ckpt->describe().find(std::to_string(shards) + " files"), std::string::npos);
  expect_same_weights(*w.src, *ckpt);
  // Block reads across files and dtypes agree with the source too.
  const std::string up = "model.layers.1.mlp.up_proj.weight";
  std::vector<float> a(7 * 5), b(7 * 5);
  ckpt->read_block(up, {3, 11}, {7, 5}, DType::f32, a.data());
  w.src->read_block(up, {3, 11}, {7, 5}, DType::f32, b.data());
  EXPECT_EQ(a, b);
}

TEST(SafetensorsCheckpoint, ConvertsHalfPrecisionOnRead) {
  for (DType stored : {DType::bf16, DType::f16}) {
    Written w(stored);
    const auto ckpt = open_checkpoint(w.dir.str());
    for (const std::string& name : ckpt->tensor_names()) {
      ASSERT_EQ(ckpt->stored_dtype(name), stored);
      const std::vector<float> src = read_tensor_f32(*w.src, name);
      const std::vector<float> got = read_tensor_f32(*ckpt, name);
      const Shape shape = ckpt->shape(name);
      std::vector<uint16_t> got16(src.size());
      ckpt->read_block(name, Shape(shape.size(), 0), shape, DType::bf16, got16.data());
      for (size_t i = 0; i < src.size(); ++i) {
        const float rounded = stored == DType::bf16 ? bf16_to_float(float_to_bf16(src[i]))
                                                    : fp16_to_float(float_to_fp16(src[i]));
        ASSERT_EQ(got[i], rounded) << name << " element " << i;
        ASSERT_EQ(got16[i], float_to_bf16(rounded).bits) << name << " element " << i;
      }
    }
  }
}

// Known bit patterns, written by hand into model.norm.weight.
TEST(SafetensorsCheckpoint, DecodesKnownHalfPrecisionBits) {
  const std::vector<std::pair<uint16_t, float>> f16 = {
      {0x3C00, 1.0f},        {0xC000, -2.0f}, {0x7BFF, 65504.0f}, {0x0001, 0x1p-24f},
      {0x3555, 0x1.554p-2f}, {0x8000, -0.0f}, {0x0400, 0x1p-14f}, {0x03FF, 0x1.ff8p-15f}};
  const std::vector<std::pair<uint16_t, float>> bf = {{0x3F80, 1.0f},
                                                      {0x4049, 3.140625f},
                                                      {0xC2F7, -123.5f},
                                                      {0x0001, 0x1p-133f},
                                                      {0x7F7F, 0x1.fep127f}};
  for (DType stored : {DType::f16, DType::bf16}) {
    const auto& table = stored == DType::f16 ? f16 : bf;
    Written w(stored);
    StFile st = StFile::read(w.file());
    const auto& e = st.header["model.norm.weight"];
    const uint64_t begin = e["data_offsets"][0];
    for (size_t i = 0; i < 48; ++i) {  // model.norm.weight has 48 elements
      const uint16_t bits = table[i % table.size()].first;
      std::memcpy(st.data.data() + begin + 2 * i, &bits, 2);
    }
    st.write(w.file());
    const std::vector<float> got =
        read_tensor_f32(*open_checkpoint(w.dir.str()), "model.norm.weight");
    for (size_t i = 0; i < 48; ++i) {
      EXPECT_EQ(got[i], table[i % table.size()].second) << dtype_name(stored) << " element " << i;
      EXPECT_EQ(std::signbit(got[i]), std::signbit(table[i % table.size()].second));
    }
  }
}

// Reopening after `damage` fails with an error containing every fragment.
template <class Damage>
void expect_damage_error(Damage&& damage, const std::vector<std::string>& fragments) {
  Written w;
  StFile st = StFile::read(w.file());
  damage(w, st);
  expect_error([&] { open_checkpoint(w.dir.str()); }, fragments);
}

const char* kUp = "model.layers.1.mlp.up_proj.weight";

TEST(SafetensorsCheckpoint, OffsetPastTheEndIsAnError) {
  expect_damage_error(
      [](Written& w, StFile& st) {
        const uint64_t end = st.data.size();
        const uint64_t bytes = 80 * 48 * 4;
        st.header[kUp]["data_offsets"] = {end - bytes + 8, end + 8};
        st.write(w.file());
      },
      {kUp, "outside", "model.safetensors"});
}

TEST(SafetensorsCheckpoint, TruncatedFileIsAnError) {
  expect_damage_error(
      [](Written& w, StFile&) {
        const std::string b = read_bytes(w.file());
        write_bytes(w.file(), b.substr(0, b.size() - 100));
      },
      {"outside", "truncated"});
  expect_damage_error([](Written& w, StFile&) { write_bytes(w.file(), "abc"); },
                      {"truncated", "3 bytes"});
}

TEST(SafetensorsCheckpoint, BadHeadersAreErrors) {
  expect_damage_error(
      [](Written& w, StFile& st) {
        const uint64_t n = uint64_t{1} << 40;
        write_bytes(w.file(), std::string(reinterpret_cast<const char*>(&n), 8) + st.data);
      },
      {"header", "1099511627776"});
  expect_damage_error(
      [](Written& w, StFile& st) {
        const std::string h = "{\"a\": [1, 2";
        const uint64_t n = h.size();
        write_bytes(w.file(), std::string(reinterpret_cast<const char*>(&n), 8) + h + st.data);
      },
      {"not valid JSON", "model.safetensors"});
  expect_damage_error(
      [](Written& w, StFile& st) {
        st.header[kUp].erase("shape");
        st.write(w.file());
      },
      {kUp, "malformed"});
  // Byte range inconsistent with dtype x shape.
  expect_damage_error(
      [](Written& w, StFile& st) {
        st.header[kUp]["shape"] = {80, 47};
        st.write(w.file());
      },
      {kUp, "[80, 47]", "15360", "15040"});
}

TEST(SafetensorsCheckpoint, UnsupportedDtypeIsAnError) {
  expect_damage_error(
      [](Written& w, StFile& st) {
        st.header[kUp]["dtype"] = "I64";
        st.write(w.file());
      },
      {kUp, "I64", "F32, BF16, F16"});
}

TEST(SafetensorsCheckpoint, MissingTensorIsAnError) {
  expect_damage_error(
      [](Written& w, StFile& st) {  // the tensor and its bytes removed: a valid file
        const uint64_t b = st.header[kUp]["data_offsets"][0], e = st.header[kUp]["data_offsets"][1];
        st.header.erase(kUp);
        st.data.erase(b, e - b);
        for (auto& [name, t] : st.header.items())
          if (name != "__metadata__" && t["data_offsets"][0].get<uint64_t>() >= e)
            t["data_offsets"] = {t["data_offsets"][0].get<uint64_t>() - (e - b),
                                 t["data_offsets"][1].get<uint64_t>() - (e - b)};
        st.write(w.file());
      },
      {kUp, "missing", "[80, 48]"});
}

TEST(SafetensorsCheckpoint, ConfigThatDoesNotMatchIsAnError) {
  // intermediate_size 96 in config.json, 80 in the file.
  Written w;
  std::ofstream(w.dir / "config.json") << small_config_json({{"intermediate_size", 96}}).dump();
  expect_error([&] { open_checkpoint(w.dir.str()); },
               {"model.layers.0.mlp.gate_proj.weight", "[80, 48]", "[96, 48]", "model.safetensors",
                "does not match"});
  // One layer in config.json, two in the file.
  std::ofstream(w.dir / "config.json") << small_config_json({{"num_hidden_layers", 1}}).dump();
  expect_error([&] { open_checkpoint(w.dir.str()); }, {"model.layers.1.", "does not match"});
  // Tied embeddings in the config but the file has an lm_head: tolerated (HF does this).
  std::ofstream(w.dir / "config.json") << small_config_json({{"tie_word_embeddings", true}}).dump();
  const auto tied_view = open_checkpoint(w.dir.str());
  EXPECT_FALSE(tied_view->has("lm_head.weight"));
  EXPECT_TRUE(tied_view->config().tie_word_embeddings);
  // An untied config without lm_head in the file: a missing tensor.
  Written tied(DType::f32, 0, {{"tie_word_embeddings", true}});
  std::ofstream(tied.dir / "config.json")
      << small_config_json({{"tie_word_embeddings", false}}).dump();
  expect_error([&] { open_checkpoint(tied.dir.str()); }, {"lm_head.weight", "missing"});
}

TEST(SafetensorsCheckpoint, MissingPiecesAreErrors) {
  Written w;
  fs::remove(w.dir / "config.json");
  expect_error([&] { open_checkpoint(w.dir.str()); }, {"config.json"});
  expect_error([&] { open_checkpoint(w.file()); }, {"config.json"});
  TempDir empty;
  std::ofstream(empty / "config.json") << small_config_json().dump();
  expect_error([&] { open_checkpoint(empty.str()); }, {"model.safetensors"});
}

TEST(SafetensorsCheckpoint, IndexPointingToTheWrongFileIsAnError) {
  Written w(DType::f32, 40'000);
  const std::string index_path = w.dir / "model.safetensors.index.json";
  nlohmann::json index = nlohmann::json::parse(read_bytes(index_path));
  ASSERT_NE(index["weight_map"][kUp], index["weight_map"]["model.embed_tokens.weight"]);
  std::string other = index["weight_map"]["model.embed_tokens.weight"];
  index["weight_map"][kUp] = other;
  std::ofstream(index_path) << index.dump();
  expect_error([&] { open_checkpoint(w.dir.str()); }, {kUp, other, "does not hold it"});
  index["weight_map"][kUp] = "model-nope.safetensors";
  std::ofstream(index_path) << index.dump();
  expect_error([&] { open_checkpoint(w.dir.str()); }, {"model-nope.safetensors"});
}

// Files that lie (docs/DESIGN.md §9, Input limits): as the reference parser,
// the tensors tile the data exactly, no key twice, and messages identify the
// problem without echoing the file.
const char* kGate = "model.layers.1.mlp.gate_proj.weight";

TEST(SafetensorsCheckpoint, OverlapsGapsAndDuplicatesAreErrors) {
  expect_damage_error(  // two tensors sharing bytes
      [](Written& w, StFile& st) {
        st.header[kGate]["data_offsets"] = st.header[kUp]["data_offsets"];
        st.write(w.file());
      },
      {kGate, kUp, "overlap"});
  expect_damage_error(  // reversed offsets inside the file
      [](Written& w, StFile& st) {
        const auto o = st.header[kUp]["data_offsets"];
        st.header[kUp]["data_offsets"] = {o[1], o[0]};
        st.write(w.file());
      },
      {kUp, "reversed data_offsets"});
  expect_damage_error(  // bytes after the last tensor
      [](Written& w, StFile& st) {
        st.data += std::string(64, '\0');
        st.write(w.file());
      },
      {"cover", "trailing data"});
  expect_damage_error(  // a tensor listed twice (the second silently won)
      [](Written& w, StFile& st) {
        std::string h = st.header.dump();
        h.insert(1, nlohmann::json(kUp).dump() + ":" + st.header[kUp].dump() + ",");
        const uint64_t n = h.size();
        write_bytes(w.file(), std::string(reinterpret_cast<const char*>(&n), 8) + h + st.data);
      },
      {kUp, "twice"});
  expect_damage_error(  // header length 0
      [](Written& w, StFile& st) {
        const uint64_t n = 0;
        write_bytes(w.file(), std::string(reinterpret_cast<const char*>(&n), 8) + st.data);
      },
      {"empty header"});
  expect_damage_error(  // a dimension beyond int32: checked before any product
      [](Written& w, StFile& st) {
        st.header[kUp]["shape"] = {uint64_t{1} << 62, 48};
        st.write(w.file());
      },
      {kUp, "4611686018427387904", "at most 2147483647"});
}

// NaN or Inf weights are found during the load copy, naming the tensor.
TEST(SafetensorsCheckpoint, NonFiniteWeightsAreFoundWhenRead) {
  for (DType dtype : {DType::f32, DType::bf16}) {
    for (DType read : {DType::f32, DType::bf16}) {
      Written w(dtype);
      StFile st = StFile::read(w.file());
      const uint64_t at =
          st.header[kUp]["data_offsets"][0].get<uint64_t>() + 40 * element_bytes(dtype);
      const uint32_t nan = 0x7fc00000u;  // bf16: its upper half, 0x7fc0
      if (dtype == DType::f32)
        std::memcpy(&st.data[at], &nan, 4);
      else
        std::memcpy(&st.data[at], reinterpret_cast<const char*>(&nan) + 2, 2);
      st.write(w.file());
      const auto ckpt = open_checkpoint(w.dir.str());
      const Shape shape = ckpt->shape(kUp);
      std::vector<float> buf(static_cast<size_t>(num_elements(shape)));
      expect_error(
          [&] {
            ckpt->read_block(kUp, {0, 0}, shape, read, buf.data());
          },
          {kUp, "NaN or Inf"});
      // Another tensor of the same file reads fine.
      EXPECT_EQ(read_tensor_f32(*ckpt, kGate).size(), 80u * 48u);
    }
  }
}

TEST(SafetensorsCheckpoint, IndexPathsStayInTheModelDirectory) {
  Written w(DType::f32, 40'000);
  const std::string index_path = w.dir / "model.safetensors.index.json";
  nlohmann::json index = nlohmann::json::parse(read_bytes(index_path));
  TempDir outside;  // a sibling directory holding a file that is not ours
  write_bytes(outside / "x.safetensors", "root:secret-bytes-of-a-file-outside");
  const std::string up = "../" + fs::path(outside.str()).filename().string() + "/x.safetensors";
  for (const std::string& shard : {up, std::string("/etc/passwd"), std::string("a/../../x")}) {
    index["weight_map"][kUp] = shard;
    std::ofstream(index_path) << index.dump();
    const std::string msg = error_of([&] { open_checkpoint(w.dir.str()); });
    EXPECT_NE(msg.find("outside the model directory"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("root:"), std::string::npos) << msg;
  }
}

// Found by the safetensors fuzz targets (fuzz/corpus/safetensors_*): a
// header or an index nested a million levels deep overflowed the stack when
// an error message dumped an entry, and 1e400 in an index was nlohmann's
// out_of_range instead of a meshlm::Error.
TEST(SafetensorsCheckpoint, HeadersAndIndexesThatNestTooDeepAreErrors) {
  const std::string deep = std::string(1'000'000, '[') + std::string(1'000'000, ']');
  const std::string json = "{\"a\": {\"dtype\": \"F32\", \"shape\": " + deep + "}}";
  const uint64_t n = json.size();
  const std::string file = std::string(reinterpret_cast<const char*>(&n), 8) + json;
  expect_error(
      [&] {
        parse_safetensors_header(reinterpret_cast<const std::byte*>(file.data()), file.size(),
                                 "deep.safetensors");
      },
      {"deep.safetensors", "more than 64 levels deep"});
  Written w(DType::f32, 40'000);
  const std::string index_path = w.dir / "model.safetensors.index.json";
  write_bytes(index_path, "{\"weight_map\": {\"a\": " + deep + "}}");
  expect_error([&] { open_checkpoint(w.dir.str()); },
               {"model.safetensors.index.json", "more than 64 levels deep"});
  write_bytes(index_path, R"({"weight_map": {}, "metadata": {"total_size": 1e400}})");
  expect_error([&] { open_checkpoint(w.dir.str()); },
               {"model.safetensors.index.json", "not valid JSON"});
  // The index alone (in memory, as the fuzz target reads it).
  expect_error([] { parse_safetensors_index(nlohmann::json::parse(R"({"weight_map": 1})"), "i.json"); },
               {"i.json", "no \"weight_map\" object"});
  EXPECT_EQ(parse_safetensors_index(nlohmann::json::parse(R"({"weight_map": {"t": "a/b.safetensors"}})"),
                                    "i.json")
                .at("t"),
            "a/b.safetensors");
}

}  // namespace
}  // namespace meshlm
