// Learning-rate schedules (framework/lr_schedule.h): StepLR's values, and
// ReduceOnPlateau's patience, relative threshold, cooldown, min_lr and state.
#include <cmath>
#include <limits>

#include "framework/lr_schedule.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

TEST(StepLR, Values) {
  StepLR s(1e-3, 100, 0.1);
  EXPECT_DOUBLE_EQ(s.lr(0), 1e-3);
  EXPECT_DOUBLE_EQ(s.lr(99), 1e-3);
  EXPECT_DOUBLE_EQ(s.lr(100), 1e-4);
  EXPECT_DOUBLE_EQ(s.lr(199), 1e-4);
  EXPECT_DOUBLE_EQ(s.lr(200), 1e-5);
  EXPECT_DOUBLE_EQ(s.lr(250), 1e-5);
  StepLR half(0.8, 3, 0.5);
  const double want[] = {0.8, 0.8, 0.8, 0.4, 0.4, 0.4, 0.2};
  for (int i = 0; i < 7; ++i) EXPECT_DOUBLE_EQ(half.lr(i), want[i]) << "iteration " << i;
  EXPECT_THROW(StepLR(1e-3, 0, 0.1), Error);
  EXPECT_THROW(StepLR(-1e-3, 10, 0.1), Error);
  EXPECT_THROW(StepLR(1e-3, 10, 0.0), Error);
  EXPECT_THROW(s.lr(-1), Error);
}

TEST(WarmupCosineLR, RampsThenFollowsAHalfCosineToTheFloor) {
  WarmupCosineLR s(0.01, 4, 14, 0.1);
  // Warm-up: (i + 1) / 4 of the base.
  EXPECT_DOUBLE_EQ(s.lr(0), 0.0025);
  EXPECT_DOUBLE_EQ(s.lr(1), 0.005);
  EXPECT_DOUBLE_EQ(s.lr(3), 0.01);
  // Cosine over the 10 updates 4..14: the top, the middle, the floor.
  EXPECT_DOUBLE_EQ(s.lr(4), 0.01);
  EXPECT_NEAR(s.lr(9), 0.01 * (0.1 + 0.9 * 0.5), 1e-15);
  EXPECT_NEAR(s.lr(6), 0.01 * (0.1 + 0.9 * (1 + std::cos(M_PI * 0.2)) / 2), 1e-15);
  EXPECT_NEAR(s.lr(14), 0.001, 1e-15);
  EXPECT_NEAR(s.lr(1000), 0.001, 1e-15);  // past the end: stays at the floor
  // Monotone after the warm-up.
  for (int i = 4; i < 20; ++i) EXPECT_LE(s.lr(i + 1), s.lr(i)) << "iteration " << i;
  // No warm-up: the first update is at the base lr.
  EXPECT_DOUBLE_EQ(WarmupCosineLR(0.5, 0, 10).lr(0), 0.5);
  EXPECT_NEAR(WarmupCosineLR(0.5, 0, 10).lr(10), 0.0, 1e-15);
  EXPECT_THROW(WarmupCosineLR(0.01, 10, 10), Error);
  EXPECT_THROW(WarmupCosineLR(0.01, -1, 10), Error);
  EXPECT_THROW(WarmupCosineLR(0.01, 0, 10, 1.5), Error);
  EXPECT_THROW(s.lr(-1), Error);
}

PlateauOptions opts(int patience, double threshold = 0, int cooldown = 0, double min_lr = 0) {
  PlateauOptions o;
  o.factor = 0.1;
  o.patience = patience;
  o.threshold = threshold;
  o.cooldown = cooldown;
  o.min_lr = min_lr;
  return o;
}

TEST(ReduceOnPlateau, ReducesAfterPatienceBadEpochs) {
  ReduceOnPlateau r(1e-3, opts(2));
  EXPECT_DOUBLE_EQ(r.update(1.0), 1e-3);  // first value: an improvement on +inf
  EXPECT_EQ(r.best(), 1.0);
  EXPECT_DOUBLE_EQ(r.update(0.9), 1e-3);  // better
  EXPECT_EQ(r.num_bad_epochs(), 0);
  EXPECT_DOUBLE_EQ(r.update(0.95), 1e-3);  // bad 1: tolerated
  EXPECT_DOUBLE_EQ(r.update(0.9), 1e-3);   // bad 2 (equal is not better): tolerated
  EXPECT_EQ(r.num_bad_epochs(), 2);
  EXPECT_DOUBLE_EQ(r.update(0.91), 1e-4);  // bad 3 > patience: reduce
  EXPECT_EQ(r.num_bad_epochs(), 0);
  EXPECT_DOUBLE_EQ(r.lr(), 1e-4);
  EXPECT_EQ(r.best(), 0.9);  // the best survives a reduction
  // An improvement resets the count.
  r.update(0.95);
  r.update(0.95);
  EXPECT_DOUBLE_EQ(r.update(0.5), 1e-4);
  EXPECT_EQ(r.num_bad_epochs(), 0);
  r.update(0.6);
  r.update(0.6);
  EXPECT_DOUBLE_EQ(r.update(0.6), 1e-5);
}

TEST(ReduceOnPlateau, PatienceZeroReducesAtEveryBadEpoch) {
  ReduceOnPlateau r(1.0, opts(0));
  r.update(1.0);
  EXPECT_DOUBLE_EQ(r.update(2.0), 0.1);
  EXPECT_DOUBLE_EQ(r.update(2.0), 0.01);
  EXPECT_DOUBLE_EQ(r.update(0.5), 0.01);
}

TEST(ReduceOnPlateau, RelativeThreshold) {
  // threshold 0.01: an improvement must beat best by 1% of |best|.
  ReduceOnPlateau r(1.0, opts(1, 0.01));
  r.update(100.0);
  r.update(99.5);  // only 0.5% better: bad 1, best stays 100
  EXPECT_EQ(r.best(), 100.0);
  EXPECT_EQ(r.num_bad_epochs(), 1);
  r.update(98.9);  // 1.1% better: an improvement
  EXPECT_EQ(r.best(), 98.9);
  EXPECT_EQ(r.num_bad_epochs(), 0);
  r.update(98.5);  // < 1% of 98.9: bad 1
  EXPECT_DOUBLE_EQ(r.update(98.0), 0.1);  // 0.9%: bad 2 > patience 1: reduce
  // Negative metrics: best - threshold * |best|, so -101 beats -100 with 1%.
  ReduceOnPlateau neg(1.0, opts(0, 0.01));
  neg.update(-100.0);
  EXPECT_DOUBLE_EQ(neg.update(-100.5), 0.1);  // only 0.5% better: bad
  EXPECT_DOUBLE_EQ(neg.update(-102.0), 0.1);  // 2% better than -100: improvement
  EXPECT_EQ(neg.best(), -102.0);
}

TEST(ReduceOnPlateau, Cooldown) {
  // patience 0, cooldown 2: after a reduction, two updates never count as bad.
  ReduceOnPlateau r(1.0, opts(0, 0, 2));
  r.update(1.0);
  EXPECT_DOUBLE_EQ(r.update(2.0), 0.1);  // reduce, cooldown starts
  EXPECT_EQ(r.cooldown_counter(), 2);
  EXPECT_TRUE(r.in_cooldown());
  EXPECT_DOUBLE_EQ(r.update(2.0), 0.1);  // cooldown 2 -> 1, not counted
  EXPECT_EQ(r.num_bad_epochs(), 0);
  EXPECT_DOUBLE_EQ(r.update(2.0), 0.1);  // cooldown 1 -> 0, not counted
  EXPECT_FALSE(r.in_cooldown());
  EXPECT_DOUBLE_EQ(r.update(2.0), 0.01);  // counted again: reduce
}

TEST(ReduceOnPlateau, MinLr) {
  ReduceOnPlateau r(1e-3, opts(0, 0, 0, 5e-5));
  r.update(1.0);
  EXPECT_DOUBLE_EQ(r.update(1.0), 1e-4);
  EXPECT_DOUBLE_EQ(r.update(1.0), 5e-5);  // 1e-5 would be below min_lr
  EXPECT_DOUBLE_EQ(r.update(1.0), 5e-5);
}

TEST(ReduceOnPlateau, NaNIsABadEpoch) {
  ReduceOnPlateau r(1.0, opts(1));
  r.update(1.0);
  r.update(std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(r.num_bad_epochs(), 1);
  EXPECT_EQ(r.best(), 1.0);
}

TEST(ReduceOnPlateau, StateRoundTrip) {
  ReduceOnPlateau a(1.0, opts(2, 0, 3));
  for (double m : {1.0, 0.5, 0.6, 0.7, 0.8, 0.9}) a.update(m);  // reduced once, in cooldown
  PlateauState s = a.state();
  EXPECT_DOUBLE_EQ(s.lr, 0.1);
  EXPECT_EQ(s.best, 0.5);
  EXPECT_EQ(s.cooldown_counter, 2);
  ReduceOnPlateau b(1.0, opts(2, 0, 3));
  b.load_state(s);
  for (double m : {0.9, 0.9, 0.9, 0.9, 0.4, 0.9}) EXPECT_EQ(a.update(m), b.update(m));
  EXPECT_EQ(a.num_bad_epochs(), b.num_bad_epochs());
  EXPECT_EQ(a.best(), b.best());
  PlateauState bad = s;
  bad.num_bad_epochs = -1;
  EXPECT_THROW(b.load_state(bad), Error);
}

TEST(ReduceOnPlateau, BadOptions) {
  EXPECT_THROW(ReduceOnPlateau(1.0, opts(-1)), Error);
  PlateauOptions o;
  o.factor = 1.0;
  EXPECT_THROW(ReduceOnPlateau(1.0, o), Error);
  o = PlateauOptions{};
  o.cooldown = -1;
  EXPECT_THROW(ReduceOnPlateau(1.0, o), Error);
  EXPECT_THROW(ReduceOnPlateau(-1.0), Error);
}

}  // namespace
}  // namespace skinmtl
