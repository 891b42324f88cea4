// Fuzz target: a model file (.safetensors) as load_safetensors reads it:
// the 8-byte header length, the JSON header, dtypes, shapes, offsets, the
// metadata, and the tensor bytes.
#include "io/safetensors.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace skinmtl;
  const std::string path = fuzz::write_input(data, size, ".safetensors");
  fuzz::expect_parse_or_error([&] { load_safetensors(path); });
  SafetensorsLoadOptions skip;
  skip.skip_unsupported = true;
  fuzz::expect_parse_or_error([&] { load_safetensors(path, skip); });
  return 0;
}
