// metrics/metrics.cpp: see metrics/metrics.h for the definitions and the tie rule.
#include "metrics/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>

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
