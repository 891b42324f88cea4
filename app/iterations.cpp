// Shares of an iteration budget: see app/iterations.h.
#include "app/iterations.h"

#include <algorithm>
#include <cmath>

#include "base/check.h"

namespace skinmtl {

std::vector<int64_t> split_iterations(int64_t n, const std::vector<int64_t>& proportions) {
  SKINMTL_USAGE_CHECK(n >= 1, "--iters must be at least 1, got " << n);
  int64_t total = 0;
  for (int64_t p : proportions) {
    SKINMTL_USER_CHECK(p >= 0, "iteration counts must be >= 0, got " << p);
    total += p;
  }
  SKINMTL_USER_CHECK(total > 0, "there is no phase to share " << n << " iterations among (all are 0)");
  const int64_t phases = std::count_if(proportions.begin(), proportions.end(), [](int64_t p) { return p > 0; });
  SKINMTL_USAGE_CHECK(n >= phases, "--iters " << n << " is fewer than the " << phases
                                              << " phases it is shared among: each needs an iteration");
  // Cumulative rounding: phase k ends at round(n * (p_0 + ... + p_k) / total),
  // so the shares add up to n exactly.
  std::vector<int64_t> out(proportions.size(), 0);
  int64_t cum = 0, end_before = 0;
  for (size_t k = 0; k < proportions.size(); ++k) {
    cum += proportions[k];
    const int64_t end = std::llround((double)n * (double)cum / (double)total);
    out[k] = end - end_before;
    end_before = end;
  }
  // A phase with a share of the proportions gets at least one iteration,
  // taken from the largest.
  for (size_t k = 0; k < proportions.size(); ++k) {
    if (proportions[k] == 0 || out[k] > 0) continue;
    out[k] = 1;
    auto largest = std::max_element(out.begin(), out.end());
    if (*largest > 1) --*largest;
  }
  return out;
}

}  // namespace skinmtl
