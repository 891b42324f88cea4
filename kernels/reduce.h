// kernels/reduce.h: the sum of all elements, scaled (sum and mean).
//
//   forward:  y = scale * sum_i x_i           (sum: scale = 1, mean: scale = 1/n)
//   backward: dx_i += scale * dy               for every i (the scalar dy is
//                                              broadcast to all n elements)
// Shapes: x, dx hold n elements (any layout); y, dy hold one element (shape ()).
// Saved for backward: nothing (only n and scale).
// Reference: torch.sum / torch.mean with no dim argument.
//
// Accuracy and determinism.
//  - CPU: the running sum is kept in double, also for float tensors, so a sum
//    of millions of float32 values does not lose its low digits (a float
//    accumulator adding 1e7 ones stops growing at 2^24 = 16777216).
//  - CUDA: a two-stage tree reduction in float, with a fixed order of
//    additions, so the same input gives bit-identical output on every run (no
//    atomicAdd on floats, whose order, and hence rounding, changes from run to
//    run). Stage 1: G blocks of kSumThreads threads; each thread adds up its
//    grid-stride share of x, then the block adds its threads' values pairwise
//    in shared memory and writes one partial sum. Stage 2: one block does the
//    same with the G partials and writes scale * total to y. Pairwise (tree)
//    summation keeps the rounding error growing like log(n) rather than n.
//    When one block suffices (G == 1) stage 1 writes y directly.
//  - The CUDA backward reads dy from device memory inside the kernel: no copy
//    to the host, no synchronisation.
//
// sum_forward_cuda is also the deterministic reduction the CUDA losses use
// (kernels/losses.h).
#pragma once

#include <cstdint>

#include "kernels/common.h"

namespace skinmtl {

// Launch shape of the CUDA reduction. kSumThreads must be a power of two (the
// tree halves it at each step).
constexpr int kSumThreads = 256;
constexpr int64_t kSumMaxBlocks = 1024;

// G, the number of stage-1 partial sums of an n-element CUDA reduction: the
// size, in floats, of the `partials` scratch buffer sum_forward_cuda needs.
inline int64_t sum_cuda_partials(int64_t n) {
  int64_t g = (n + kSumThreads - 1) / kSumThreads;
  if (g < 1) g = 1;
  if (g > kSumMaxBlocks) g = kSumMaxBlocks;
  return g;
}

template <typename T>
void sum_forward_cpu(T* y, const T* x, int64_t n, T scale);     // y (), x (n)
template <typename T>
void sum_backward_cpu(T* dx, const T* dy, int64_t n, T scale);  // dx (n) +=, dy ()

void sum_forward_cuda(float* y,         // ()
                      float* partials,  // (sum_cuda_partials(n)), scratch
                      const float* x,   // (n)
                      int64_t n, float scale, cuda_stream_t s);
void sum_backward_cuda(float* dx,        // (n) +=
                       const float* dy,  // (), read on the device
                       int64_t n, float scale, cuda_stream_t s);

}  // namespace skinmtl
