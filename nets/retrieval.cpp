// Nearest-neighbour retrieval: see nets/retrieval.h.
#include "nets/retrieval.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>

#include "base/check.h"

namespace skinmtl {
namespace {

// The exact search for one element type (both matrices of the same type).
template <typename T>
std::vector<std::vector<Neighbour>> search(const T* db,  // (M, D)
                                           const T* q,   // (Q, D)
                                           int64_t M, int64_t Q, int64_t D, int k) {
  std::vector<std::vector<Neighbour>> result(Q);
#pragma omp parallel
  {
    // (squared distance, index): compared lexicographically, which is the
    // documented order (distance, then lower index first).
    std::vector<std::pair<double, int64_t>> cand((size_t)M);
#pragma omp for schedule(dynamic, 4)
    for (int64_t i = 0; i < Q; ++i) {
      const T* qi = q + i * D;
      for (int64_t m = 0; m < M; ++m) {
        const T* xm = db + m * D;
        // Four running sums (features d = 0, 1, 2, 3 mod 4) give the CPU
        // independent additions to overlap. The order of the additions is
        // fixed by this code alone (no -ffast-math, no alignment-dependent
        // vector peeling), so identical vectors give exactly equal distances.
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int64_t d = 0;
        for (; d + 4 <= D; d += 4) {
          const double e0 = (double)qi[d] - (double)xm[d];
          const double e1 = (double)qi[d + 1] - (double)xm[d + 1];
          const double e2 = (double)qi[d + 2] - (double)xm[d + 2];
          const double e3 = (double)qi[d + 3] - (double)xm[d + 3];
          s0 += e0 * e0;
          s1 += e1 * e1;
          s2 += e2 * e2;
          s3 += e3 * e3;
        }
        for (; d < D; ++d) {
          const double e = (double)qi[d] - (double)xm[d];
          s0 += e * e;
        }
        const double s = (s0 + s1) + (s2 + s3);
        cand[m] = {s, m};
      }
      std::partial_sort(cand.begin(), cand.begin() + k, cand.end());
      result[i].resize(k);
      for (int j = 0; j < k; ++j) result[i][j] = Neighbour{cand[j].second, std::sqrt(cand[j].first)};
    }
  }
  return result;
}

template <typename T>
void check_finite(const char* what, const T* p, int64_t rows, int64_t cols) {
  for (int64_t i = 0; i < rows * cols; ++i)
    SKINMTL_CHECK(std::isfinite((double)p[i]), "nearest_neighbours: " << what << " row " << i / cols
                                                                      << ", feature " << i % cols
                                                                      << " is not finite");
}

}  // namespace

std::vector<std::vector<Neighbour>> nearest_neighbours(const Tensor& database,
                                                       const Tensor& queries, int k) {
  SKINMTL_CHECK(database.defined() && database.ndim() == 2,
                "nearest_neighbours: the database must be (M, D), got "
                    << (database.defined() ? database.str() : "undefined"));
  SKINMTL_CHECK(queries.defined() && queries.ndim() == 2,
                "nearest_neighbours: the queries must be (Q, D), got "
                    << (queries.defined() ? queries.str() : "undefined"));
  const int64_t M = database.size(0), D = database.size(1), Q = queries.size(0);
  SKINMTL_CHECK(queries.size(1) == D, "nearest_neighbours: the queries " << queries.str()
                                          << " have " << queries.size(1)
                                          << " features but the database " << database.str()
                                          << " has " << D);
  SKINMTL_CHECK(k >= 1 && k <= M, "nearest_neighbours: k = " << k << " must be in [1, M = " << M
                                                             << "] (the database has " << M
                                                             << " items)");
  // Explicit copies to the host, bfloat16 (--precision bf16) widened to
  // float32; mixed precisions are compared in float64.
  Tensor db = database.to(Device::CPU), q = queries.to(Device::CPU);
  if (db.dtype() == DType::BF16) db = db.to(DType::F32);
  if (q.dtype() == DType::BF16) q = q.to(DType::F32);
  if (db.dtype() != q.dtype()) {
    db = db.to(DType::F64);
    q = q.to(DType::F64);
  }
  if (db.dtype() == DType::F64) {
    check_finite("database", db.data<double>(), M, D);
    check_finite("query", q.data<double>(), Q, D);
    return search(db.data<double>(), q.data<double>(), M, Q, D, k);
  }
  check_finite("database", db.data<float>(), M, D);
  check_finite("query", q.data<float>(), Q, D);
  return search(db.data<float>(), q.data<float>(), M, Q, D, k);
}

bool shares_label(const std::vector<int>& a, const std::vector<int>& b) {
  for (int x : a)
    if (std::find(b.begin(), b.end(), x) != b.end()) return true;
  return false;
}

}  // namespace skinmtl
