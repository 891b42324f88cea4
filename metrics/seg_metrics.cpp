// metrics/seg_metrics.cpp: see metrics/seg_metrics.h for the definitions and the
// conventions for empty cases.
#include "metrics/seg_metrics.h"

#include <algorithm>

#include "base/check.h"

namespace skinmtl {

SegCounts seg_counts(const Image& pred, const Image& truth, int threshold) {
  SKINMTL_CHECK(pred.channels == 1 && truth.channels == 1,
                "seg_counts: masks must have 1 channel, got " << pred.str() << " (prediction) and "
                                                              << truth.str() << " (truth)");
  SKINMTL_CHECK(pred.height == truth.height && pred.width == truth.width,
                "seg_counts: the prediction is " << pred.height << "x" << pred.width
                                                 << " but the truth is " << truth.height << "x"
                                                 << truth.width);
  SKINMTL_CHECK(threshold >= 1 && threshold <= 255,
                "seg_counts: the threshold must be in 1..255, got " << threshold);
  SegCounts c;
  for (size_t i = 0; i < pred.data.size(); ++i) {
    const bool p = pred.data[i] >= threshold, t = truth.data[i] >= threshold;
    if (t) (p ? c.tp : c.fn)++;
    else (p ? c.fp : c.tn)++;
  }
  return c;
}

SegScores seg_scores(const SegCounts& c) {
  SKINMTL_CHECK(c.tp >= 0 && c.fp >= 0 && c.tn >= 0 && c.fn >= 0 && c.pixels() > 0,
                "seg_scores: counts must be >= 0 and not all 0, got TP " << c.tp << " FP " << c.fp
                                                                          << " TN " << c.tn << " FN " << c.fn);
  SegScores s;
  const int64_t wrong = c.fp + c.fn;
  // No lesion in truth or prediction: a perfect answer, JA = DI = 1.
  s.ja = c.tp + wrong == 0 ? 1.0 : (double)c.tp / (double)(c.tp + wrong);
  s.di = c.tp + wrong == 0 ? 1.0 : 2.0 * (double)c.tp / (double)(2 * c.tp + wrong);
  s.ac = (double)(c.tp + c.tn) / (double)c.pixels();
  if (c.tp + c.fn > 0) s.se = (double)c.tp / (double)(c.tp + c.fn);
  if (c.tn + c.fp > 0) s.sp = (double)c.tn / (double)(c.tn + c.fp);
  return s;
}

SegMetrics seg_metrics(const std::vector<SegCounts>& counts) {
  SegMetrics m;
  m.images = (int64_t)counts.size();
  double ja = 0, di = 0, ac = 0, se = 0, sp = 0, tja = 0;
  int64_t n_se = 0, n_sp = 0;
  for (const SegCounts& c : counts) {
    const SegScores s = seg_scores(c);
    m.per_image.push_back(s);
    ja += s.ja;
    di += s.di;
    ac += s.ac;
    if (s.ja < kThresholdedJaccardCutoff) ++m.ja_below_cutoff;
    tja += thresholded_jaccard(s.ja);
    if (s.se) se += *s.se, ++n_se;
    else ++m.se_excluded;
    if (s.sp) sp += *s.sp, ++n_sp;
    else ++m.sp_excluded;
  }
  if (m.images > 0) {
    m.ja = ja / m.images;
    m.di = di / m.images;
    m.ac = ac / m.images;
    m.thresholded_ja = tja / m.images;
  }
  if (n_se > 0) m.se = se / n_se;
  if (n_sp > 0) m.sp = sp / n_sp;
  return m;
}

BinaryMetrics binary_metrics(const std::vector<double>& scores, const std::vector<int>& labels,
                             double threshold) {
  BinaryMetrics m;
  m.threshold = threshold;
  m.at_threshold = threshold_stats(scores, labels, threshold);  // checks the inputs
  m.n = (int64_t)scores.size();
  m.positives = std::count(labels.begin(), labels.end(), 1);
  if (m.n > 0) m.accuracy = (double)(m.at_threshold.tp + m.at_threshold.tn) / (double)m.n;
  m.auc = roc_auc(scores, labels);
  m.ap = average_precision(scores, labels);
  m.sensitivity = m.at_threshold.sensitivity;
  m.specificity = m.at_threshold.specificity;
  return m;
}

}  // namespace skinmtl
