// metrics/metrics: compare_map, the paired comparison of two models' mAPs on
// the same images (the paired bootstrap's interval and p). Checked by its
// symmetries (identical models, swapped models), against map_class and
// map_image on the whole set, on a model that is clearly better, and by
// simulation: under the null hypothesis its p is uniform, and the bootstrap
// interval's width matches the spread of the difference over fresh samples.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <random>
#include <vector>

#include "base/check.h"
#include "metrics/metrics.h"

namespace skinmtl {
namespace {

// n images with one true class each out of p; the true class of image i is i mod p.
LabelMatrix one_label_each(int n, int p) {
  LabelMatrix y((size_t)n, std::vector<int>((size_t)p, 0));
  for (int i = 0; i < n; ++i) y[(size_t)i][(size_t)(i % p)] = 1;
  return y;
}

// Scores = signal x label + N(0, 1) noise.
ScoreMatrix noisy_scores(const LabelMatrix& y, double signal, std::mt19937& rng) {
  std::normal_distribution<double> normal(0.0, 1.0);
  ScoreMatrix s(y.size(), std::vector<double>(y[0].size()));
  for (size_t i = 0; i < y.size(); ++i)
    for (size_t c = 0; c < y[i].size(); ++c) s[i][c] = signal * y[i][c] + normal(rng);
  return s;
}

TEST(CompareMap, IdenticalModelsDifferByNothing) {
  std::mt19937 rng(1);
  const LabelMatrix y = one_label_each(60, 4);
  const ScoreMatrix s = noisy_scores(y, 1.0, rng);
  const MapComparison c = compare_map(s, s, y, 200);
  for (const std::optional<MapDifference>* d : {&c.map_class, &c.map_image}) {
    ASSERT_TRUE(d->has_value());
    EXPECT_EQ((*d)->diff, 0.0);
    EXPECT_EQ((*d)->low, 0.0);
    EXPECT_EQ((*d)->high, 0.0);
    EXPECT_EQ((*d)->p, 1.0);  // every D* is 0: at or below 0 and at or above
    EXPECT_EQ((*d)->resamples, 200);
    EXPECT_EQ((*d)->skipped, 0);
  }
}

TEST(CompareMap, TheMapsAreThoseOfAllTheImagesAndSwappingTheModelsNegatesTheDifference) {
  std::mt19937 rng(2);
  const LabelMatrix y = one_label_each(50, 5);
  const ScoreMatrix a = noisy_scores(y, 1.5, rng), b = noisy_scores(y, 0.8, rng);
  const MapComparison ab = compare_map(a, b, y, 300, 7), ba = compare_map(b, a, y, 300, 7);
  ASSERT_TRUE(ab.map_class && ab.map_image && ba.map_class && ba.map_image);
  EXPECT_EQ(ab.map_class->a, *map_class(a, y).map);
  EXPECT_EQ(ab.map_class->b, *map_class(b, y).map);
  EXPECT_EQ(ab.map_image->a, *map_image(a, y).map);
  EXPECT_EQ(ab.map_image->b, *map_image(b, y).map);
  EXPECT_EQ(ab.map_class->diff, ab.map_class->a - ab.map_class->b);
  const std::pair<const MapDifference*, const MapDifference*> pairs[] = {{&*ab.map_class, &*ba.map_class},
                                                                         {&*ab.map_image, &*ba.map_image}};
  for (const auto& [x, z] : pairs) {
    EXPECT_EQ(x->diff, -z->diff);
    EXPECT_NEAR(x->low, -z->high, 1e-12);  // the same draws, every difference negated
    EXPECT_NEAR(x->high, -z->low, 1e-12);
    EXPECT_EQ(x->p, z->p);
    EXPECT_LT(x->low, x->diff);
    EXPECT_GT(x->high, x->diff);
  }
  // Another seed draws other images: the interval moves a little, the maps not at all.
  const MapComparison other = compare_map(a, b, y, 300, 8);
  EXPECT_EQ(other.map_class->diff, ab.map_class->diff);
  EXPECT_NE(other.map_class->low, ab.map_class->low);
}

TEST(CompareMap, AClearlyBetterModelIsFound) {
  std::mt19937 rng(3);
  const LabelMatrix y = one_label_each(200, 4);
  const ScoreMatrix good = noisy_scores(y, 2.0, rng), chance = noisy_scores(y, 0.0, rng);
  const MapComparison c = compare_map(good, chance, y, 500);
  for (const std::optional<MapDifference>* d : {&c.map_class, &c.map_image}) {
    ASSERT_TRUE(d->has_value());
    EXPECT_GT((*d)->diff, 0.2);
    EXPECT_GT((*d)->low, 0.0);
    EXPECT_EQ((*d)->p, 2.0 / 501.0);  // no draw came near 0: the smallest p R draws can give
  }
}

// Two exchangeable models (the same signal, independent noise) on 200 fresh
// samples of 80 images: the test's p < 0.05 about 5% of the time, and the
// bootstrap's interval as wide as the difference's spread over the samples
// (the width of a normal 95% interval is 3.92 standard deviations).
TEST(CompareMap, PIsUniformUnderTheNullAndTheIntervalMatchesTheSpread) {
  std::mt19937 rng(4);
  const LabelMatrix y = one_label_each(80, 4);
  const int samples = 200;
  int small_p_class = 0, small_p_image = 0;
  std::vector<double> diffs_class, diffs_image;
  double width_class = 0, width_image = 0;
  for (int t = 0; t < samples; ++t) {
    // Shared part (the images' difficulty) + each model's own noise.
    const ScoreMatrix shared = noisy_scores(y, 1.0, rng);
    ScoreMatrix a = shared, b = shared;
    std::normal_distribution<double> normal(0.0, 0.8);
    for (size_t i = 0; i < y.size(); ++i)
      for (size_t c = 0; c < y[i].size(); ++c) a[i][c] += normal(rng), b[i][c] += normal(rng);
    const MapComparison cmp = compare_map(a, b, y, 200, (uint64_t)t + 1);
    small_p_class += cmp.map_class->p < 0.05;
    small_p_image += cmp.map_image->p < 0.05;
    diffs_class.push_back(cmp.map_class->diff);
    diffs_image.push_back(cmp.map_image->diff);
    width_class += (cmp.map_class->high - cmp.map_class->low) / samples;
    width_image += (cmp.map_image->high - cmp.map_image->low) / samples;
  }
  // 10 expected of 200; 2..20 is about +-3 standard deviations of a binomial.
  EXPECT_GE(small_p_class, 2);
  EXPECT_LE(small_p_class, 20);
  EXPECT_GE(small_p_image, 2);
  EXPECT_LE(small_p_image, 20);
  auto sd = [](const std::vector<double>& v) {
    double m = 0, s = 0;
    for (double x : v) m += x / v.size();
    for (double x : v) s += (x - m) * (x - m);
    return std::sqrt(s / (v.size() - 1));
  };
  EXPECT_NEAR(width_class / 3.92 / sd(diffs_class), 1.0, 0.2) << width_class << " vs sd " << sd(diffs_class);
  EXPECT_NEAR(width_image / 3.92 / sd(diffs_image), 1.0, 0.2) << width_image << " vs sd " << sd(diffs_image);
}

TEST(CompareMap, ThreadsChangeNoBit) {
  std::mt19937 rng(5);
  const LabelMatrix y = one_label_each(70, 3);
  const ScoreMatrix a = noisy_scores(y, 1.0, rng), b = noisy_scores(y, 1.2, rng);
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const MapComparison one = compare_map(a, b, y, 300);
  omp_set_num_threads(3);
  const MapComparison three = compare_map(a, b, y, 300);
  omp_set_num_threads(threads);
  EXPECT_EQ(one.map_class->low, three.map_class->low);
  EXPECT_EQ(one.map_class->high, three.map_class->high);
  EXPECT_EQ(one.map_class->p, three.map_class->p);
  EXPECT_EQ(one.map_image->low, three.map_image->low);
  EXPECT_EQ(one.map_image->p, three.map_image->p);
}

TEST(CompareMap, UndefinedAndBadInput) {
  const LabelMatrix none(10, std::vector<int>(3, 0));
  const ScoreMatrix s(10, std::vector<double>(3, 0.5));
  const MapComparison c = compare_map(s, s, none, 100);
  EXPECT_FALSE(c.map_class.has_value());
  EXPECT_FALSE(c.map_image.has_value());
  const LabelMatrix y = one_label_each(10, 3);
  EXPECT_THROW(compare_map(s, ScoreMatrix(9, std::vector<double>(3, 0.5)), y, 100), Error);
  EXPECT_THROW(compare_map(s, ScoreMatrix(10, std::vector<double>(2, 0.5)), y, 100), Error);
  EXPECT_THROW(compare_map(s, s, y, 99), Error);
}

// ---- compare_paired_means: the same bootstrap for a per-item value's mean ----

TEST(ComparePairedMeans, MeansDifferenceAndAShiftThatNeverChanges) {
  const std::vector<double> b = {0.2, 0.9, 0.4, 0.7, 0.1};
  std::vector<double> a = b;
  for (double& v : a) v += 0.05;  // every item 0.05 better: every draw says exactly that
  const MapDifference d = compare_paired_means(a, b, 500);
  EXPECT_NEAR(d.a, 0.51, 1e-12);
  EXPECT_NEAR(d.b, 0.46, 1e-12);
  EXPECT_NEAR(d.diff, 0.05, 1e-12);
  EXPECT_NEAR(d.low, 0.05, 1e-12);
  EXPECT_NEAR(d.high, 0.05, 1e-12);
  EXPECT_DOUBLE_EQ(d.p, 2.0 / 501);  // no draw at or below 0: the floor
  EXPECT_EQ(d.resamples, 500);
  EXPECT_EQ(d.skipped, 0);
  // The same values: no difference, p 1.
  const MapDifference same = compare_paired_means(b, b, 500);
  EXPECT_EQ(same.diff, 0.0);
  EXPECT_EQ(same.p, 1.0);
  // Swapped: the difference and the interval negated.
  const MapDifference swapped = compare_paired_means(b, a, 500);
  EXPECT_NEAR(swapped.diff, -0.05, 1e-12);
  EXPECT_NEAR(swapped.low, -0.05, 1e-12);
}

// Under the null (a and b the same in distribution, correlated through a
// shared part per item) p < 0.05 about 5% of the time, and the interval's
// width matches the spread of the difference over fresh samples: the
// normal-theory paired interval of a mean, 3.92 sd / sqrt(n) wide.
TEST(ComparePairedMeans, PIsUniformUnderTheNullAndTheIntervalIsThePairedOne) {
  std::mt19937 rng(6);
  std::normal_distribution<double> normal(0.0, 1.0);
  const int samples = 200, n = 60;
  int small_p = 0;
  std::vector<double> diffs;
  double width = 0;
  for (int t = 0; t < samples; ++t) {
    std::vector<double> a(n), b(n);
    for (int i = 0; i < n; ++i) {
      const double shared = normal(rng);
      a[i] = shared + 0.3 * normal(rng);
      b[i] = shared + 0.3 * normal(rng);
    }
    const MapDifference d = compare_paired_means(a, b, 400, (uint64_t)t + 1);
    small_p += d.p < 0.05;
    diffs.push_back(d.diff);
    width += (d.high - d.low) / samples;
  }
  EXPECT_GE(small_p, 2);
  EXPECT_LE(small_p, 20);
  double m = 0, s = 0;
  for (double x : diffs) m += x / samples;
  for (double x : diffs) s += (x - m) * (x - m);
  const double sd = std::sqrt(s / (samples - 1));
  EXPECT_NEAR(sd, 0.3 * std::sqrt(2.0 / n), 0.2 * 0.3 * std::sqrt(2.0 / n));  // the sampling's own spread
  EXPECT_NEAR(width / 3.92 / sd, 1.0, 0.2) << width << " vs sd " << sd;
}

TEST(ComparePairedMeans, BadInputIsAnError) {
  EXPECT_THROW(compare_paired_means({}, {}), Error);
  EXPECT_THROW(compare_paired_means({1, 2}, {1}), Error);
  EXPECT_THROW(compare_paired_means({1, NAN}, {1, 2}), Error);
  EXPECT_THROW(compare_paired_means({1, 2}, {1, 2}, 99), Error);
}

}  // namespace
}  // namespace skinmtl
