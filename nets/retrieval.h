// nets/retrieval.h: image retrieval by nearest neighbours in feature space, as
// Liao & Luo (2016) show it in Figure 3 columns D to H (the picture itself is
// drawn by figures/retrieval_sheet.h).
//
// Liao & Luo take the output of the last pooling layer (pool5, 2048 values for
// ResNet-50; nets/resnet50.h features()) as an image's feature vector, compare
// each test image's features with those of every training image, and show the
// 5 nearest in Euclidean distance. "If a retrieved image matches at least one
// label of the query image, we annotate it with a green solid frame.
// Otherwise, we annotate it with a red dotted frame."
//
// Search (nearest_neighbours): exact, brute force. For every query q and
// database item m the squared distance sum_d (q_d - x_d)^2 is computed in
// double precision directly from the differences, never through the expansion
// |q|^2 - 2 q.x + |x|^2, which cancels catastrophically for near points and can
// make a point's distance to itself nonzero. The k smallest are returned in
// increasing distance; EQUAL distances are ordered by the lower database index
// first (so the result is deterministic, and a duplicate of the query found
// twice comes out in index order). Queries run in parallel (OpenMP); each
// query's answer is independent of the thread count.
// Cost: Q * M * D multiply-adds, e.g. 2000 queries x 8000 training images x
// 2048 features = 3.3e10, tens of seconds on a few cores.
#pragma once

#include <cstdint>
#include <vector>

#include "framework/tensor.h"

namespace skinmtl {

struct Neighbour {
  int64_t index;    // row of the database
  double distance;  // Euclidean (not squared)
};

// The k nearest database rows of each query: result[q] holds k Neighbours in
// increasing distance (ties: lower index first).
//   database (M, D), queries (Q, D): float32 or float64, any device (copied to
//   the CPU explicitly). 1 <= k <= M.
// Errors: ranks other than 2, D mismatch, k out of range, non-finite features.
std::vector<std::vector<Neighbour>> nearest_neighbours(const Tensor& database,
                                                       const Tensor& queries, int k);

// True when the two label lists (lesion class indices) share at least one label.
bool shares_label(const std::vector<int>& a, const std::vector<int>& b);

}  // namespace skinmtl
