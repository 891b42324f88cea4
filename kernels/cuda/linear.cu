// CUDA kernels for kernels/linear.h: cuBLAS GEMMs (kernels/gemm.h) plus
// small kernels for the bias.
#include "kernels/cuda/check.cuh"
#include "kernels/gemm.h"
#include "kernels/linear.h"

namespace skinmtl {

// y[n, o] = b[o] (or 0 when there is no bias), for all N * O elements.
__global__ void linear_bias_fill_kernel(float* y, const float* b, int64_t N, int64_t O) {
  CUDA_KERNEL_LOOP(e, N * O) { y[e] = b ? b[e % O] : 0.0f; }
}

// y[n, o] = bf16(acc[n, o] + b[o]): the bias added to the float32 product,
// then one rounding. acc nullptr: the product is empty (I = 0), all zeros.
__global__ void linear_bias_round_kernel(bf16* y, const float* acc, const float* b, int64_t N, int64_t O) {
  CUDA_KERNEL_LOOP(e, N * O) { y[e] = bf16_from_float((acc ? acc[e] : 0.0f) + (b ? b[e % O] : 0.0f)); }
}

// db[o] += sum_n dy[n, o], summed in float32 (dy float32 or bfloat16). One
// thread per column o adds its N values in n order: deterministic, no
// atomics; thread o and o + 1 read adjacent addresses of each row, so the
// loads are coalesced.
template <typename T>
__global__ void linear_bias_backward_kernel(float* db, const T* dy, int64_t N, int64_t O) {
  CUDA_KERNEL_LOOP(o, O) {
    float acc = 0.0f;
    for (int64_t n = 0; n < N; ++n) acc += load(dy, n * O + o);
    db[o] += acc;
  }
}

void linear_forward_cuda(float* y, const float* x, const float* w, const float* b, int64_t N,
                         int64_t I, int64_t O, cuda_stream_t s) {
  if (N * O == 0) return;
  linear_bias_fill_kernel<<<cuda::blocks_for(N * O), cuda::kThreads, 0, s>>>(y, b, N, O);
  SKINMTL_LAUNCH_CHECK();
  // y (N, O) += x (N, I) w^T; gemm_cuda runs on the same stream (its cuBLAS
  // handle is bound to it), so it starts after the fill.
  if (I > 0) gemm_cuda(false, true, N, O, I, 1.0f, x, I, w, I, 1.0f, y, O);
}

void linear_backward_cuda(float* dx, float* dw, float* db, const float* dy, const float* x,
                          const float* w, int64_t N, int64_t I, int64_t O, cuda_stream_t s) {
  // The same three products as the CPU version (see kernels/cpu/linear.cpp).
  if (dx && O > 0) gemm_cuda(false, false, N, I, O, 1.0f, dy, O, w, I, 1.0f, dx, I);
  if (dw && N > 0) gemm_cuda(true, false, O, I, N, 1.0f, dy, O, x, I, 1.0f, dw, I);
  if (db && O > 0) {
    linear_bias_backward_kernel<<<cuda::blocks_for(O), cuda::kThreads, 0, s>>>(db, dy, N, O);
    SKINMTL_LAUNCH_CHECK();
  }
}

void linear_forward_bf16_cuda(bf16* y, float* acc, const bf16* x, const bf16* w, const float* b, int64_t N,
                              int64_t I, int64_t O, cuda_stream_t s) {
  if (N * O == 0) return;
  // acc (N, O) = x (N, I) w^T in float32, then the bias and the rounding in
  // one pass (in order after the GEMM: the same stream).
  if (I > 0) gemm_bf16_cuda(false, true, N, O, I, 1.0f, x, I, w, I, 0.0f, acc, O);
  linear_bias_round_kernel<<<cuda::blocks_for(N * O), cuda::kThreads, 0, s>>>(y, I > 0 ? acc : nullptr, b, N, O);
  SKINMTL_LAUNCH_CHECK();
}

void linear_backward_bf16_cuda(bf16* dx, bf16* dw, float* db, const bf16* dy, const bf16* x, const bf16* w,
                               int64_t N, int64_t I, int64_t O, cuda_stream_t s) {
  // The float32 version's products, beta = 1 into bfloat16 (one rounding each).
  if (dx && O > 0) gemm_bf16_cuda(false, false, N, I, O, 1.0f, dy, O, w, I, 1.0f, dx, I);
  if (dw && N > 0) gemm_bf16_cuda(true, false, O, I, N, 1.0f, dy, O, x, I, 1.0f, dw, I);
  if (db && O > 0) {
    linear_bias_backward_kernel<<<cuda::blocks_for(O), cuda::kThreads, 0, s>>>(db, dy, N, O);
    SKINMTL_LAUNCH_CHECK();
  }
}

}  // namespace skinmtl
