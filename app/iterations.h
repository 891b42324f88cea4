// app/iterations.h: a training budget of N iterations shared among phases.
//
// The Song et al. detector trains in three phases (40000, 80000, 40000
// iterations in the paper). `train detseg --iters N` and `reproduce --iters N`
// keep those proportions for any N:
//
//   split_iterations(8, {40000, 80000, 40000}) == {2, 4, 2}
//
// Phase k ends at round(N * (p_0 + ... + p_k) / sum p), so the shares add up to
// N; a phase with a non-zero proportion gets at least 1 iteration (taken from
// the largest share; below one per phase, every phase still gets 1). A phase
// of proportion 0 stays 0.
#pragma once

#include <cstdint>
#include <vector>

namespace skinmtl {

std::vector<int64_t> split_iterations(int64_t n, const std::vector<int64_t>& proportions);

}  // namespace skinmtl
