#include "sharding/plan.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>

#include "sharding/checked.h"
#include "sharding/error.h"
#include "sharding/json_field.h"

namespace meshlm {

namespace {

using ojson = nlohmann::ordered_json;

PartitionSpec spec_field(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("spec")) MESHLM_FAIL(where << " has no field 'spec'");
  try {
    return PartitionSpec::from_json(j.at("spec"));
  } catch (const Error& e) {
    MESHLM_FAIL(where << ": " << e.what());
  }
}

DType dtype_field(const nlohmann::json& j, const char* key, const std::string& where) {
  const auto s = json_field<std::string>(j, key, where);
  try {
    return parse_dtype(s);
  } catch (const Error& e) {
    MESHLM_FAIL(where << ": field '" << key << "': " << e.what());
  }
}

// "model.layers.10.x" after "model.layers.2.x": numbers compare by value.
bool natural_less(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (std::isdigit(static_cast<unsigned char>(a[i])) &&
        std::isdigit(static_cast<unsigned char>(b[j]))) {
      size_t ie = i, je = j;
      while (ie < a.size() && std::isdigit(static_cast<unsigned char>(a[ie]))) ++ie;
      while (je < b.size() && std::isdigit(static_cast<unsigned char>(b[je]))) ++je;
      const std::string na = a.substr(i, ie - i), nb = b.substr(j, je - j);
      if (na.size() != nb.size()) return na.size() < nb.size();
      if (na != nb) return na < nb;
      i = ie;
      j = je;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

ojson to_ordered(const nlohmann::json& j) {
  return ojson::parse(j.dump());
}

ojson plan_to_ordered(const Plan& p) {
  ojson o;
  o["format"] = "meshlm-plan";
  o["version"] = 1;
  o["model"] = {{"name", p.model_name}, {"config", to_ordered(p.model_config)}};
  ojson axis_names = ojson::array(), shape = ojson::array();
  for (auto& [name, size] : p.mesh.axes()) {
    axis_names.push_back(name);
    shape.push_back(size);
  }
  o["mesh"] = {{"shape", shape}, {"axis_names", axis_names}};
  o["rules"] = ojson::array();
  for (auto& r : p.rules.rules())
    o["rules"].push_back({{"pattern", r.pattern}, {"spec", to_ordered(r.spec.to_json())}});
  o["tensors"] = ojson::object();
  for (auto& t : p.tensors)
    o["tensors"][t.name] = {
        {"shape", t.shape}, {"dtype", dtype_name(t.dtype)}, {"spec", to_ordered(t.spec.to_json())}};
  o["kv_cache"] = {{"spec", to_ordered(p.kv_cache_spec.to_json())},
                   {"dtype", dtype_name(p.kv_dtype)}};
  o["activations"] = {{"spec", to_ordered(p.activation_spec.to_json())}};
  o["dtypes"] = {{"weights", dtype_name(p.weight_dtype)},
                 {"kv_cache", dtype_name(p.kv_dtype)},
                 {"compute", dtype_name(p.compute_dtype)}};
  o["seq_len"] = p.seq_len;
  o["batch"] = p.batch;
  o["prefill_chunk"] = p.prefill_chunk;
  if (p.device) o["device"] = to_ordered(p.device->to_json());
  o["predicted_bytes_per_device"] = ojson::object();
  for (auto& [k, v] : p.predicted_bytes) o["predicted_bytes_per_device"][k] = v;
  return o;
}

// Dimension sizes a spec is checked against, or -1 where the plan does not say.
int64_t config_int(const nlohmann::json& cfg, const char* key) {
  if (cfg.is_object() && cfg.contains(key) && cfg.at(key).is_number_integer())
    return cfg.at(key).get<int64_t>();
  return -1;
}

void validate_buffer(const AbstractMesh& mesh, const PartitionSpec& spec, const Shape& shape,
                     const std::string& what) {
  spec.validate(mesh, what);
  if (spec.size() != shape.size())
    MESHLM_FAIL("spec " << spec.to_string() << " of " << what << " has " << spec.size()
                        << " entries but " << what << " has " << shape.size() << " dimensions");
  bool known = true;
  for (auto d : shape) known = known && d > 0;
  if (known) NamedSharding(mesh, spec).validate(shape, what + " " + shape_to_string(shape));
}

}  // namespace

const TensorPlan* Plan::find(const std::string& name) const {
  for (auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

PartitionSpec Plan::spec_for(const std::string& name) const {
  if (const TensorPlan* t = find(name)) return t->spec;
  if (auto s = rules.match(name)) return *s;
  MESHLM_FAIL("the plan has no spec for tensor '"
              << name << "': it is not listed under \"tensors\" and no rule matches it ("
              << rules.rules().size() << " rules)");
}

void Plan::validate() const {
  if (mesh.num_axes() == 0) MESHLM_FAIL("the plan has no mesh");
  for (size_t i = 0; i < rules.rules().size(); ++i) {
    const auto& r = rules.rules()[i];
    r.spec.validate(mesh, "rule " + std::to_string(i) + " ('" + r.pattern + "')");
  }
  std::set<std::string> seen;
  for (auto& t : tensors) {
    if (!seen.insert(t.name).second) MESHLM_FAIL("tensor '" << t.name << "' is listed twice");
    for (auto d : t.shape)
      if (d < 1 || d > kMaxDimension)
        MESHLM_FAIL("tensor '" << t.name << "' has shape " << shape_to_string(t.shape)
                               << " (every dimension must be 1.." << kMaxDimension << ")");
    num_elements(t.shape, "tensor '" + t.name + "'");
    t.spec.validate(mesh, t.name);
    NamedSharding(mesh, t.spec).validate(t.shape, t.name);
  }
  check_range(seq_len, kMaxDimension, "the plan's seq_len");
  check_range(batch, kMaxDimension, "the plan's batch");
  if (prefill_chunk < 1 || prefill_chunk > seq_len)
    MESHLM_FAIL("the plan's prefill_chunk is " << prefill_chunk << " (expected 1.." << seq_len
                                               << ", the seq_len)");
  // KV cache [B, K, S, hd] and activations [B, T, D], sized from the model config.
  const int64_t heads = config_int(model_config, "num_attention_heads");
  int64_t kv_heads = config_int(model_config, "num_key_value_heads");
  if (kv_heads < 0) kv_heads = heads;
  const int64_t hidden = config_int(model_config, "hidden_size");
  int64_t head_dim = config_int(model_config, "head_dim");
  if (head_dim < 0 && hidden > 0 && heads > 0) head_dim = hidden / heads;
  validate_buffer(mesh, kv_cache_spec, {batch, kv_heads, seq_len, head_dim}, "the KV cache");
  validate_buffer(mesh, activation_spec, {batch, prefill_chunk, hidden}, "the activations");
}

nlohmann::json Plan::to_json() const {
  return nlohmann::json::parse(plan_to_ordered(*this).dump());
}

Plan Plan::from_json(const nlohmann::json& j) {
  const std::string where = "plan";
  if (!j.is_object()) MESHLM_FAIL("a plan must be a JSON object");
  if (j.contains("format") && j.at("format") != "meshlm-plan")
    MESHLM_FAIL("not a meshlm plan: format is " << j.at("format").dump()
                                                << " (expected \"meshlm-plan\")");
  if (j.contains("version") && j.at("version") != 1)
    MESHLM_FAIL("plan version " << j.at("version").dump() << " is not supported (expected 1)");
  Plan p;
  if (j.contains("model")) {
    const auto& m = j.at("model");
    if (!m.is_object()) MESHLM_FAIL("plan: 'model' must be an object {name, config}");
    p.model_name = json_field_or<std::string>(m, "name", "", "plan model");
    if (m.contains("config")) p.model_config = m.at("config");
  }

  const auto& m = j.contains("mesh") ? j.at("mesh") : nlohmann::json();
  const auto shape = json_field<std::vector<int>>(m, "shape", "plan mesh");
  const auto names = json_field<std::vector<std::string>>(m, "axis_names", "plan mesh");
  if (shape.size() != names.size())
    MESHLM_FAIL("plan mesh: shape has " << shape.size() << " sizes but axis_names has "
                                        << names.size() << " names");
  std::vector<std::pair<std::string, int>> axes;
  for (size_t i = 0; i < shape.size(); ++i) axes.emplace_back(names[i], shape[i]);
  p.mesh = AbstractMesh(std::move(axes));

  if (j.contains("rules")) {
    if (!j.at("rules").is_array()) MESHLM_FAIL("plan: 'rules' must be an array");
    size_t i = 0;
    for (auto& r : j.at("rules")) {
      const std::string rw = "plan rule " + std::to_string(i++);
      p.rules.add(json_field<std::string>(r, "pattern", rw), spec_field(r, rw));
    }
  }

  if (j.contains("dtypes")) {
    const auto& d = j.at("dtypes");
    if (!d.is_object()) MESHLM_FAIL("plan: 'dtypes' must be an object {weights, kv_cache, compute}");
    if (d.contains("weights")) p.weight_dtype = dtype_field(d, "weights", "plan dtypes");
    if (d.contains("kv_cache")) p.kv_dtype = dtype_field(d, "kv_cache", "plan dtypes");
    if (d.contains("compute")) p.compute_dtype = dtype_field(d, "compute", "plan dtypes");
  }
  if (j.contains("tensors")) {
    const auto& ts = j.at("tensors");
    if (!ts.is_object())
      MESHLM_FAIL("plan: 'tensors' must be an object name -> {shape, dtype, spec}");
    for (auto it = ts.begin(); it != ts.end(); ++it) {
      const std::string tw = "plan tensor '" + it.key() + "'";
      TensorPlan t;
      t.name = it.key();
      t.shape = json_field<Shape>(it.value(), "shape", tw);
      t.dtype =
          it.value().contains("dtype") ? dtype_field(it.value(), "dtype", tw) : p.weight_dtype;
      t.spec = spec_field(it.value(), tw);
      p.tensors.push_back(std::move(t));
    }
    std::sort(p.tensors.begin(), p.tensors.end(), [](const TensorPlan& a, const TensorPlan& b) {
      return natural_less(a.name, b.name);
    });
  }

  if (j.contains("kv_cache")) {
    const auto& kv = j.at("kv_cache");
    p.kv_cache_spec = spec_field(kv, "plan kv_cache");
    if (kv.contains("dtype")) p.kv_dtype = dtype_field(kv, "dtype", "plan kv_cache");
  }
  if (j.contains("activations"))
    p.activation_spec = spec_field(j.at("activations"), "plan activations");
  p.seq_len = json_field<int64_t>(j, "seq_len", where);
  p.batch = json_field<int64_t>(j, "batch", where);
  p.prefill_chunk =
      j.contains("prefill_chunk") ? json_field<int64_t>(j, "prefill_chunk", where) : 0;
  if (p.prefill_chunk == 0) p.prefill_chunk = p.seq_len;
  if (j.contains("device") && !j.at("device").is_null())
    p.device = DeviceSpec::from_json(j.at("device"));
  if (j.contains("predicted_bytes_per_device"))
    p.predicted_bytes =
        json_field<std::map<std::string, uint64_t>>(j, "predicted_bytes_per_device", where);
  p.validate();
  return p;
}

Plan Plan::load(const std::string& path) {
  check_regular_file(path, "plan file");
  std::ifstream in(path);
  if (!in) MESHLM_FAIL("cannot open plan file '" << path << "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), path);
}

Plan Plan::parse(std::string_view text, const std::string& path) {
  const nlohmann::json j = parse_json(text, "plan file '" + path + "'");
  const ojson o = ojson::parse(text);  // the same, in the file's order
  Plan p;
  try {
    p = from_json(j);
    // Keep the file's tensor order (nlohmann::json sorts object keys).
    if (o.contains("tensors")) {
      std::vector<TensorPlan> ordered;
      for (auto it = o.at("tensors").begin(); it != o.at("tensors").end(); ++it)
        ordered.push_back(*p.find(it.key()));
      p.tensors = std::move(ordered);
    }
  } catch (const Error& e) {
    MESHLM_FAIL("plan file '" << path << "': " << e.what());
  }
  return p;
}

namespace {

// Compact where it fits in a line, else one member per line; rules and tensors
// always get one compact line each, so a plan of a 700-tensor model stays
// readable and easy to edit by hand.
void write_pretty(std::ostream& out, const ojson& v, int indent, bool children_compact) {
  const std::string compact = v.dump();
  if ((!v.is_structured() || v.empty() || compact.size() + indent <= 100) && !children_compact) {
    out << compact;
    return;
  }
  const bool arr = v.is_array();
  const std::string pad(static_cast<size_t>(indent + 2), ' ');
  out << (arr ? "[\n" : "{\n");
  size_t i = 0;
  for (auto e = v.begin(); e != v.end(); ++e, ++i) {
    out << pad;
    if (!arr) out << ojson(e.key()).dump() << ": ";
    if (children_compact)
      out << e.value().dump();
    else
      write_pretty(out, e.value(), indent + 2, false);
    out << (i + 1 < v.size() ? ",\n" : "\n");
  }
  out << std::string(static_cast<size_t>(indent), ' ') << (arr ? "]" : "}");
}

}  // namespace

void Plan::save(const std::string& path) const {
  validate();
  const ojson o = plan_to_ordered(*this);
  std::ostringstream out;
  out << "{\n";
  size_t k = 0;
  for (auto it = o.begin(); it != o.end(); ++it, ++k) {
    out << "  " << ojson(it.key()).dump() << ": ";
    const bool per_line = (it.key() == "rules" || it.key() == "tensors") && !it.value().empty();
    write_pretty(out, it.value(), 2, per_line);
    out << (k + 1 < o.size() ? ",\n" : "\n");
  }
  out << "}\n";
  std::ofstream f(path);
  if (!f) MESHLM_FAIL("cannot write plan file '" << path << "'");
  f << out.str();
  if (!f) MESHLM_FAIL("error writing plan file '" << path << "'");
}

}  // namespace meshlm
