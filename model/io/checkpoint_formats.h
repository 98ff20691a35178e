// The format-specific openers behind open_checkpoint() (checkpoint.h).
#pragma once

#include <memory>
#include <string>

#include "model/io/checkpoint.h"

namespace meshlm {

// A llama2.c `.bin` (docs/DESIGN.md §5); the config comes from its header.
std::unique_ptr<Checkpoint> open_llama2c_checkpoint(const std::string& path);

// A Hugging Face model: a directory (config.json + model.safetensors or
// model.safetensors.index.json), an index file, or one .safetensors file with
// config.json beside it.
std::unique_ptr<Checkpoint> open_safetensors_checkpoint(const std::string& path);

}  // namespace meshlm
