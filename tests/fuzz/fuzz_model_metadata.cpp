// Fuzz target: a ResNet-50 model file's metadata as resnet50_info reads it
// (stride placement, conv biases, BN eps, class names, input channels, mean,
// std, scale). The input is the metadata itself, one "key=value" per line,
// so the fuzzer spends its time on the values rather than on the file format
// (which fuzz_safetensors covers).
#include "io/resnet50_import.h"
#include "io/safetensors.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace skinmtl;
  TensorFile file;
  const std::string text(reinterpret_cast<const char*>(data), size);
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    const size_t eq = line.find('=');
    if (eq != std::string::npos) file.metadata[line.substr(0, eq)] = line.substr(eq + 1);
    start = end + 1;
  }
  fuzz::expect_parse_or_error([&] { resnet50_info(file); });
  return 0;
}
