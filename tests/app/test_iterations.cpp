// app/iterations.h: an iteration budget shared among training phases.
#include <numeric>

#include "app/iterations.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

int64_t total(const std::vector<int64_t>& v) { return std::accumulate(v.begin(), v.end(), int64_t{0}); }

TEST(SplitIterations, KeepsTheProportionsAndAddsUpToN) {
  const std::vector<int64_t> song = {40000, 80000, 40000};
  EXPECT_EQ(split_iterations(160000, song), song);
  EXPECT_EQ(split_iterations(8, song), (std::vector<int64_t>{2, 4, 2}));
  EXPECT_EQ(split_iterations(4000, song), (std::vector<int64_t>{1000, 2000, 1000}));
  // Not divisible: the shares still add up to N.
  for (int64_t n : {3, 5, 7, 10, 999, 2001}) {
    const std::vector<int64_t> s = split_iterations(n, song);
    EXPECT_EQ(total(s), n) << n;
    for (int64_t v : s) EXPECT_GE(v, 1) << n;
  }
  EXPECT_EQ(split_iterations(3, song), (std::vector<int64_t>{1, 1, 1}));
  // A single count is N itself; a phase of 0 stays 0; a tiny phase keeps one.
  EXPECT_EQ(split_iterations(7, {123}), (std::vector<int64_t>{7}));
  EXPECT_EQ(split_iterations(6, {1, 0, 2}), (std::vector<int64_t>{2, 0, 4}));
  EXPECT_EQ(split_iterations(10, {1, 1000}), (std::vector<int64_t>{1, 9}));
}

TEST(SplitIterations, BadInputIsAnError) {
  EXPECT_THROW(split_iterations(0, {1, 2}), Error);
  EXPECT_THROW(split_iterations(5, {0, 0}), Error);
  EXPECT_THROW(split_iterations(5, {-1, 3}), Error);
  // Fewer iterations than phases: said so, not a sum that misses N.
  try {
    split_iterations(2, {40000, 80000, 40000});
    FAIL() << "2 iterations split among 3 phases";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--iters 2 is fewer than the 3 phases"), std::string::npos) << e.what();
  }
  EXPECT_EQ(split_iterations(2, {5, 0, 5}), (std::vector<int64_t>{1, 0, 1}));
}

}  // namespace
}  // namespace skinmtl
