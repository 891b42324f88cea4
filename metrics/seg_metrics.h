// metrics/seg_metrics.h: the segmentation metrics of ISIC 2017 Part 1 (Song et
// al. 2019, eq. 7) and the binary classification metrics of Part 3 (Song's
// Sec. IV-C; Yang et al. 2017), in plain C++.
//
// ---- segmentation, per image -------------------------------------------------------------------
//
// From a predicted and a ground-truth binary mask of one image (lesion where
// the value is >= 128, io/letterbox.h kMaskThreshold), counting pixels:
//   TP lesion in both, FP predicted lesion on background, FN lesion missed,
//   TN background in both. Then (Song eq. 7; Codella et al. 2018, ISIC 2017):
//
//     JA = TP / (TP + FN + FP)          Jaccard index
//     DI = 2 TP / (2 TP + FN + FP)      Dice coefficient
//     AC = (TP + TN) / (TP + FP + TN + FN)   pixel accuracy
//     SE = TP / (TP + FN)               sensitivity
//     SP = TN / (TN + FP)               specificity
//
// "We compute these metrics for each tested dermoscopy image and then report
// the averaged values" (Song Sec. IV-C): every metric is a per-image value,
// then the mean over images (not pixels pooled over the set).
//
// Empty cases (a convention, stated because the formulas divide by zero):
//   - TP + FP + FN = 0 (no lesion in the truth and none predicted): the
//     prediction is perfect, JA = DI = 1. Every image counts in the JA, DI and
//     AC means (AC's denominator is the image's pixel count, never 0).
//   - TP + FN = 0 (no lesion in the truth): SE is undefined for that image and
//     left out of the SE mean; SegMetrics says how many were left out.
//   - TN + FP = 0 (the truth is lesion everywhere): SP likewise.
//   A mean over no image at all is empty (std::nullopt), never a made-up 0.
//
// Thresholded Jaccard: each image's JA, replaced by 0 when below 0.65, then
// the mean over images. This is the ranking metric of the ISIC 2018 Task 1
// lesion segmentation challenge (Codella et al. 2019, arXiv:1902.03368), which
// reused the 2017 Part 1 data; ISIC 2017 itself ranked by the plain mean JA.
// It rewards methods that never fail badly on an image.
//
// ---- binary classification ---------------------------------------------------------------------
//
// binary_metrics(scores, labels, t): label 1 = positive = the disease asked
// about (melanoma; seborrheic keratosis; malignant), ISIC's convention.
//   AC  = (TP + TN) / N at threshold t (predicted positive when score >= t),
//   SE  = TP / (TP + FN), SP = TN / (TN + FP) at t,
//   AUC = ROC area, ties counted half; AP = non-interpolated average
//         precision with the pessimistic tie rule (both from metrics/metrics.h,
//         which states them in full).
// Caution: Song et al. Sec. IV-C call the BENIGN class "TP" in their
// classification numbers (correctly classified benign = TP), so their SE is
// our SP and vice versa; AC, AUC do not depend on the choice (AP does).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "io/image.h"
#include "metrics/metrics.h"

namespace skinmtl {

constexpr double kThresholdedJaccardCutoff = 0.65;
// One image's term of the thresholded Jaccard: its JA, or 0 below the cutoff.
inline double thresholded_jaccard(double ja) { return ja < kThresholdedJaccardCutoff ? 0.0 : ja; }

// Pixel counts of one image.
struct SegCounts {
  int64_t tp = 0, fp = 0, tn = 0, fn = 0;
  int64_t pixels() const { return tp + fp + tn + fn; }
};

// Counts pred against truth: both 1-channel masks of one size (else a
// skinmtl::Error naming both sizes); lesion where value >= threshold (each
// in 1..255).
SegCounts seg_counts(const Image& pred, const Image& truth, int threshold = 128);

// One image's metrics (eq. 7 with the empty-case conventions above).
struct SegScores {
  double ja = 0, di = 0, ac = 0;
  std::optional<double> se, sp;  // empty when undefined for this image
};
SegScores seg_scores(const SegCounts& c);

// The means over images.
struct SegMetrics {
  int64_t images = 0;
  std::optional<double> ja, di, ac;   // mean over every image (empty only with 0 images)
  std::optional<double> se, sp;       // mean over the images where defined
  int64_t se_excluded = 0;            // images without truth lesion pixels (no SE)
  int64_t sp_excluded = 0;            // images without truth background pixels (no SP)
  std::optional<double> thresholded_ja;  // mean of (JA < 0.65 ? 0 : JA)
  int64_t ja_below_cutoff = 0;        // images whose JA was replaced by 0
  std::vector<SegScores> per_image;   // in the input order
};
SegMetrics seg_metrics(const std::vector<SegCounts>& counts);

// Binary classification at a threshold.
struct BinaryMetrics {
  int64_t n = 0, positives = 0;
  double threshold = 0.5;
  ThresholdStats at_threshold;        // TP, FP, TN, FN, SE, SP (metrics/metrics.h)
  std::optional<double> accuracy;     // empty with no item
  std::optional<double> auc;          // empty without a positive or without a negative
  std::optional<double> ap;           // empty without a positive
  std::optional<double> sensitivity;  // = at_threshold.sensitivity
  std::optional<double> specificity;  // = at_threshold.specificity
};
BinaryMetrics binary_metrics(const std::vector<double>& scores, const std::vector<int>& labels,
                             double threshold = 0.5);

}  // namespace skinmtl
