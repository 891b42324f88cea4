// metrics/metrics: AP, mAP-class (eq. 9), mAP-image (eq. 10), top-k, AUC and
// DeLong's standard errors (by hand, pair by pair, and against the spread over
// simulated samples), sensitivity/specificity and the ensemble max, against values worked out by
// hand in the comments; the tie rule (a tied block is ranked together, each
// relevant item in it gets the precision at the block's end); and invariance
// under any permutation of the input rows.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <random>
#include <vector>

#include "base/check.h"
#include "metrics/metrics.h"
#include "tests/temp_dir.h"

namespace skinmtl {
namespace {

constexpr double kTol = 1e-12;

// Expects an AP/AUC result to be present and equal to `expected`.
void expect_value(const std::optional<double>& got, double expected) {
  ASSERT_TRUE(got.has_value());
  EXPECT_NEAR(*got, expected, kTol);
}

// ---------------------------------------------------------------- AP, no ties

TEST(AveragePrecision, HandComputedNoTies) {
  // Ranking: 0.9 (+), 0.8 (-), 0.7 (+), 0.6 (-).
  // Relevant at ranks 1 and 3: precisions 1/1 and 2/3 -> AP = (1 + 2/3) / 2 = 5/6.
  expect_value(average_precision({0.9, 0.8, 0.7, 0.6}, {1, 0, 1, 0}), 5.0 / 6.0);
  // Same items given in another order: same ranking, same AP.
  expect_value(average_precision({0.6, 0.7, 0.9, 0.8}, {0, 1, 1, 0}), 5.0 / 6.0);
  // Perfect ranking: every precision is 1.
  expect_value(average_precision({0.9, 0.8, 0.7, 0.6}, {1, 1, 0, 0}), 1.0);
  // The only relevant item last of 4: precision 1/4.
  expect_value(average_precision({0.9, 0.8, 0.7, 0.6}, {0, 0, 0, 1}), 0.25);
  // Relevant at ranks 2, 3, 5: (1/2 + 2/3 + 3/5) / 3 = (15 + 20 + 18) / 90 = 53/90.
  expect_value(average_precision({5, 4, 3, 2, 1}, {0, 1, 1, 0, 1}), 53.0 / 90.0);
  // A single item, relevant.
  expect_value(average_precision({-3.0}, {1}), 1.0);
}

// A diverged model's NaN or infinite output is named as divergence, with the
// image, not as a bare "score 0 is not finite" from inside a metric.
TEST(Predictions, NonFiniteMeansTheModelDiverged) {
  require_finite_prediction(0.25, "ISIC_0000001");
  require_finite_prediction(0.0, "ISIC_0000001");
  EXPECT_ERROR_WITH(require_finite_prediction(NAN, "ISIC_0000042"),
                    "the model diverged: its prediction for 'ISIC_0000042' is nan",
                    "checkpoint.prev.safetensors");
  EXPECT_ERROR_WITH(require_finite_prediction(INFINITY, "x"), "the model diverged", "is inf");
}

TEST(AveragePrecision, NoPositiveIsUndefined) {
  EXPECT_FALSE(average_precision({0.9, 0.1}, {0, 0}).has_value());
  EXPECT_FALSE(average_precision({}, {}).has_value());
}

TEST(AveragePrecision, BadInputThrows) {
  EXPECT_THROW(average_precision({0.9, 0.1}, {1}), Error);            // lengths differ
  EXPECT_THROW(average_precision({0.9, 0.1}, {1, 2}), Error);         // label not 0/1
  EXPECT_THROW(average_precision({0.9, std::nan("")}, {1, 0}), Error);  // NaN score
}

// ------------------------------------------------------------------ AP, ties

TEST(AveragePrecision, TiedBlockGetsPrecisionAtItsEnd) {
  // scores [0.9, 0.5, 0.5, 0.1], labels [0, 1, 0, 1]. Blocks:
  //   {0.9: -}        seen 1, hits 0
  //   {0.5: +, -}     seen 3, hits 1 -> the + gets precision 1/3
  //   {0.1: +}        seen 4, hits 2 -> the + gets precision 2/4
  // AP = (1/3 + 1/2) / 2 = 5/12.
  // Order matters for a naive sort: ranking the tied + first would give
  // (1/2 + 1/2) / 2 = 1/2, the tied - first 5/12. Both input orders must give 5/12.
  expect_value(average_precision({0.9, 0.5, 0.5, 0.1}, {0, 1, 0, 1}), 5.0 / 12.0);
  expect_value(average_precision({0.9, 0.5, 0.5, 0.1}, {0, 0, 1, 1}), 5.0 / 12.0);
  expect_value(average_precision({0.1, 0.5, 0.9, 0.5}, {1, 1, 0, 0}), 5.0 / 12.0);
}

TEST(AveragePrecision, AllTiedGivesPrevalence) {
  // One block of 4 with 2 relevant: both get precision 2/4 -> AP = 1/2.
  expect_value(average_precision({0.5, 0.5, 0.5, 0.5}, {1, 0, 1, 0}), 0.5);
  expect_value(average_precision({0.5, 0.5, 0.5, 0.5}, {0, 0, 1, 0}), 0.25);
}

TEST(AveragePrecision, TieAmongRelevantOnly) {
  // scores [0.8, 0.8, 0.3], labels [1, 1, 0]: block {0.8: +, +} seen 2, hits 2
  // -> both + get precision 1 -> AP = 1 (a tie among relevant items costs nothing).
  expect_value(average_precision({0.8, 0.8, 0.3}, {1, 1, 0}), 1.0);
  // scores [0.8, 0.3, 0.3, 0.3], labels [0, 1, 1, 0]: block {0.3: +, +, -}
  // ends at seen 4 with hits 2 -> AP = (2/4 + 2/4) / 2 = 1/2.
  expect_value(average_precision({0.8, 0.3, 0.3, 0.3}, {0, 1, 1, 0}), 0.5);
}

// The tie rule restated item by item (an independent O(n^2) formulation):
// AP = (1/R) sum_{relevant i} #{relevant k: s_k >= s_i} / #{k: s_k >= s_i}.
double brute_force_ap(const std::vector<double>& s, const std::vector<int>& y) {
  double sum = 0;
  int relevant = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (!y[i]) continue;
    ++relevant;
    int at_or_above = 0, hits = 0;
    for (size_t k = 0; k < s.size(); ++k)
      if (s[k] >= s[i]) {
        ++at_or_above;
        hits += y[k];
      }
    sum += static_cast<double>(hits) / at_or_above;
  }
  return sum / relevant;
}

TEST(AveragePrecision, MatchesBruteForceOnRandomTiedData) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    const int n = 1 + static_cast<int>(rng() % 30);
    std::vector<double> s(n);
    std::vector<int> y(n);
    for (int i = 0; i < n; ++i) {
      s[i] = static_cast<double>(rng() % 6) / 5.0;  // 6 levels: many ties
      y[i] = static_cast<int>(rng() % 3 == 0);
    }
    if (std::count(y.begin(), y.end(), 1) == 0) y[0] = 1;
    expect_value(average_precision(s, y), brute_force_ap(s, y));
  }
}

// ------------------------------------------------- mAP-class and mAP-image

// The 3 images x 4 classes example used by the mAP tests.
const ScoreMatrix kScores = {
    {0.9, 0.1, 0.5, 0.3},  // image 0
    {0.2, 0.8, 0.6, 0.4},  // image 1
    {0.7, 0.3, 0.3, 0.1},  // image 2 (a tie between classes 1 and 2)
};
const LabelMatrix kLabels = {
    {1, 0, 0, 1},
    {0, 0, 1, 0},
    {0, 1, 1, 1},
};

TEST(MapImage, HandComputed3x4) {
  // Image 0 ranks c0 .9 (+), c2 .5 (-), c3 .3 (+), c1 .1 (-): (1/1 + 2/3) / 2 = 5/6.
  // Image 1 ranks c1 .8 (-), c2 .6 (+), ...: 1/2.
  // Image 2 ranks c0 .7 (-), {c1 .3 (+), c2 .3 (+)}, c3 .1 (+):
  //   the tied block ends at seen 3 with hits 2 -> both + get 2/3; c3 gets 3/4;
  //   AP = (2/3 + 2/3 + 3/4) / 3 = 25/36.
  // mAP-image = (5/6 + 1/2 + 25/36) / 3 = (30 + 18 + 25) / 108 = 73/108.
  const MapResult r = map_image(kScores, kLabels);
  ASSERT_EQ(r.ap.size(), 3u);
  expect_value(r.ap[0], 5.0 / 6.0);
  expect_value(r.ap[1], 0.5);
  expect_value(r.ap[2], 25.0 / 36.0);
  expect_value(r.map, 73.0 / 108.0);
  EXPECT_EQ(r.positives, (std::vector<int64_t>{2, 1, 3}));
  EXPECT_EQ(r.used, 3);
  EXPECT_EQ(r.excluded, 0);
}

TEST(MapClass, HandComputed3x4) {
  // Class 0: images by score .9 (+), .7 (-), .2 (-)            -> AP 1.
  // Class 1: .8 (-), .3 (+), .1 (-)                            -> AP 1/2.
  // Class 2: .6 (+), .5 (-), .3 (+)  -> (1 + 2/3) / 2          -> AP 5/6.
  // Class 3: .4 (-), .3 (+), .1 (+)  -> (1/2 + 2/3) / 2        -> AP 7/12.
  // mAP-class = (1 + 1/2 + 5/6 + 7/12) / 4 = (12 + 6 + 10 + 7) / 48 = 35/48.
  const MapResult r = map_class(kScores, kLabels);
  ASSERT_EQ(r.ap.size(), 4u);
  expect_value(r.ap[0], 1.0);
  expect_value(r.ap[1], 0.5);
  expect_value(r.ap[2], 5.0 / 6.0);
  expect_value(r.ap[3], 7.0 / 12.0);
  expect_value(r.map, 35.0 / 48.0);
  EXPECT_EQ(r.positives, (std::vector<int64_t>{1, 1, 2, 2}));
}

TEST(MapClass, RankingsWithoutPositiveAreExcludedAndCounted) {
  // Add a 5th class with no positive image, and a 4th image with no positive
  // class. The 5th class has no AP and does not enter mAP-class (still 35/48
  // with the 4th image scoring 0 everywhere: below every other score, and
  // negative, so no class's AP changes). The 4th image does not enter mAP-image.
  ScoreMatrix s = kScores;
  LabelMatrix y = kLabels;
  for (size_t i = 0; i < s.size(); ++i) {
    s[i].push_back(0.5);
    y[i].push_back(0);
  }
  s.push_back({0.0, 0.0, 0.0, 0.0, 0.9});
  y.push_back({0, 0, 0, 0, 0});

  const MapResult c = map_class(s, y);
  EXPECT_FALSE(c.ap[4].has_value());
  EXPECT_EQ(c.positives[4], 0);
  EXPECT_EQ(c.used, 4);
  EXPECT_EQ(c.excluded, 1);
  expect_value(c.map, 35.0 / 48.0);

  const MapResult m = map_image(s, y);
  EXPECT_FALSE(m.ap[3].has_value());
  EXPECT_EQ(m.used, 3);
  EXPECT_EQ(m.excluded, 1);
  // Images 0-2 gained a negative class scoring 0.5. Image 0: c0 .9 (+), {c2 .5, c4 .5} (-,-),
  // c3 .3 (+): (1 + 2/4) / 2 = 3/4. Image 1: c1 .8 (-), c2 .6 (+), ...: 1/2.
  // Image 2: c0 .7 (-), c4 .5 (-), {c1, c2} .3 (+,+): 2/4 each, c3 .1 (+): 3/5;
  //   (1/2 + 1/2 + 3/5) / 3 = 8/15. mAP-image = (3/4 + 1/2 + 8/15) / 3 = 107/180.
  expect_value(m.map, 107.0 / 180.0);
}

TEST(MapClass, NothingPositiveMeansNoMean) {
  const MapResult r = map_class({{0.1, 0.2}}, {{0, 0}});
  EXPECT_FALSE(r.map.has_value());
  EXPECT_EQ(r.excluded, 2);
}

TEST(MapClass, ShapeErrors) {
  EXPECT_THROW(map_class({{0.1, 0.2}, {0.3}}, {{0, 1}, {1}}), Error);   // ragged scores
  EXPECT_THROW(map_class({{0.1, 0.2}}, {{0, 1}, {1, 0}}), Error);       // row counts differ
  EXPECT_THROW(map_image({{0.1, 0.2}}, {{0, 1, 0}}), Error);            // column counts differ
}

// Permuting images (rows) and classes (columns) of both matrices the same way
// changes no metric, bit for bit; the per-class APs follow their class.
TEST(MapClass, InvariantUnderPermutationOfRowsAndColumns) {
  std::mt19937 rng(11);
  const int n = 23, p = 7;
  ScoreMatrix s(n, std::vector<double>(p));
  LabelMatrix y(n, std::vector<int>(p));
  for (int i = 0; i < n; ++i)
    for (int c = 0; c < p; ++c) {
      s[i][c] = static_cast<double>(rng() % 5) / 4.0;  // 5 levels: many ties
      y[i][c] = static_cast<int>(rng() % 3 == 0);
    }
  std::vector<int64_t> truth(n);
  for (int i = 0; i < n; ++i) truth[i] = static_cast<int64_t>(rng() % p);

  const MapResult c0 = map_class(s, y), m0 = map_image(s, y);
  const std::vector<TopKResult> t0 = topk_accuracy(s, truth, {1, 2, 3});
  ASSERT_TRUE(c0.map.has_value() && m0.map.has_value());

  for (int trial = 0; trial < 20; ++trial) {
    std::vector<int> rows(n), cols(p);
    for (int i = 0; i < n; ++i) rows[i] = i;
    for (int c = 0; c < p; ++c) cols[c] = c;
    std::shuffle(rows.begin(), rows.end(), rng);
    std::shuffle(cols.begin(), cols.end(), rng);
    ScoreMatrix ps(n, std::vector<double>(p));
    LabelMatrix py(n, std::vector<int>(p));
    std::vector<int64_t> ptruth(n);
    for (int i = 0; i < n; ++i) {
      for (int c = 0; c < p; ++c) {
        ps[i][c] = s[rows[i]][cols[c]];
        py[i][c] = y[rows[i]][cols[c]];
      }
      // The true class of permuted row i is the column that now holds it.
      ptruth[i] = std::find(cols.begin(), cols.end(), truth[rows[i]]) - cols.begin();
    }
    const MapResult c1 = map_class(ps, py), m1 = map_image(ps, py);
    EXPECT_EQ(*c1.map, *c0.map);  // exact: the mean is summed in sorted order
    EXPECT_EQ(*m1.map, *m0.map);
    for (int c = 0; c < p; ++c) EXPECT_EQ(c1.ap[c], c0.ap[cols[c]]);
    for (int i = 0; i < n; ++i) EXPECT_EQ(m1.ap[i], m0.ap[rows[i]]);
    const std::vector<TopKResult> t1 = topk_accuracy(ps, ptruth, {1, 2, 3});
    for (size_t k = 0; k < t0.size(); ++k) EXPECT_EQ(t1[k].correct, t0[k].correct);
  }
}

// -------------------------------------------------------------------- top-k

TEST(TopK, HandComputedWithTies) {
  const ScoreMatrix s = {
      {0.1, 0.7, 0.2, 0.0},  // truth 1: strictly best               -> rank 1
      {0.5, 0.5, 0.3, 0.1},  // truth 0: tied with class 1 at the top -> rank 2
      {0.4, 0.3, 0.3, 0.3},  // truth 3: tied block {1,2,3} at places 2-4 -> rank 4
      {0.9, 0.6, 0.5, 0.8},  // truth 1: below 0.9 and 0.8            -> rank 3
  };
  const std::vector<int64_t> truth = {1, 0, 3, 1};
  EXPECT_EQ(pessimistic_rank(s[0], 1), 1);
  EXPECT_EQ(pessimistic_rank(s[1], 0), 2);
  EXPECT_EQ(pessimistic_rank(s[2], 3), 4);
  EXPECT_EQ(pessimistic_rank(s[3], 1), 3);
  // top-1: image 0 only (image 1's tie at the top counts as outside) -> 1/4.
  // top-3: images 0, 1, 3 (image 2's block straddles place 3)         -> 3/4.
  // top-4: all.
  const std::vector<TopKResult> r = topk_accuracy(s, truth, {1, 3, 4});
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].k, 1);
  EXPECT_EQ(r[0].correct, 1);
  EXPECT_DOUBLE_EQ(r[0].accuracy, 0.25);
  EXPECT_EQ(r[1].correct, 3);
  EXPECT_DOUBLE_EQ(r[1].accuracy, 0.75);
  EXPECT_EQ(r[2].correct, 4);
  EXPECT_EQ(r[2].total, 4);
}

TEST(TopK, ConstantScoresGetNoCredit) {
  const ScoreMatrix s = {{0.2, 0.2, 0.2}, {0.2, 0.2, 0.2}};
  const std::vector<TopKResult> r = topk_accuracy(s, {0, 2}, {1, 2, 3});
  EXPECT_EQ(r[0].correct, 0);
  EXPECT_EQ(r[1].correct, 0);
  EXPECT_EQ(r[2].correct, 2);
}

TEST(TopK, BadInputThrows) {
  EXPECT_THROW(topk_accuracy({{0.1, 0.2}}, {2}, {1}), Error);      // truth out of range
  EXPECT_THROW(topk_accuracy({{0.1, 0.2}}, {0, 1}, {1}), Error);   // row count mismatch
  EXPECT_THROW(topk_accuracy({{0.1, 0.2}}, {0}, {0}), Error);      // k < 1
  EXPECT_THROW(topk_accuracy({}, {}, {1}), Error);                 // no images
}

// ----------------------------------------------------------------- ensemble

TEST(EnsembleMax, PerImagePerClassMax) {
  const ScoreMatrix a = {{0.1, 0.9}, {0.5, 0.2}};
  const ScoreMatrix b = {{0.3, 0.4}, {0.5, 0.7}};
  EXPECT_EQ(ensemble_max(a, b), (ScoreMatrix{{0.3, 0.9}, {0.5, 0.7}}));
  EXPECT_THROW(ensemble_max(a, {{0.3, 0.4}}), Error);
  EXPECT_THROW(ensemble_max(a, {{0.3, 0.4}, {0.5}}), Error);
}

// ---------------------------------------------------------------------- AUC

TEST(RocAuc, HandComputed) {
  // Positives .9, .7; negatives .8, .6. Pairs (pos, neg): (.9,.8) win, (.9,.6) win,
  // (.7,.8) loss, (.7,.6) win -> 3/4.
  expect_value(roc_auc({0.9, 0.8, 0.7, 0.6}, {1, 0, 1, 0}), 0.75);
  // Ties count half. Positives .5, .2; negatives .5, .3:
  // (.5,.5) 1/2, (.5,.3) 1, (.2,.5) 0, (.2,.3) 0 -> 1.5 / 4 = 3/8.
  expect_value(roc_auc({0.5, 0.5, 0.2, 0.3}, {1, 0, 1, 0}), 0.375);
  // Constant scores: every pair ties -> exactly 1/2.
  expect_value(roc_auc({0.3, 0.3, 0.3, 0.3, 0.3}, {1, 0, 0, 1, 0}), 0.5);
  // Perfect separation and its reverse.
  expect_value(roc_auc({0.9, 0.8, 0.1}, {1, 1, 0}), 1.0);
  expect_value(roc_auc({0.1, 0.2, 0.9}, {1, 1, 0}), 0.0);
  // Undefined without a positive or without a negative.
  EXPECT_FALSE(roc_auc({0.1, 0.2}, {0, 0}).has_value());
  EXPECT_FALSE(roc_auc({0.1, 0.2}, {1, 1}).has_value());
  EXPECT_THROW(roc_auc({0.1, 0.2}, {1, 3}), Error);
}

// ---------------------------------------------------------------- DeLong

TEST(RocAucDelong, HandComputed) {
  // Positives .9, .6; negatives .7, .6, .2 (given interleaved).
  // Placements: V10 = (3/3, (0 + 1/2 + 1)/3) = (1, 1/2); V01 = (1/2, 3/4, 1).
  // AUC 3/4; S10 = (1/16 + 1/16) / 1 = 1/8, S01 = (1/16 + 0 + 1/16) / 2 = 1/16;
  // var = (1/8) / 2 + (1/16) / 3 = 1/12, SE = 0.288675...
  const std::vector<double> a = {0.7, 0.9, 0.6, 0.6, 0.2};
  const std::vector<int> y = {0, 1, 1, 0, 0};
  const std::optional<AucEstimate> e = roc_auc_delong(a, y);
  ASSERT_TRUE(e.has_value());
  EXPECT_NEAR(e->auc, 0.75, kTol);
  EXPECT_NEAR(e->se, std::sqrt(1.0 / 12), kTol);
  EXPECT_NEAR(e->low, 0.75 - 1.959963984540054 * std::sqrt(1.0 / 12), 1e-12);
  EXPECT_EQ(e->high, 1.0);  // clipped
  EXPECT_NEAR(e->auc, *roc_auc(a, y), kTol);

  // A second model on the same items: positives .8, .1 -> V10 = (1, 0), AUC 1/2,
  // V01 = (1/2, 1/2, 1/2): S10 = 1/2, S01 = 0, var 1/4. Covariances:
  // C10 = ((1/4)(1/2) + (-1/4)(-1/2)) / 1 = 1/4, C01 = 0 (V01 constant), so
  // var(A - B) = 1/12 + 1/4 - 2 (1/4) / 2 = 1/12; z = (1/4) / sqrt(1/12).
  const std::vector<double> b = {0.7, 0.8, 0.1, 0.6, 0.2};
  const std::optional<AucDifference> d = compare_roc_auc(a, b, y);
  ASSERT_TRUE(d.has_value());
  EXPECT_NEAR(d->a.auc, 0.75, kTol);
  EXPECT_NEAR(d->b.auc, 0.5, kTol);
  EXPECT_NEAR(d->b.se, 0.5, kTol);
  EXPECT_NEAR(d->diff, 0.25, kTol);
  EXPECT_NEAR(d->se, std::sqrt(1.0 / 12), kTol);
  EXPECT_NEAR(d->z, 0.25 / std::sqrt(1.0 / 12), 1e-12);
  EXPECT_NEAR(d->p, 0.3864762307712327, 1e-12);  // erfc(z / sqrt 2), computed with Python's math.erfc
  EXPECT_NEAR(d->low, 0.25 - 1.959963984540054 * std::sqrt(1.0 / 12), 1e-12);
  // Swapped, the difference changes sign and nothing else.
  const std::optional<AucDifference> r = compare_roc_auc(b, a, y);
  EXPECT_NEAR(r->diff, -0.25, kTol);
  EXPECT_NEAR(r->se, d->se, kTol);
  EXPECT_NEAR(r->p, d->p, kTol);
}

TEST(RocAucDelong, IdenticalModelsAndUndefinedCases) {
  const std::vector<double> s = {0.3, 0.1, 0.8, 0.5, 0.5, 0.9};
  const std::vector<int> y = {1, 0, 1, 0, 1, 0};
  const std::optional<AucDifference> d = compare_roc_auc(s, s, y);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->diff, 0.0);
  EXPECT_EQ(d->se, 0.0);
  EXPECT_EQ(d->p, 1.0);
  // Any monotone transform ranks alike: the same AUC and no difference.
  std::vector<double> t;
  for (double v : s) t.push_back(std::exp(3 * v));
  const std::optional<AucDifference> m = compare_roc_auc(s, t, y);
  EXPECT_NEAR(m->diff, 0.0, kTol);
  EXPECT_EQ(m->se, 0.0);
  // No variance to estimate with one positive or one negative.
  EXPECT_FALSE(roc_auc_delong({0.1, 0.2, 0.3}, {1, 0, 0}).has_value());
  EXPECT_FALSE(compare_roc_auc({0.1, 0.2, 0.3}, {0.1, 0.2, 0.3}, {1, 1, 0}).has_value());
  EXPECT_THROW(compare_roc_auc({0.1, 0.2}, {0.1}, {1, 0}), Error);
  EXPECT_THROW(roc_auc_delong({0.1, NAN}, {1, 0}), Error);
}

// The placements against their definition, pair by pair, on random tied data.
TEST(RocAucDelong, MatchesPairwiseDefinition) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    const int n = 5 + trial * 3;
    std::vector<double> a(n), b(n);
    std::vector<int> y(n);
    for (int i = 0; i < n; ++i) {
      y[i] = i < 2 ? 1 : i < 4 ? 0 : (int)(rng() % 3 == 0);
      a[i] = (double)(rng() % 7) / 7;  // ties on purpose
      b[i] = (double)(rng() % 5) / 5 + 0.1 * y[i];
    }
    std::vector<int> pos, neg;
    for (int i = 0; i < n; ++i) (y[i] ? pos : neg).push_back(i);
    auto psi = [](double x, double z) { return x > z ? 1.0 : x == z ? 0.5 : 0.0; };
    auto v10 = [&](const std::vector<double>& s) {
      std::vector<double> v;
      for (int i : pos) {
        double t = 0;
        for (int j : neg) t += psi(s[i], s[j]);
        v.push_back(t / neg.size());
      }
      return v;
    };
    auto v01 = [&](const std::vector<double>& s) {
      std::vector<double> v;
      for (int j : neg) {
        double t = 0;
        for (int i : pos) t += psi(s[i], s[j]);
        v.push_back(t / pos.size());
      }
      return v;
    };
    auto cov = [](const std::vector<double>& u, const std::vector<double>& w) {
      double mu = 0, mw = 0, c = 0;
      for (size_t k = 0; k < u.size(); ++k) mu += u[k] / u.size(), mw += w[k] / w.size();
      for (size_t k = 0; k < u.size(); ++k) c += (u[k] - mu) * (w[k] - mw);
      return c / (u.size() - 1);
    };
    const double P = pos.size(), N = neg.size();
    const double var_a = cov(v10(a), v10(a)) / P + cov(v01(a), v01(a)) / N;
    const double var_b = cov(v10(b), v10(b)) / P + cov(v01(b), v01(b)) / N;
    const double c_ab = cov(v10(a), v10(b)) / P + cov(v01(a), v01(b)) / N;
    const std::optional<AucDifference> d = compare_roc_auc(a, b, y);
    ASSERT_TRUE(d.has_value()) << trial;
    EXPECT_NEAR(d->a.auc, *roc_auc(a, y), 1e-12) << trial;
    EXPECT_NEAR(d->b.auc, *roc_auc(b, y), 1e-12) << trial;
    EXPECT_NEAR(d->a.se, std::sqrt(var_a), 1e-12) << trial;
    EXPECT_NEAR(d->b.se, std::sqrt(var_b), 1e-12) << trial;
    EXPECT_NEAR(d->se, std::sqrt(std::max(0.0, var_a + var_b - 2 * c_ab)), 1e-9) << trial;
  }
}

// What the standard error means: over many independent samples from one
// population, the AUC's spread matches the SE DeLong estimates from each
// sample alone, and so does the spread of two correlated models' difference.
// Positives' scores N(1, 1), negatives' N(0, 1); model B = model A + noise.
TEST(RocAucDelong, StandardErrorMatchesTheSpreadOverSamples) {
  std::mt19937 rng(11);
  std::normal_distribution<double> normal(0.0, 1.0);
  const int trials = 400, P = 40, N = 120;
  std::vector<double> aucs, diffs;
  double se_sum = 0, diff_se_sum = 0;
  for (int t = 0; t < trials; ++t) {
    std::vector<double> a, b;
    std::vector<int> y;
    for (int i = 0; i < P + N; ++i) {
      y.push_back(i < P);
      a.push_back(normal(rng) + (i < P ? 1.0 : 0.0));
      b.push_back(a.back() + 0.7 * normal(rng));
    }
    const AucDifference d = *compare_roc_auc(a, b, y);
    aucs.push_back(d.a.auc);
    diffs.push_back(d.diff);
    se_sum += d.a.se;
    diff_se_sum += d.se;
  }
  auto sd = [](const std::vector<double>& v) {
    double m = 0, s = 0;
    for (double x : v) m += x / v.size();
    for (double x : v) s += (x - m) * (x - m);
    return std::sqrt(s / (v.size() - 1));
  };
  // Within 15%: the spread of 400 samples is itself known to about 4%.
  EXPECT_NEAR(se_sum / trials / sd(aucs), 1.0, 0.15) << se_sum / trials << " vs " << sd(aucs);
  EXPECT_NEAR(diff_se_sum / trials / sd(diffs), 1.0, 0.15) << diff_se_sum / trials << " vs " << sd(diffs);
}

TEST(ThresholdStats, HandComputed) {
  // Threshold 0.5, predicted positive when score >= 0.5:
  //   0.9 (+) TP, 0.5 (+) TP (>= counts), 0.4 (+) FN, 0.7 (-) FP, 0.1 (-) TN.
  // sensitivity = 2/3, specificity = 1/2.
  const ThresholdStats r = threshold_stats({0.9, 0.5, 0.4, 0.7, 0.1}, {1, 1, 1, 0, 0}, 0.5);
  EXPECT_EQ(r.tp, 2);
  EXPECT_EQ(r.fn, 1);
  EXPECT_EQ(r.fp, 1);
  EXPECT_EQ(r.tn, 1);
  expect_value(r.sensitivity, 2.0 / 3.0);
  expect_value(r.specificity, 0.5);
  const ThresholdStats none = threshold_stats({0.9, 0.1}, {0, 0}, 0.5);
  EXPECT_FALSE(none.sensitivity.has_value());
  expect_value(none.specificity, 0.5);
}

}  // namespace
}  // namespace skinmtl
