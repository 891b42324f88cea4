// Fuzz target: CSV text as every CSV reader of the project meets it: the
// generic reader (UTF-8 checks, quoting, line ends) and the score / label
// files of `skinmtl metrics`.
#include "io/csv.h"
#include "io/score_csv.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace skinmtl;
  const std::string path = fuzz::write_input(data, size, ".csv");
  fuzz::expect_parse_or_error([&] { read_csv(path); });
  fuzz::expect_parse_or_error([&] { read_score_csv(path); });
  fuzz::expect_parse_or_error([&] {
    const ScoreTable labels = read_label_csv(path);
    check_one_hot(labels);
  });
  return 0;
}
