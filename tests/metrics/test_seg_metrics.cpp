// metrics/seg_metrics: eq. 7 on hand-counted masks, the empty-case conventions,
// the means (SE/SP exclusions, the 0.65 cutoff at its boundary), binary
// metrics on a hand-worked five-item example.
#include "metrics/seg_metrics.h"
#include "tests/io_test_util.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

// A 1-channel mask from rows of '#' (255) and '.' (0).
Image mask_of(const std::vector<std::string>& rows) {
  Image m((int)rows.size(), (int)rows[0].size(), 1);
  for (int y = 0; y < m.height; ++y)
    for (int x = 0; x < m.width; ++x) m.at(y, x, 0) = rows[y][x] == '#' ? 255 : 0;
  return m;
}

SegCounts counts(int64_t tp, int64_t fp, int64_t tn, int64_t fn) {
  SegCounts c;
  c.tp = tp, c.fp = fp, c.tn = tn, c.fn = fn;
  return c;
}

TEST(SegMetrics, Eq7OnAHandCountedPair) {
  const Image truth = mask_of({"##..", "##..", "...."});
  const Image pred = mask_of({"###.", "#...", "..#."});
  const SegCounts c = seg_counts(pred, truth);
  EXPECT_EQ(c.tp, 3);
  EXPECT_EQ(c.fn, 1);
  EXPECT_EQ(c.fp, 2);
  EXPECT_EQ(c.tn, 6);
  const SegScores s = seg_scores(c);
  EXPECT_DOUBLE_EQ(s.ja, 3.0 / 6);   // TP / (TP + FN + FP)
  EXPECT_DOUBLE_EQ(s.di, 6.0 / 9);   // 2 TP / (2 TP + FN + FP)
  EXPECT_DOUBLE_EQ(s.ac, 9.0 / 12);  // (TP + TN) / all
  EXPECT_DOUBLE_EQ(*s.se, 3.0 / 4);
  EXPECT_DOUBLE_EQ(*s.sp, 6.0 / 8);
}

TEST(SegMetrics, ThresholdAndErrors) {
  Image truth(1, 3, 1), pred(1, 3, 1);
  truth.data = {255, 255, 0};
  pred.data = {128, 127, 200};
  const SegCounts c = seg_counts(pred, truth);  // >= 128 is lesion
  EXPECT_EQ(c.tp, 1);
  EXPECT_EQ(c.fn, 1);
  EXPECT_EQ(c.fp, 1);
  EXPECT_EQ(seg_counts(pred, truth, 201).fp, 0);
  EXPECT_EQ(seg_counts(pred, truth, 201).tp, 0);  // 128 < 201
  EXPECT_ERROR_WITH(seg_counts(Image(2, 3, 1), truth), "prediction is 2x3 but the truth is 1x3");
  EXPECT_ERROR_WITH(seg_counts(Image(1, 3, 3), truth), "1 channel");
  EXPECT_THROW(seg_counts(pred, truth, 0), Error);
  EXPECT_THROW(seg_scores(SegCounts{}), Error);  // no pixel
}

TEST(SegMetrics, EmptyCases) {
  // No lesion anywhere: perfect, JA = DI = 1; SE undefined; SP = 1.
  SegScores s = seg_scores(counts(0, 0, 12, 0));
  EXPECT_EQ(s.ja, 1.0);
  EXPECT_EQ(s.di, 1.0);
  EXPECT_EQ(s.ac, 1.0);
  EXPECT_FALSE(s.se.has_value());
  EXPECT_EQ(*s.sp, 1.0);
  // A lesion the prediction misses entirely: 0, 0, SE 0.
  s = seg_scores(counts(0, 0, 8, 4));
  EXPECT_EQ(s.ja, 0.0);
  EXPECT_EQ(s.di, 0.0);
  EXPECT_EQ(*s.se, 0.0);
  // A false lesion on a lesion-free truth: JA = DI = 0, SE still undefined.
  s = seg_scores(counts(0, 3, 9, 0));
  EXPECT_EQ(s.ja, 0.0);
  EXPECT_FALSE(s.se.has_value());
  EXPECT_DOUBLE_EQ(*s.sp, 0.75);
  // Truth lesion everywhere: SP undefined.
  s = seg_scores(counts(10, 0, 0, 2));
  EXPECT_FALSE(s.sp.has_value());
  EXPECT_DOUBLE_EQ(*s.se, 10.0 / 12);
}

TEST(SegMetrics, MeansOverImages) {
  const std::vector<SegCounts> c = {
      counts(3, 2, 6, 1),    // JA 0.5 (below 0.65), SE 0.75, SP 0.75
      counts(0, 0, 12, 0),   // JA 1, SE excluded, SP 1
      counts(13, 7, 80, 0),  // JA 13/20 = 0.65 exactly: kept; SE 1, SP 80/87
      counts(5, 0, 0, 0),    // JA 1, SE 1, SP excluded
  };
  const SegMetrics m = seg_metrics(c);
  EXPECT_EQ(m.images, 4);
  ASSERT_EQ(m.per_image.size(), 4u);
  EXPECT_DOUBLE_EQ(*m.ja, (0.5 + 1 + 0.65 + 1) / 4);
  EXPECT_DOUBLE_EQ(*m.di, (6.0 / 9 + 1 + 26.0 / 33 + 1) / 4);
  EXPECT_DOUBLE_EQ(*m.ac, (0.75 + 1 + 93.0 / 100 + 1) / 4);
  EXPECT_DOUBLE_EQ(*m.se, (0.75 + 1 + 1) / 3);
  EXPECT_EQ(m.se_excluded, 1);
  EXPECT_DOUBLE_EQ(*m.sp, (0.75 + 1 + 80.0 / 87) / 3);
  EXPECT_EQ(m.sp_excluded, 1);
  EXPECT_DOUBLE_EQ(*m.thresholded_ja, (0 + 1 + 0.65 + 1) / 4);
  EXPECT_EQ(m.ja_below_cutoff, 1);
  const SegMetrics none = seg_metrics({});
  EXPECT_FALSE(none.ja.has_value());
  EXPECT_FALSE(none.se.has_value());
}

TEST(BinaryMetrics, HandWorkedExample) {
  // Ranked: .9 (+), .8 (-), .6 (-), .4 (+), .3 (-).
  const std::vector<double> scores = {0.9, 0.8, 0.4, 0.3, 0.6};
  const std::vector<int> labels = {1, 0, 1, 0, 0};
  BinaryMetrics m = binary_metrics(scores, labels);
  EXPECT_EQ(m.n, 5);
  EXPECT_EQ(m.positives, 2);
  // At 0.5: TP .9; FP .8 .6; FN .4; TN .3.
  EXPECT_EQ(m.at_threshold.tp, 1);
  EXPECT_EQ(m.at_threshold.fp, 2);
  EXPECT_DOUBLE_EQ(*m.accuracy, 2.0 / 5);
  EXPECT_DOUBLE_EQ(*m.sensitivity, 0.5);
  EXPECT_DOUBLE_EQ(*m.specificity, 1.0 / 3);
  // AUC: .9 beats 3 negatives, .4 beats 1: 4 of 6 pairs.
  EXPECT_DOUBLE_EQ(*m.auc, 4.0 / 6);
  // AP: precision 1/1 at the first positive, 2/4 at the second.
  EXPECT_DOUBLE_EQ(*m.ap, (1.0 + 0.5) / 2);
  m = binary_metrics(scores, labels, 0.85);  // only .9 is called positive
  EXPECT_DOUBLE_EQ(*m.accuracy, 4.0 / 5);
  EXPECT_DOUBLE_EQ(*m.specificity, 1.0);
  EXPECT_EQ(m.threshold, 0.85);
  // No positive: AUC, AP and SE undefined; accuracy still defined.
  m = binary_metrics({0.2, 0.7}, {0, 0});
  EXPECT_FALSE(m.auc.has_value());
  EXPECT_FALSE(m.ap.has_value());
  EXPECT_FALSE(m.sensitivity.has_value());
  EXPECT_DOUBLE_EQ(*m.accuracy, 0.5);
  EXPECT_THROW(binary_metrics({0.5}, {2}), Error);
  EXPECT_THROW(binary_metrics({0.5, 0.1}, {1}), Error);
}

}  // namespace
}  // namespace skinmtl
