// GET /: one self-contained HTML page (no framework, no external files): the
// mesh (dp x mp devices, each device's memory by category), live KV block use
// and throughput (polling GET /v1/mesh), and a prompt box that streams a
// completion from POST /v1/completions.
#pragma once

#include <string>

namespace meshlm {

const std::string& web_page();

}  // namespace meshlm
