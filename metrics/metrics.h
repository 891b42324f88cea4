// metrics/metrics.h: the evaluation metrics of the Liao & Luo (2016) skin-lesion
// classifier, in plain C++ on std::vector (no tensors: scores come from files
// or from a finished forward pass).
//
// Conventions
//   - A score matrix is indexed scores[image][class]; a label matrix has the
//     same shape and holds 0 or 1. Both must be rectangular; every function
//     checks its inputs and throws skinmtl::Error with a clear message.
//   - Scores must be finite (a NaN has no place in a ranking).
//   - A metric that is undefined for its input (AP of a ranking with no
//     relevant item, AUC with no positive or no negative, ...) is returned as
//     an empty std::optional, never as a made-up number.
//
// Average precision (Liao & Luo, the summand of eqs. 9 and 10)
//   AP = sum_j p(j) * delta_r(j), the sum running over the cut-offs j of the
//   ranking: p(j) is the precision of the top j items and delta_r(j) the recall
//   gained from cut-off j-1 to j. Without ties this is the textbook definition:
//   the precision at the rank of each relevant item, averaged over the R
//   relevant items. It is the NON-interpolated AP (no "max precision at higher
//   recall" envelope as in VOC 2010): the paper's formula has none.
//
// TIES (the rule this file implements, for AP, mAP and top-k alike)
//   Items with exactly equal scores form a tied block that is ranked TOGETHER:
//   a cut-off can only fall between blocks, because a classifier that gives
//   two items the same score has no threshold separating them. So for every
//   relevant item of a tied block we use the precision at the END of the block
//   (all items scoring >= its score). Equivalently:
//       AP = (1/R) * sum over relevant items i of
//            #{relevant k : s_k >= s_i} / #{all k : s_k >= s_i}.
//   This is pessimistic (a tied block never gets the benefit of the doubt),
//   deterministic, and independent of the order in which the items are given.
//   It is also what scikit-learn's average_precision_score computes (its
//   thresholds are the distinct scores), so numbers can be cross-checked.
//   Example: scores [0.9, 0.5, 0.5, 0.1], labels [0, 1, 0, 1]:
//     blocks {0.9: -}, {0.5: +,-}, {0.1: +}; the + at 0.5 sees precision 1/3,
//     the + at 0.1 sees 2/4, so AP = (1/3 + 1/2) / 2 = 5/12, whichever of the
//     two tied items comes first in the input (a plain sort would give 1/2 or
//     5/12 depending on that order).
//
// mAP-class (eq. 9): for each class, rank all images by that class's score and
//   take the AP; average over the classes that have at least one positive
//   image. mAP-image (eq. 10): for each image, rank all classes by their score
//   and take the AP; average over the images with at least one positive class.
//   Rankings with no positive are excluded from the mean and counted.
//
// Top-k accuracy (single-label tasks, e.g. body location): the rank of the
//   true class is the number of classes scoring >= its score (itself
//   included), i.e. the tie rule above: it is ranked at the END of its tied
//   block. The prediction is correct at k when that rank <= k. So a class
//   tied with the k-th score counts as inside only when its whole tied block
//   fits inside the top k; constant scores over C classes give top-k = 0 for
//   every k < C (no credit for a classifier that cannot decide).
//
// AUC (ROC): the probability that a random positive scores above a random
//   negative, ties counted half (the Mann-Whitney U statistic / (P * N)).
//   Constant scores give exactly 0.5.
//
// Sensitivity / specificity at a threshold t: an item is predicted positive
//   when score >= t. sensitivity = TP / (TP + FN), specificity = TN / (TN + FP).
//
// Ensemble (the paper's "Ensemble" column of Table 1): per image, per class,
//   the max of the two models' scores.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace skinmtl {

using ScoreMatrix = std::vector<std::vector<double>>;  // [image][class]
using LabelMatrix = std::vector<std::vector<int>>;     // [image][class], 0 or 1

// AP of one ranking (scores and 0/1 labels of the same length), under the tie
// rule above. Empty when no label is 1.
std::optional<double> average_precision(const std::vector<double>& scores,
                                        const std::vector<int>& labels);

// The result of mAP-class or mAP-image. One entry per ranking (per class for
// map_class, per image for map_image), in the order of the input.
struct MapResult {
  std::optional<double> map;                 // mean AP over rankings with a positive; empty if none has
  std::vector<std::optional<double>> ap;     // AP of each ranking (empty: no positive)
  std::vector<int64_t> positives;            // number of positives in each ranking
  int64_t used = 0;                          // rankings that entered the mean
  int64_t excluded = 0;                      // rankings with no positive, left out of the mean
};

// Eq. 9: per class, the AP of its ranking of the images; mean over classes.
MapResult map_class(const ScoreMatrix& scores, const LabelMatrix& labels);

// Eq. 10: per image, the AP of its ranking of the classes; mean over images.
MapResult map_image(const ScoreMatrix& scores, const LabelMatrix& labels);

// Rank of class `truth` in one row of scores under the tie rule above: the
// number of classes whose score is >= scores[truth] (1 = strictly best).
int64_t pessimistic_rank(const std::vector<double>& scores, int64_t truth);

struct TopKResult {
  int64_t k = 0;
  int64_t correct = 0;   // images whose true class has rank <= k
  int64_t total = 0;     // images
  double accuracy = 0;   // correct / total
};

// Top-k accuracy of single-label predictions for each k in `ks` (each >= 1):
// truth[i] is the true class index of image i.
std::vector<TopKResult> topk_accuracy(const ScoreMatrix& scores, const std::vector<int64_t>& truth,
                                      const std::vector<int64_t>& ks);

// The paper's ensemble: out[i][c] = max(a[i][c], b[i][c]). Shapes must match.
ScoreMatrix ensemble_max(const ScoreMatrix& a, const ScoreMatrix& b);

// ROC AUC of binary labels, ties counted half. Empty when there is no
// positive or no negative.
std::optional<double> roc_auc(const std::vector<double>& scores, const std::vector<int>& labels);

// ---- how sure an AUC is: DeLong et al. (1988) ------------------------------
//
// With P positives x_1..x_P and N negatives y_1..y_N, and
// psi(x, y) = 1 if x > y, 1/2 if x == y, 0 if x < y, each item has a
// "placement" (its structural component):
//   V10_i = (1/N) sum_j psi(x_i, y_j)   the share of negatives positive i beats,
//   V01_j = (1/P) sum_i psi(x_i, y_j)   the share of positives that beat negative j,
// and AUC = mean_i V10_i = mean_j V01_j (= roc_auc). Its variance is estimated
//   var(AUC) = S10 / P + S01 / N,
// S10 the sample variance of the V10 (divisor P - 1), S01 that of the V01.
// Two models scored on the SAME items are correlated; the variance of their
// difference takes the sample covariances of their placements:
//   var(A - B) = var(A) + var(B) - 2 (C10 / P + C01 / N),
// computed as the same variance of the placements' differences V10a - V10b
// and V01a - V01b (equal, and exactly 0 for two models that rank alike).
// Intervals are normal: estimate +- 1.959964 SE (95%); a single AUC's is
// clipped to [0, 1]. p is two-sided, from z = (A - B) / SE(A - B); where
// SE(A - B) is 0 (the two rank every pair alike) z = 0 and p = 1.
// DeLong, DeLong & Clarke-Pearson, "Comparing the areas under two or more
// correlated receiver operating characteristic curves: a nonparametric
// approach", Biometrics 44(3), 1988.
struct AucEstimate {
  double auc = 0, se = 0;
  double low = 0, high = 0;  // 95% interval
};
// Empty without at least two positives and two negatives (no variance).
std::optional<AucEstimate> roc_auc_delong(const std::vector<double>& scores, const std::vector<int>& labels);

struct AucDifference {
  AucEstimate a, b;
  double diff = 0, se = 0;   // A - B and its standard error
  double low = 0, high = 0;  // 95% interval of A - B
  double z = 0, p = 1;       // two-sided test of A == B
};
// scores_a and scores_b score the same items (the same labels); empty as above.
std::optional<AucDifference> compare_roc_auc(const std::vector<double>& scores_a,
                                             const std::vector<double>& scores_b, const std::vector<int>& labels);

// ---- how sure a difference of two mAPs is: the paired bootstrap ------------
//
// Two models scored on the SAME images have two mAPs (eq. 9 or 10) whose
// difference D = mAP(A) - mAP(B) has no closed-form standard error: an AP is
// a ratio of ranks, and mAP-class ties every image to every other through the
// rankings. So it is resampled (Efron & Tibshirani, "An Introduction to the
// Bootstrap", 1993, chs. 13 and 16): draw n of the n images with replacement,
// an image's two score rows always together (the comparison is paired), and
// compute D* on the draw; R draws.
//   - 95% interval of D: the 2.5th to the 97.5th percentile of the D*
//     (linear interpolation between order statistics; the percentile
//     interval).
//   - p of "the two are equally good", two-sided, the test that this
//     interval inverts: p = min(1, 2 (1 + #{D* <= 0} or #{D* >= 0},
//     whichever is smaller) / (1 + R)); p < 0.05 where the 95% interval
//     leaves out 0 (up to the +1s, which keep p above 0). Never below
//     2 / (1 + R) (R = 2000: 0.001).
// (A randomization test, swapping an image's two rows, is exact for
// mAP-image but not for mAP-class, whose rankings mix the two models' scores
// across images when rows are swapped: two models with different score
// scales then look alike whatever their rankings. The bootstrap treats both
// alike.)
// A draw on which a mAP is undefined (no ranking with a positive) is left out
// and counted in `skipped`. Each draw has its own generator, seeded from
// (seed, draw), so the result does not depend on the number of threads. A
// duplicated image ties with itself: the tie rule above ranks its copies as
// one block.
struct MapDifference {
  double a = 0, b = 0;       // the two models' mAP on all the images
  double diff = 0;           // a - b
  double low = 0, high = 0;  // 95% paired bootstrap interval of a - b
  double p = 1;              // two-sided bootstrap test of a == b
  double se = 0;             // the standard deviation of the draws' differences (bootstrap standard error)
  int64_t resamples = 0;     // R
  int64_t skipped = 0;       // draws left out (a mAP undefined on them)
};
struct MapComparison {
  std::optional<MapDifference> map_class, map_image;  // empty where a mAP is undefined on all the images
};
// scores_a and scores_b score the same images (rows) and classes (columns) as
// `labels`. resamples >= 100.
MapComparison compare_map(const ScoreMatrix& scores_a, const ScoreMatrix& scores_b, const LabelMatrix& labels,
                          int64_t resamples = 2000, uint64_t seed = 1);

// ---- how sure a difference of two means over the same items is -------------
//
// Per-item values of two models on the same n items, e.g. each image's
// Jaccard index under two models' masks (or one model's, with and without
// test-time augmentation): a = the mean of values_a, b = the mean of
// values_b, and the same paired bootstrap as compare_map (the items drawn
// with replacement, an item's two values together; the percentile interval;
// p as there). The mean of a draw is always defined, so `skipped` is 0.
// values_a and values_b: the same length n >= 1, finite. resamples >= 100.
MapDifference compare_paired_means(const std::vector<double>& values_a, const std::vector<double>& values_b,
                                   int64_t resamples = 2000, uint64_t seed = 1);

// ---- how sure a difference of two RECIPES is: several training runs --------
//
// compare_map holds the two trained models fixed: its interval is the held-out
// images' luck only. Training again with another seed (other initial head
// weights, other batches and crops) moves a model's mAP as well, and can move
// it more (README, the Liao & Luo section: 0.04 to 0.06 mAP-class). "Recipe A
// beats recipe B" is a claim about the mean over training runs. With K >= 2
// seeds of each recipe, all scored on the same images:
//   d_s = mAP(A_s) - mAP(B_s) on all the images;  D = the mean of the d_s.
// D's variance has two parts, taken as independent:
//   training  s^2 / K, s the sample standard deviation of the d_s (the images
//             are the same for every seed, so the d_s differ by training only;
//             K - 1 degrees of freedom)
//   images    se_images^2, the variance of D* over paired bootstrap draws of
//             the images, each draw scoring all 2K models on the same images
//   se = sqrt(s^2 / K + se_images^2)
// 95% interval: D +- t(K - 1, 0.975) se; p = 2 (1 - T_(K-1)(|D| / se)), T
// Student's t distribution with the K - 1 degrees of freedom of s. Both parts
// at full weight lean wide (each seed's d_s already carries some of the
// images' luck, and the images' part some of the seeds' spread), so the test
// is conservative: over 400 simulated pairs of identical recipes (2, 3 or 5
// seeds; seed spread small or large; images shared by all runs) it rejected
// in 0 to 5.8% of them. Satterthwaite's degrees of freedom, tried first,
// rejected in up to 13.5%: estimated from so few seeds, they are large
// exactly when s came out small. With two or three seeds the t quantile is
// large (12.7 for 1 degree of freedom, 4.3 for 2): a few seeds cannot settle
// a small difference, and the interval says so.
struct SeedMapDifference {
  std::vector<double> a, b;  // each seed's mAP on all the images, in seed order
  double mean_a = 0, mean_b = 0;
  double diff = 0;           // D = mean_a - mean_b, the mean of the per-seed differences
  double sd_training = 0;    // s, the sample standard deviation of the per-seed differences
  double se_training = 0;    // s / sqrt(K)
  double se_images = 0;      // the bootstrap's standard error of D over the images
  double se = 0;             // sqrt(se_training^2 + se_images^2)
  double df = 0;             // K - 1, the t distribution's degrees of freedom
  double low = 0, high = 0;  // 95% interval of the recipes' difference
  double p = 1;              // two-sided test of "the recipes are equally good"
  int64_t resamples = 0, skipped = 0;  // as in MapDifference
};
struct SeedMapComparison {
  std::optional<SeedMapDifference> map_class, map_image;  // empty where a mAP is undefined on all the images
};
// scores_a[s] and scores_b[s]: seed s of each recipe, on the images (rows) and
// classes (columns) of `labels`. The same number K >= 2 of each; a seed of A
// is paired with the seed of B at the same position (both trained with the
// same seed, in a recipe that seeds them alike). resamples >= 100.
SeedMapComparison compare_map_seeds(const std::vector<ScoreMatrix>& scores_a, const std::vector<ScoreMatrix>& scores_b,
                                    const LabelMatrix& labels, int64_t resamples = 2000, uint64_t seed = 1);

// Student's t distribution with nu > 0 degrees of freedom (nu = infinity: the
// standard normal): P(T <= t), and its inverse for 0 < p < 1.
double student_t_cdf(double t, double nu);
double student_t_quantile(double p, double nu);

// Throws "the model diverged: its prediction for 'ID' is nan (not finite); ..."
// unless v is finite: what a held-out evaluation or `eval` says about a
// diverged model's outputs, instead of a metric failing later on a bare score.
void require_finite_prediction(double v, const std::string& id);

struct ThresholdStats {
  int64_t tp = 0, fp = 0, tn = 0, fn = 0;
  std::optional<double> sensitivity;  // TP / (TP + FN); empty when there is no positive
  std::optional<double> specificity;  // TN / (TN + FP); empty when there is no negative
};

// Confusion counts, sensitivity and specificity when score >= threshold means
// "predicted positive".
ThresholdStats threshold_stats(const std::vector<double>& scores, const std::vector<int>& labels,
                               double threshold);

}  // namespace skinmtl
