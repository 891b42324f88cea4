// kernels/conv2d_choice.h: which measured convolution algorithm to take.
//
// A measured ranking (cuDNN's cudnnFind*AlgorithmEx, or skinmtl timing each
// graph API engine) puts the fastest first, whatever its workspace. A
// workspace is a buffer the framework allocates for the call: it counts in
// the step's peak memory as much as an activation does, and the fastest
// entry can ask for hundreds of megabytes to win by a hair. (ResNet-50
// inference at batch 1 peaked at 130 MB with cuDNN's heuristic choice and at
// 737 MB with the measured one, on an H100.) So the rule is:
//
//   among the qualifying entries whose time is within `slack` of the fastest
//   (1 + slack times its time), the one with the least workspace; ties go to
//   the faster (the earlier in the ranking).
//
// With slack 0 this is the fastest entry. The default, 3%, is about the
// spread of repeated measurements of one algorithm. Host code only (no CUDA):
// tested on the CPU (tests/kernels/test_conv2d_choice.cpp).
#pragma once

#include <cstddef>
#include <vector>

#include "base/check.h"

namespace skinmtl {

struct TimedAlgo {
  double ms = 0;               // measured time of the call
  size_t workspace_bytes = 0;  // the workspace it needs
};

constexpr double kConvWorkspaceSlack = 0.03;

// `fastest_first`: the qualifying entries of a measured ranking, fastest first.
// Returns the index of the one to use.
inline size_t pick_measured(const std::vector<TimedAlgo>& fastest_first, double slack = kConvWorkspaceSlack) {
  SKINMTL_CHECK(!fastest_first.empty(), "pick_measured: no qualifying algorithm to pick from");
  SKINMTL_CHECK(slack >= 0, "pick_measured: the slack must be >= 0, got " << slack);
  const double limit = fastest_first[0].ms * (1 + slack);
  size_t best = 0;
  for (size_t i = 1; i < fastest_first.size(); ++i)
    if (fastest_first[i].ms <= limit && fastest_first[i].workspace_bytes < fastest_first[best].workspace_bytes)
      best = i;
  return best;
}

}  // namespace skinmtl
