// A llama2.c tokenizer.bin (model/io/tokenizer.h, Tokenizer::parse = load
// on the file's bytes). The input: a 2-byte little-endian vocabulary size
// (the model's, which the file must match), then the file. A tokenizer that
// loads then encodes a short text (the file's own last bytes), which must
// give the plain reference encoder's ids (reference_encode.h), ids in range,
// and decode; or a clear error when a byte has no token.
#include <optional>
#include <string>

#include "fuzz/fuzz_util.h"
#include "fuzz/reference_encode.h"
#include "model/io/tokenizer.h"
#include "sharding/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshlm;
  if (size < 2) return 0;
  const int64_t vocab = data[0] | (data[1] << 8);
  const std::string_view file = fuzz::text(data + 2, size - 2);
  std::optional<Tokenizer> t;
  try {
    t = Tokenizer::parse(file, vocab, "fuzz-tokenizer.bin");
  } catch (const Error&) {
    return 0;
  }
  FUZZ_ASSERT(t->vocab_size() == vocab);
  const std::string_view sample = file.substr(file.size() > 16 ? file.size() - 16 : 0);
  std::vector<int32_t> want;
  const bool encodable = fuzz::reference_encode(*t, fuzz::piece_ids(*t), sample, want);
  try {
    const std::vector<int32_t> ids = t->encode(sample, /*bos=*/true, /*eos=*/true);
    FUZZ_ASSERT(encodable);
    want.push_back(Tokenizer::kEos);
    FUZZ_ASSERT(ids == want);
    for (int32_t id : ids) FUZZ_ASSERT(id >= 0 && id < t->vocab_size());
    (void)t->decode(ids);
  } catch (const Error&) {
    FUZZ_ASSERT(!encodable);
  }
  return 0;
}
