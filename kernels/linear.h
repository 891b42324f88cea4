// kernels/linear.h: the fully connected layer.
//
//   forward:  y = x w^T + b           y[n, o] = b[o] + sum_i x[n, i] w[o, i]
//   backward: dx += dy w              dx[n, i] += sum_o dy[n, o] w[o, i]
//             dw += dy^T x            dw[o, i] += sum_n dy[n, o] x[n, i]
//             db += sum_n dy[n, :]    (the column sums of dy)
//             each gradient is added into (+=) or, where LinearAccumulate says
//             so, written (=): every element overwritten, the buffer not read.
// Shapes: x (N, I), w (O, I), b (O) or absent, y and dy (N, O); N images,
// I input features, O outputs. w is stored (out, in), as in PyTorch's
// nn.Linear and Caffe's InnerProduct layer (their reference definitions).
// Saved for backward: x and w.
//
// The three products are GEMMs (kernels/gemm.h, CBLAS / cuBLAS): beta = 1 where
// a gradient accumulates, beta = 0 where it is written (an empty sum, O = 0 for
// dx or N = 0 for dw, then writes zeros). The forward first writes b (or zeros) into every row of y
// and then adds x w^T with beta = 1, so y never depends on what its memory held
// before.
//
// db on CUDA: a small kernel with one thread per output o that adds the N
// values of column o in order. No atomics, so the result is deterministic, and
// neighbouring threads read neighbouring addresses (coalesced). N is a batch
// size (tens), so a loop over it per thread is cheap. (A GEMV of dy^T with a
// ones vector would do the same through cuBLAS but needs a ones buffer.)
//
// Any of dx, dw, db may be nullptr: that gradient is then not computed.
//
// bfloat16 (--precision bf16, framework/precision.h), CUDA only: x, w, y and
// their gradients bfloat16, b and db float32. The products run on the tensor
// cores with float32 sums (gemm_bf16_cuda). The forward forms x w^T in a
// float32 scratch `acc` (N, O), then adds b and rounds once: y = bf16(acc + b).
// The backward's dx and dw are formed as dx + dy w and dw + dy^T x in float32
// and rounded once; db sums the bfloat16 dy in float32. On the CPU, which has
// no bfloat16 arithmetic, the op widens and rounds around the float32 kernel
// instead: the same arithmetic up to the order of the sums.
//
// CUDA: `s` must be the project's stream, cuda::stream(): the GEMMs go through
// the cuBLAS handle bound to it, and the bias kernels must run in order with them.
#pragma once

#include <cstdint>

#include "kernels/bf16.h"
#include "kernels/common.h"

namespace skinmtl {

// What the backward does with each gradient buffer it is given: add into it
// (true), or overwrite every element (false: a buffer that holds nothing yet,
// not even zeros; framework/autograd.h's GradBuffers::write). x and w hold
// nothing yet when they are intermediate results, as their bfloat16 casts are.
struct LinearAccumulate {
  bool dx = true, dw = true, db = true;
};

template <typename T>
void linear_forward_cpu(T* y,        // (N, O)
                        const T* x,  // (N, I)
                        const T* w,  // (O, I)
                        const T* b,  // (O) or nullptr
                        int64_t N, int64_t I, int64_t O);
template <typename T>
void linear_backward_cpu(T* dx,        // (N, I) += (or =), or nullptr
                         T* dw,        // (O, I) += (or =), or nullptr
                         T* db,        // (O) += (or =), or nullptr
                         const T* dy,  // (N, O)
                         const T* x,   // (N, I)
                         const T* w,   // (O, I)
                         int64_t N, int64_t I, int64_t O, LinearAccumulate acc);

void linear_forward_cuda(float* y,        // (N, O)
                         const float* x,  // (N, I)
                         const float* w,  // (O, I)
                         const float* b,  // (O) or nullptr
                         int64_t N, int64_t I, int64_t O, cuda_stream_t s);
void linear_backward_cuda(float* dx,        // (N, I) += (or =), or nullptr
                          float* dw,        // (O, I) += (or =), or nullptr
                          float* db,        // (O) += (or =), or nullptr
                          const float* dy,  // (N, O)
                          const float* x,   // (N, I)
                          const float* w,   // (O, I)
                          int64_t N, int64_t I, int64_t O, LinearAccumulate acc, cuda_stream_t s);

void linear_forward_bf16_cuda(bf16* y,         // (N, O)
                              float* acc,      // (N, O) scratch, overwritten
                              const bf16* x,   // (N, I)
                              const bf16* w,   // (O, I)
                              const float* b,  // (O) or nullptr
                              int64_t N, int64_t I, int64_t O, cuda_stream_t s);
void linear_backward_bf16_cuda(bf16* dx,        // (N, I) += (or =), or nullptr
                               bf16* dw,        // (O, I) += (or =), or nullptr
                               float* db,       // (O) += (or =), or nullptr
                               const bf16* dy,  // (N, O)
                               const bf16* x,   // (N, I)
                               const bf16* w,   // (O, I)
                               int64_t N, int64_t I, int64_t O, LinearAccumulate acc, cuda_stream_t s);

}  // namespace skinmtl
