// framework/random.h: SkipRandomInitGuard.
#include "framework/random.h"

#include <cmath>

#include "tests/test_util.h"

namespace skinmtl {
namespace {

TEST(Random, SkipRandomInitGuardDrawsNothing) {
  Rng a(7), b(7);
  {
    SkipRandomInitGuard no_init;
    Tensor n = randn({3, 4}, a, 2.0);
    Tensor u = rand_uniform({5}, a, -1.0, 1.0, DType::F64);
    EXPECT_EQ(n.shape(), (Shape{3, 4}));
    EXPECT_EQ(u.dtype(), DType::F64);
    // Nothing was written: the test binary poisons new tensors with NaN.
    for (double v : n.to_vector()) EXPECT_TRUE(std::isnan(v));
    for (double v : u.to_vector()) EXPECT_TRUE(std::isnan(v));
    {
      SkipRandomInitGuard nested;
    }
    EXPECT_EQ(randn({1}, a).shape(), (Shape{1}));  // still inside the outer guard
  }
  // The guard left the generator where it was: a draws what b draws.
  EXPECT_EQ(randn({4}, a).to_vector(), randn({4}, b).to_vector());
  EXPECT_NE(randn({4}, a).to_vector(), std::vector<double>(4, 0.0));
}

}  // namespace
}  // namespace skinmtl
