// Tokenizer::encode (model/io/tokenizer.h) on arbitrary text with the real
// stories260K tokenizer (tests/data/stories260K-tokenizer.bin, 512 tokens,
// every byte token present): the ids of the plain reference encoder
// (reference_encode.h), every id in range, and decoding gives the text back
// byte for byte (the pieces spell the dummy-prefix space and the text;
// decode drops that space).
#include <string>

#include "fuzz/fuzz_util.h"
#include "fuzz/reference_encode.h"
#include "model/io/tokenizer.h"
#include "sharding/error.h"

#ifndef MESHLM_TESTDATA_DIR
#error "MESHLM_TESTDATA_DIR must name tests/data"
#endif

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshlm;
  static const Tokenizer t =
      Tokenizer::load(std::string(MESHLM_TESTDATA_DIR) + "/stories260K-tokenizer.bin", 512);
  static const auto ids_of = fuzz::piece_ids(t);
  const std::string_view text = fuzz::text(data, size);
  const std::vector<int32_t> ids = t.encode(text, /*bos=*/true, /*eos=*/false);
  FUZZ_ASSERT(!ids.empty() && ids[0] == Tokenizer::kBos);
  FUZZ_ASSERT(ids.size() <= text.size() + 2);
  for (int32_t id : ids) FUZZ_ASSERT(id >= 0 && id < t.vocab_size());
  FUZZ_ASSERT(t.decode(ids) == text);
  if (text.size() <= 256) {  // the reference is quadratic: short texts
    std::vector<int32_t> want;
    FUZZ_ASSERT(fuzz::reference_encode(t, ids_of, text, want));
    FUZZ_ASSERT(ids == want);
  }
  return 0;
}
