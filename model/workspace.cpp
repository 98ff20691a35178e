#include "model/workspace.h"

#include <map>
#include <string>

#include "sharding/error.h"

namespace meshlm {

Workspace::Workspace(DeviceMemory& memory, const ModelConfig& config, const LocalDims& local,
                     const ActivationShape& shape, int mp)
    : rows(shape.rows) {
  const std::map<std::string, float**> slots = {
      {"x", &x},       {"xb", &xb}, {"partial", &partial}, {"q", &q},
      {"k", &k},       {"v", &v},   {"attn", &attn},       {"scores", &scores},
      {"gate", &gate}, {"up", &up}, {"logits", &logits},   {"logits_gathered", &logits_gathered}};
  for (const BufferSpec& b : activation_buffers(config, local, shape)) {
    auto it = slots.find(b.name);
    MESHLM_CHECK(it != slots.end(), "activation buffer '" << b.name << "' has no runtime use");
    MESHLM_CHECK(b.dtype == DType::f32, "activation buffer '" << b.name << "' is not fp32");
    buffers_.emplace_back(memory, MemCategory::activations, static_cast<size_t>(b.elements),
                          "activation " + b.name);
    *it->second = buffers_.back().data();
    bytes += b.bytes();
  }
  if (mp > 1)
    comm_ =
        DeviceBuffer<float>(memory, MemCategory::comm,
                            static_cast<size_t>(rows * config.hidden_size), "all-reduce staging");
  reduced = mp > 1 ? comm_.data() : partial;
  MESHLM_CHECK(x && xb && partial && q && k && v && attn && scores && gate && up && logits,
               "the activation list lacks a buffer the forward pass needs");
}

}  // namespace meshlm
