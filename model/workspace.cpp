#include "model/workspace.h"

#include <map>
#include <string>

#include "sharding/error.h"

namespace meshlm {

Workspace::Workspace(DeviceMemory& memory, const ModelConfig& config, const LocalDims& local,
                     const ActivationShape& shape, int mp)
    : rows(shape.rows) {
  const std::map<std::string, float**> slots = {{"x", &x},
                                                {"xb", &xb},
                                                {"partial", &partial},
                                                {"q", &q},
                                                {"k", &k},
                                                {"v", &v},
                                                {"attn", &attn},
                                                {"scores", &scores},
                                                {"gate", &gate},
                                                {"up", &up},
                                                {"logits", &logits},
                                                {"logits_gathered", &logits_gathered},
                                                {"router", &router},
                                                {"topk_weights", &topk_weights},
                                                {"expert_weights", &expert_weights},
                                                {"expert_in", &expert_in},
                                                {"expert_out", &expert_out},
                                                {"sinks", &sinks}};
  const std::map<std::string, int32_t**> int_slots = {{"topk_ids", &topk_ids},
                                                      {"expert_rows", &expert_rows}};
  for (const BufferSpec& b : activation_buffers(config, local, shape)) {
    auto f = slots.find(b.name);
    auto i = int_slots.find(b.name);
    MESHLM_CHECK(f != slots.end() || i != int_slots.end(),
                 "activation buffer '" << b.name << "' has no runtime use");
    MESHLM_CHECK(b.dtype == (f != slots.end() ? DType::f32 : DType::i32),
                 "activation buffer '" << b.name << "' has dtype " << dtype_name(b.dtype));
    buffers_.emplace_back(memory, MemCategory::activations, static_cast<size_t>(b.bytes()),
                          "activation " + b.name);
    if (f != slots.end())
      *f->second = reinterpret_cast<float*>(buffers_.back().data());
    else
      *i->second = reinterpret_cast<int32_t*>(buffers_.back().data());
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
