// metrics/metrics.cpp: see metrics/metrics.h for the definitions and the tie rule.
#include "metrics/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "base/check.h"

namespace skinmtl {
namespace {

// Checks one ranking: same lengths, finite scores, labels 0/1.
void check_ranking(const char* what, const std::vector<double>& scores,
                   const std::vector<int>& labels) {
  SKINMTL_CHECK(scores.size() == labels.size(), what << ": " << scores.size() << " scores but "
                                                     << labels.size() << " labels");
  for (size_t i = 0; i < scores.size(); ++i) {
    SKINMTL_CHECK(std::isfinite(scores[i]), what << ": score " << i << " is not finite ("
                                                 << scores[i] << ")");
    SKINMTL_CHECK(labels[i] == 0 || labels[i] == 1,
                  what << ": label " << i << " is " << labels[i] << ", expected 0 or 1");
  }
}

// Checks that a score matrix is rectangular, (rows x cols); returns cols.
size_t check_rectangular(const char* what, const ScoreMatrix& m) {
  const size_t cols = m.empty() ? 0 : m[0].size();
  for (size_t i = 0; i < m.size(); ++i)
    SKINMTL_CHECK(m[i].size() == cols, what << ": row " << i << " has " << m[i].size()
                                            << " columns, row 0 has " << cols);
  return cols;
}

void check_matrices(const char* what, const ScoreMatrix& scores, const LabelMatrix& labels) {
  const size_t cols = check_rectangular(what, scores);
  SKINMTL_CHECK(labels.size() == scores.size(),
                what << ": " << scores.size() << " score rows but " << labels.size() << " label rows");
  for (size_t i = 0; i < labels.size(); ++i)
    SKINMTL_CHECK(labels[i].size() == cols, what << ": label row " << i << " has "
                                                 << labels[i].size() << " columns, scores have "
                                                 << cols);
}

// Item indices sorted by descending score. Items of equal score end up next to
// each other; their relative order does not matter to any caller, because the
// callers treat each run of equal scores as one block.
std::vector<size_t> by_descending_score(const std::vector<double>& scores) {
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  return order;
}

// The mean of the per-ranking APs, summed in ascending order of value rather
// than input order: floating-point addition is not associative, and summing a
// sorted copy makes the mean bit-identical under any permutation of the
// rankings (so reordering the rows of a CSV cannot change the last digit).
MapResult finish_map(std::vector<std::optional<double>> ap, std::vector<int64_t> positives) {
  MapResult r;
  std::vector<double> defined;
  for (const auto& a : ap)
    if (a) defined.push_back(*a);
  std::sort(defined.begin(), defined.end());
  double sum = 0;
  for (double a : defined) sum += a;
  r.used = static_cast<int64_t>(defined.size());
  r.excluded = static_cast<int64_t>(ap.size()) - r.used;
  if (r.used > 0) r.map = sum / static_cast<double>(r.used);
  r.ap = std::move(ap);
  r.positives = std::move(positives);
  return r;
}

}  // namespace

void require_finite_prediction(double v, const std::string& id) {
  SKINMTL_USER_CHECK(std::isfinite(v), "the model diverged: its prediction for '"
                                           << id << "' is " << v
                                           << " (not finite); resume from an earlier checkpoint "
                                              "(checkpoint.prev.safetensors) with a lower --lr");
}

std::optional<double> average_precision(const std::vector<double>& scores,
                                        const std::vector<int>& labels) {
  check_ranking("average_precision", scores, labels);
  const int64_t relevant = std::count(labels.begin(), labels.end(), 1);
  if (relevant == 0) return std::nullopt;

  // Walk the ranking block by block (a block = a run of equal scores). At the
  // end of each block the cut-off holds `seen` items, `hits` of them relevant:
  // every relevant item of the block gets precision hits / seen, and the block
  // raises the recall by block_hits / R. So AP = (1/R) sum block_hits*hits/seen.
  const std::vector<size_t> order = by_descending_score(scores);
  double sum = 0;
  int64_t seen = 0, hits = 0;
  for (size_t begin = 0; begin < order.size();) {
    size_t end = begin;
    int64_t block_hits = 0;
    while (end < order.size() && scores[order[end]] == scores[order[begin]]) {
      block_hits += labels[order[end]];
      ++end;
    }
    seen += static_cast<int64_t>(end - begin);
    hits += block_hits;
    if (block_hits > 0)
      sum += static_cast<double>(block_hits) * static_cast<double>(hits) / static_cast<double>(seen);
    begin = end;
  }
  return sum / static_cast<double>(relevant);
}

MapResult map_class(const ScoreMatrix& scores, const LabelMatrix& labels) {
  check_matrices("map_class", scores, labels);
  const size_t n = scores.size(), p = n ? scores[0].size() : 0;
  std::vector<std::optional<double>> ap(p);
  std::vector<int64_t> positives(p, 0);
  std::vector<double> column(n);
  std::vector<int> column_labels(n);
  for (size_t c = 0; c < p; ++c) {
    for (size_t i = 0; i < n; ++i) {
      column[i] = scores[i][c];
      column_labels[i] = labels[i][c];
    }
    ap[c] = average_precision(column, column_labels);
    positives[c] = std::count(column_labels.begin(), column_labels.end(), 1);
  }
  return finish_map(std::move(ap), std::move(positives));
}

MapResult map_image(const ScoreMatrix& scores, const LabelMatrix& labels) {
  check_matrices("map_image", scores, labels);
  const size_t n = scores.size();
  std::vector<std::optional<double>> ap(n);
  std::vector<int64_t> positives(n, 0);
  for (size_t i = 0; i < n; ++i) {
    ap[i] = average_precision(scores[i], labels[i]);
    positives[i] = std::count(labels[i].begin(), labels[i].end(), 1);
  }
  return finish_map(std::move(ap), std::move(positives));
}

int64_t pessimistic_rank(const std::vector<double>& scores, int64_t truth) {
  SKINMTL_CHECK(truth >= 0 && truth < static_cast<int64_t>(scores.size()),
                "pessimistic_rank: true class " << truth << " outside [0, " << scores.size() << ")");
  int64_t rank = 0;
  for (double s : scores) {
    SKINMTL_CHECK(std::isfinite(s), "pessimistic_rank: score is not finite (" << s << ")");
    if (s >= scores[truth]) ++rank;  // counts the true class itself, and every tie
  }
  return rank;
}

std::vector<TopKResult> topk_accuracy(const ScoreMatrix& scores, const std::vector<int64_t>& truth,
                                      const std::vector<int64_t>& ks) {
  check_rectangular("topk_accuracy", scores);
  SKINMTL_CHECK(truth.size() == scores.size(), "topk_accuracy: " << scores.size()
                                                   << " score rows but " << truth.size()
                                                   << " true classes");
  SKINMTL_CHECK(!scores.empty(), "topk_accuracy: no images");
  for (int64_t k : ks) SKINMTL_CHECK(k >= 1, "topk_accuracy: k must be >= 1, got " << k);

  std::vector<int64_t> ranks(scores.size());
  for (size_t i = 0; i < scores.size(); ++i) ranks[i] = pessimistic_rank(scores[i], truth[i]);

  std::vector<TopKResult> out;
  for (int64_t k : ks) {
    TopKResult r;
    r.k = k;
    r.total = static_cast<int64_t>(scores.size());
    r.correct = std::count_if(ranks.begin(), ranks.end(), [k](int64_t rank) { return rank <= k; });
    r.accuracy = static_cast<double>(r.correct) / static_cast<double>(r.total);
    out.push_back(r);
  }
  return out;
}

ScoreMatrix ensemble_max(const ScoreMatrix& a, const ScoreMatrix& b) {
  check_rectangular("ensemble_max (first)", a);
  check_rectangular("ensemble_max (second)", b);
  SKINMTL_CHECK(a.size() == b.size(),
                "ensemble_max: " << a.size() << " images vs " << b.size() << " images");
  ScoreMatrix out(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    SKINMTL_CHECK(a[i].size() == b[i].size(), "ensemble_max: " << a[i].size() << " classes vs "
                                                                << b[i].size() << " classes");
    out[i].resize(a[i].size());
    for (size_t c = 0; c < a[i].size(); ++c) out[i][c] = std::max(a[i][c], b[i][c]);
  }
  return out;
}

std::optional<double> roc_auc(const std::vector<double>& scores, const std::vector<int>& labels) {
  check_ranking("roc_auc", scores, labels);
  const int64_t pos = std::count(labels.begin(), labels.end(), 1);
  const int64_t neg = static_cast<int64_t>(labels.size()) - pos;
  if (pos == 0 || neg == 0) return std::nullopt;

  // Walk the blocks of equal score from the LOWEST up. Each positive in a block
  // beats every negative below the block (1 each) and ties with every negative
  // inside it (1/2 each). All counts are integers or halves: the sum is exact.
  std::vector<size_t> order = by_descending_score(scores);
  std::reverse(order.begin(), order.end());
  double wins = 0;
  int64_t neg_below = 0;
  for (size_t begin = 0; begin < order.size();) {
    size_t end = begin;
    int64_t block_pos = 0, block_neg = 0;
    while (end < order.size() && scores[order[end]] == scores[order[begin]]) {
      (labels[order[end]] ? block_pos : block_neg)++;
      ++end;
    }
    wins += static_cast<double>(block_pos) *
            (static_cast<double>(neg_below) + 0.5 * static_cast<double>(block_neg));
    neg_below += block_neg;
    begin = end;
  }
  return wins / (static_cast<double>(pos) * static_cast<double>(neg));
}

namespace {

// DeLong's placements (metrics.h): v10[i] for the i-th positive, v01[j] for
// the j-th negative, in the order the items are given. Each is a count of
// sorted scores below / above (and equal to) the item's: O((P + N) log(P + N)).
struct Placements {
  std::vector<double> v10, v01;
};

Placements placements(const std::vector<double>& scores, const std::vector<int>& labels) {
  std::vector<double> pos, neg;
  for (size_t i = 0; i < scores.size(); ++i) (labels[i] ? pos : neg).push_back(scores[i]);
  std::vector<double> pos_sorted = pos, neg_sorted = neg;
  std::sort(pos_sorted.begin(), pos_sorted.end());
  std::sort(neg_sorted.begin(), neg_sorted.end());
  // (number below x, number equal to x) among sorted values v.
  auto below_and_equal = [](const std::vector<double>& v, double x) {
    const auto lo = std::lower_bound(v.begin(), v.end(), x), hi = std::upper_bound(v.begin(), v.end(), x);
    return std::pair<double, double>((double)(lo - v.begin()), (double)(hi - lo));
  };
  Placements p;
  const double P = (double)pos.size(), N = (double)neg.size();
  for (double x : pos) {
    const auto [below, equal] = below_and_equal(neg_sorted, x);
    p.v10.push_back((below + 0.5 * equal) / N);
  }
  for (double y : neg) {
    const auto [below, equal] = below_and_equal(pos_sorted, y);
    p.v01.push_back((P - below - equal + 0.5 * equal) / P);  // positives above y, ties half
  }
  return p;
}

double mean(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / (double)v.size(); }

// Sample variance (divisor n - 1).
double sample_variance(const std::vector<double>& v) {
  const double m = mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return s / (double)(v.size() - 1);
}

// DeLong's SE from placements (of one model, or the differences of two):
// sqrt(S10 / P + S01 / N).
double delong_se(const std::vector<double>& v10, const std::vector<double>& v01) {
  return std::sqrt(sample_variance(v10) / (double)v10.size() + sample_variance(v01) / (double)v01.size());
}

constexpr double kZ95 = 1.959963984540054;  // the standard normal's 97.5% quantile

bool has_two_of_each(const std::vector<int>& labels) {
  const int64_t pos = std::count(labels.begin(), labels.end(), 1);
  return pos >= 2 && (int64_t)labels.size() - pos >= 2;
}

AucEstimate estimate(const Placements& p) {
  AucEstimate e;
  e.auc = mean(p.v10);
  e.se = delong_se(p.v10, p.v01);
  e.low = std::max(0.0, e.auc - kZ95 * e.se);
  e.high = std::min(1.0, e.auc + kZ95 * e.se);
  return e;
}

}  // namespace

std::optional<AucEstimate> roc_auc_delong(const std::vector<double>& scores, const std::vector<int>& labels) {
  check_ranking("roc_auc_delong", scores, labels);
  if (!has_two_of_each(labels)) return std::nullopt;
  return estimate(placements(scores, labels));
}

std::optional<AucDifference> compare_roc_auc(const std::vector<double>& scores_a,
                                             const std::vector<double>& scores_b, const std::vector<int>& labels) {
  check_ranking("compare_roc_auc (first scores)", scores_a, labels);
  check_ranking("compare_roc_auc (second scores)", scores_b, labels);
  if (!has_two_of_each(labels)) return std::nullopt;
  const Placements pa = placements(scores_a, labels), pb = placements(scores_b, labels);
  AucDifference d;
  d.a = estimate(pa);
  d.b = estimate(pb);
  d.diff = d.a.auc - d.b.auc;
  // var(A) + var(B) - 2 cov(A, B) is the variance of the placements'
  // differences: computed so, it is exactly 0 when the two rank alike.
  auto minus = [](const std::vector<double>& u, const std::vector<double>& w) {
    std::vector<double> r(u.size());
    for (size_t k = 0; k < u.size(); ++k) r[k] = u[k] - w[k];
    return r;
  };
  d.se = delong_se(minus(pa.v10, pb.v10), minus(pa.v01, pb.v01));
  d.low = d.diff - kZ95 * d.se;
  d.high = d.diff + kZ95 * d.se;
  if (d.se > 0) {
    d.z = d.diff / d.se;
    d.p = std::erfc(std::fabs(d.z) / std::sqrt(2.0));
  }
  return d;
}

namespace {

// SplitMix64 (Steele, Lea & Flood 2014): one well-mixed 64-bit value per
// (seed, stream, draw), the seed of that draw's own generator.
uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// One draw of the images: image k of the draw is image idx[k].
using Draw = std::vector<size_t>;

// The two ways of scoring a draw: mAP-class ranks the drawn images per class;
// mAP-image averages the per-image APs (an image's AP involves no other image,
// so they are computed once).
class PairedMaps {
 public:
  PairedMaps(const ScoreMatrix& a, const ScoreMatrix& b, const LabelMatrix& labels)
      : a_(a), b_(b), labels_(labels) {
    for (size_t i = 0; i < a.size(); ++i) {
      ap_image_a_.push_back(average_precision(a[i], labels[i]));
      ap_image_b_.push_back(average_precision(b[i], labels[i]));
    }
  }
  // mAP-class of the first model (first) or the second on a draw.
  std::optional<double> map_class(const Draw& d, bool first) const {
    const size_t n = d.size(), p = labels_.empty() ? 0 : labels_[0].size();
    std::vector<double> column(n);
    std::vector<int> column_labels(n);
    std::vector<std::optional<double>> ap(p);
    for (size_t c = 0; c < p; ++c) {
      for (size_t k = 0; k < n; ++k) {
        column[k] = (first ? a_ : b_)[d[k]][c];
        column_labels[k] = labels_[d[k]][c];
      }
      ap[c] = average_precision(column, column_labels);
    }
    return finish_map(std::move(ap), {}).map;  // the mean as map_class takes it
  }
  std::optional<double> map_image(const Draw& d, bool first) const {
    std::vector<std::optional<double>> ap(d.size());
    for (size_t k = 0; k < d.size(); ++k) ap[k] = (first ? ap_image_a_ : ap_image_b_)[d[k]];
    return finish_map(std::move(ap), {}).map;  // the mean as map_image takes it
  }

 private:
  const ScoreMatrix &a_, &b_;
  const LabelMatrix& labels_;
  std::vector<std::optional<double>> ap_image_a_, ap_image_b_;
};

// The p-th quantile (0..1) of sorted values, interpolated linearly between
// order statistics.
double quantile_sorted(const std::vector<double>& v, double p) {
  const double pos = p * (double)(v.size() - 1);
  const size_t lo = (size_t)std::floor(pos), hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - (double)lo) * (v[hi] - v[lo]);
}

// The bootstrap interval and p of one mAP (see the header).
template <class Metric>
std::optional<MapDifference> paired_difference(size_t n, const Metric& metric, int64_t resamples, uint64_t seed,
                                               uint64_t stream) {
  Draw all(n);
  for (size_t i = 0; i < n; ++i) all[i] = i;
  const std::optional<double> a = metric(all, true), b = metric(all, false);
  if (!a || !b) return std::nullopt;
  MapDifference d;
  d.a = *a;
  d.b = *b;
  d.diff = *a - *b;
  d.resamples = resamples;
  std::vector<double> boot((size_t)resamples, NAN);
#pragma omp parallel for schedule(dynamic, 16)
  for (int64_t r = 0; r < resamples; ++r) {
    std::mt19937_64 g(splitmix64(seed ^ splitmix64(stream * (uint64_t)resamples + (uint64_t)r)));
    Draw draw(n);
    for (size_t k = 0; k < n; ++k) draw[k] = (size_t)(g() % n);
    const std::optional<double> ba = metric(draw, true), bb = metric(draw, false);
    if (ba && bb) boot[(size_t)r] = *ba - *bb;
  }
  std::vector<double> kept;
  for (double v : boot)
    if (std::isnan(v)) ++d.skipped;
    else kept.push_back(v);
  SKINMTL_CHECK(kept.size() >= 2, "compare_map: the mAP is undefined on " << d.skipped << " of " << resamples
                                                                          << " bootstrap draws");
  double mean = 0, squares = 0;
  for (double v : kept) mean += v;
  mean /= (double)kept.size();
  for (double v : kept) squares += (v - mean) * (v - mean);
  d.se = std::sqrt(squares / (double)(kept.size() - 1));
  std::sort(kept.begin(), kept.end());
  d.low = quantile_sorted(kept, 0.025);
  d.high = quantile_sorted(kept, 0.975);
  int64_t at_or_below = 0, at_or_above = 0;
  for (double v : kept) at_or_below += v <= 0, at_or_above += v >= 0;
  d.p = std::min(1.0, 2.0 * (double)(1 + std::min(at_or_below, at_or_above)) / (double)(1 + kept.size()));
  return d;
}

// The comparison of two recipes by one mAP over K seeds (see the header).
// `metric(maps, draw, first)` scores one pair of models on a draw.
template <class Metric>
std::optional<SeedMapDifference> seed_difference(const std::vector<PairedMaps>& maps, size_t n, const Metric& metric,
                                                 int64_t resamples, uint64_t seed, uint64_t stream) {
  const size_t k = maps.size();
  // The mean over the K seeds of each recipe's mAP on a draw: the bootstrap's
  // difference of these is D*.
  auto mean_of = [&](const Draw& d, bool first) -> std::optional<double> {
    double sum = 0;
    for (const PairedMaps& m : maps) {
      const std::optional<double> v = metric(m, d, first);
      if (!v) return std::nullopt;
      sum += *v;
    }
    return sum / (double)k;
  };
  const std::optional<MapDifference> boot = paired_difference(n, mean_of, resamples, seed, stream);
  if (!boot) return std::nullopt;
  SeedMapDifference r;
  Draw all(n);
  for (size_t i = 0; i < n; ++i) all[i] = i;
  std::vector<double> diffs;
  for (const PairedMaps& m : maps) {
    r.a.push_back(*metric(m, all, true));  // defined: the mean over all the images was
    r.b.push_back(*metric(m, all, false));
    diffs.push_back(r.a.back() - r.b.back());
  }
  r.mean_a = boot->a;
  r.mean_b = boot->b;
  r.diff = boot->diff;
  double squares = 0;
  for (double v : diffs) squares += (v - r.diff) * (v - r.diff);
  r.sd_training = std::sqrt(squares / (double)(k - 1));
  r.se_training = r.sd_training / std::sqrt((double)k);
  r.se_images = boot->se;
  r.se = std::sqrt(r.se_training * r.se_training + r.se_images * r.se_images);
  r.df = (double)(k - 1);
  const double t = student_t_quantile(0.975, r.df);
  r.low = r.diff - t * r.se;
  r.high = r.diff + t * r.se;
  // Two tails, from the lower one (1 - cdf would lose a small p to rounding).
  r.p = r.se > 0 ? 2 * student_t_cdf(-std::fabs(r.diff) / r.se, r.df) : (r.diff == 0 ? 1.0 : 0.0);
  r.resamples = boot->resamples;
  r.skipped = boot->skipped;
  return r;
}

// I_x(a, b), the regularized incomplete beta function, by its continued
// fraction (Abramowitz & Stegun 26.5.8) evaluated with Lentz's method: the
// fraction converges fast for x < (a + 1) / (a + b + 2), and the symmetry
// I_x(a, b) = 1 - I_(1-x)(b, a) covers the other side.
double incomplete_beta(double x, double a, double b) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  if (x > (a + 1) / (a + b + 2)) return 1 - incomplete_beta(1 - x, b, a);
  const double front =
      std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x)) / a;
  // 1 / (1 + c1 / (1 + c2 / (1 + ...))), with c_(2m+1) = -(a+m)(a+b+m) x / ((a+2m)(a+2m+1))
  // and c_(2m) = m (b-m) x / ((a+2m-1)(a+2m)); Lentz: f = product of C_i D_i.
  const double tiny = 1e-300;
  double f = 1, c = 1, d = 0;
  for (int i = 0; i <= 1000; ++i) {
    const double m = (double)(i / 2);
    const double coefficient = i == 0       ? 1.0
                               : i % 2 == 0 ? m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
                                            : -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1));
    d = 1 + coefficient * d;
    d = 1 / (std::fabs(d) < tiny ? tiny : d);
    c = 1 + coefficient / c;
    if (std::fabs(c) < tiny) c = tiny;
    f *= c * d;
    if (std::fabs(1 - c * d) < 1e-15) return front * (f - 1);
  }
  SKINMTL_FAIL("incomplete_beta(" << x << ", " << a << ", " << b << "): the continued fraction did not converge");
}

}  // namespace

double student_t_cdf(double t, double nu) {
  SKINMTL_CHECK(nu > 0 && !std::isnan(t), "student_t_cdf: needs nu > 0 and a number t, got nu " << nu << ", t " << t);
  if (std::isinf(nu) || nu > 1e9) return 0.5 * std::erfc(-t / std::sqrt(2.0));
  // P(|T| > |t|) = I_(nu / (nu + t^2))(nu / 2, 1 / 2).
  const double tail = 0.5 * incomplete_beta(nu / (nu + t * t), nu / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

double student_t_quantile(double p, double nu) {
  SKINMTL_CHECK(p > 0 && p < 1 && nu > 0, "student_t_quantile: needs 0 < p < 1 and nu > 0, got p " << p << ", nu "
                                                                                                 << nu);
  if (p < 0.5) return -student_t_quantile(1 - p, nu);
  // Bisection on the CDF, which rises from 0.5 at t = 0.
  double low = 0, high = 1;
  while (student_t_cdf(high, nu) < p) high *= 2;
  for (int i = 0; i < 200 && high - low > 1e-13 * high; ++i) {
    const double mid = 0.5 * (low + high);
    (student_t_cdf(mid, nu) < p ? low : high) = mid;
  }
  return 0.5 * (low + high);
}

SeedMapComparison compare_map_seeds(const std::vector<ScoreMatrix>& scores_a, const std::vector<ScoreMatrix>& scores_b,
                                    const LabelMatrix& labels, int64_t resamples, uint64_t seed) {
  SKINMTL_CHECK(scores_a.size() == scores_b.size(), "compare_map_seeds: " << scores_a.size() << " seeds of the first "
                                                        "recipe but " << scores_b.size() << " of the second");
  SKINMTL_CHECK(scores_a.size() >= 2, "compare_map_seeds: needs at least 2 seeds of each recipe, got "
                                          << scores_a.size() << " (one seed: compare_map)");
  SKINMTL_CHECK(resamples >= 100, "compare_map_seeds: at least 100 resamples, got " << resamples);
  std::vector<PairedMaps> maps;
  maps.reserve(scores_a.size());
  for (size_t s = 0; s < scores_a.size(); ++s) {
    const std::string seed_s = std::to_string(s + 1);
    check_matrices(("compare_map_seeds (first recipe, seed " + seed_s + ")").c_str(), scores_a[s], labels);
    check_matrices(("compare_map_seeds (second recipe, seed " + seed_s + ")").c_str(), scores_b[s], labels);
    maps.emplace_back(scores_a[s], scores_b[s], labels);
  }
  const size_t n = labels.size();
  SeedMapComparison c;
  c.map_class = seed_difference(
      maps, n, [](const PairedMaps& m, const Draw& d, bool first) { return m.map_class(d, first); }, resamples, seed,
      0);
  c.map_image = seed_difference(
      maps, n, [](const PairedMaps& m, const Draw& d, bool first) { return m.map_image(d, first); }, resamples, seed,
      1);
  return c;
}

MapComparison compare_map(const ScoreMatrix& scores_a, const ScoreMatrix& scores_b, const LabelMatrix& labels,
                          int64_t resamples, uint64_t seed) {
  check_matrices("compare_map (first scores)", scores_a, labels);
  check_matrices("compare_map (second scores)", scores_b, labels);
  SKINMTL_CHECK(resamples >= 100, "compare_map: at least 100 resamples, got " << resamples);
  const PairedMaps maps(scores_a, scores_b, labels);
  const size_t n = labels.size();
  MapComparison c;
  c.map_class = paired_difference(
      n, [&](const Draw& d, bool first) { return maps.map_class(d, first); }, resamples, seed, 0);
  c.map_image = paired_difference(
      n, [&](const Draw& d, bool first) { return maps.map_image(d, first); }, resamples, seed, 1);
  return c;
}

MapDifference compare_paired_means(const std::vector<double>& values_a, const std::vector<double>& values_b,
                                   int64_t resamples, uint64_t seed) {
  const size_t n = values_a.size();
  SKINMTL_CHECK(n >= 1 && values_b.size() == n,
                "compare_paired_means: two lists of one length >= 1, got " << n << " and " << values_b.size());
  for (size_t i = 0; i < n; ++i)
    SKINMTL_CHECK(std::isfinite(values_a[i]) && std::isfinite(values_b[i]),
                  "compare_paired_means: item " << i << " has a value that is not finite");
  SKINMTL_CHECK(resamples >= 100, "compare_paired_means: at least 100 resamples, got " << resamples);
  auto mean = [&](const Draw& d, bool first) -> std::optional<double> {
    const std::vector<double>& v = first ? values_a : values_b;
    double sum = 0;
    for (size_t i : d) sum += v[i];
    return sum / (double)d.size();
  };
  return *paired_difference(n, mean, resamples, seed, 0);
}

ThresholdStats threshold_stats(const std::vector<double>& scores, const std::vector<int>& labels,
                               double threshold) {
  check_ranking("threshold_stats", scores, labels);
  ThresholdStats r;
  for (size_t i = 0; i < scores.size(); ++i) {
    const bool predicted = scores[i] >= threshold;
    if (labels[i])
      (predicted ? r.tp : r.fn)++;
    else
      (predicted ? r.fp : r.tn)++;
  }
  if (r.tp + r.fn > 0) r.sensitivity = static_cast<double>(r.tp) / static_cast<double>(r.tp + r.fn);
  if (r.tn + r.fp > 0) r.specificity = static_cast<double>(r.tn) / static_cast<double>(r.tn + r.fp);
  return r;
}

}  // namespace skinmtl
