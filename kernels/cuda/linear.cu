// CUDA kernels for kernels/linear.h: cuBLAS GEMMs (kernels/gemm.h) plus
// small kernels for the bias.
#include "kernels/cuda/check.cuh"
#include "kernels/device.h"
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

// db[o] += sum_n dy[n, o] (= when !accumulate), summed in float32 (dy float32
// or bfloat16). One thread per column o adds its N values in n order:
// deterministic, no atomics; thread o and o + 1 read adjacent addresses of
// each row, so the loads are coalesced.
template <typename T>
__global__ void linear_bias_backward_kernel(float* db, const T* dy, int64_t N, int64_t O, bool accumulate) {
  CUDA_KERNEL_LOOP(o, O) {
    float acc = 0.0f;
    for (int64_t n = 0; n < N; ++n) acc += load(dy, n * O + o);
    db[o] = accumulate ? db[o] + acc : acc;
  }
}

namespace {

// C = op(A) op(B) + beta C in C's type: float32, or bfloat16 from float32 sums.
void gemm_into(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
               int64_t ldb, float beta, float* C, int64_t ldc) {
  gemm_cuda(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
}
void gemm_into(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const bf16* A, int64_t lda, const bf16* B,
               int64_t ldb, float beta, bf16* C, int64_t ldc) {
  gemm_bf16_cuda(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
}

// The backward's three parts for float32 or bfloat16 dx and dw (kernels/linear.h):
// the GEMMs with beta = 1 (accumulate) or 0 (write), an empty product written
// as zeros, and the bias kernel.
template <typename T>
void linear_backward(T* dx, T* dw, float* db, const T* dy, const T* x, const T* w, int64_t N, int64_t I,
                     int64_t O, LinearAccumulate acc, cuda_stream_t s) {
  // dx (N, I) += dy (N, O) w (O, I)
  if (dx && O > 0) gemm_into(false, false, N, I, O, dy, O, w, I, acc.dx ? 1.0f : 0.0f, dx, I);
  else if (dx && !acc.dx) cuda::memset_async(dx, 0, (size_t)(N * I) * sizeof(T));  // an empty sum
  // dw (O, I) += dy^T (O, N) x (N, I)
  if (dw && N > 0) gemm_into(true, false, O, I, N, dy, O, x, I, acc.dw ? 1.0f : 0.0f, dw, I);
  else if (dw && !acc.dw) cuda::memset_async(dw, 0, (size_t)(O * I) * sizeof(T));
  if (db && O > 0) {
    linear_bias_backward_kernel<<<cuda::blocks_for(O), cuda::kThreads, 0, s>>>(db, dy, N, O, acc.db);
    SKINMTL_LAUNCH_CHECK();
  }
}

}  // namespace

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
                          const float* w, int64_t N, int64_t I, int64_t O, LinearAccumulate acc, cuda_stream_t s) {
  // The same three products as the CPU version (see kernels/cpu/linear.cpp).
  linear_backward<float>(dx, dw, db, dy, x, w, N, I, O, acc, s);
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
                               int64_t N, int64_t I, int64_t O, LinearAccumulate acc, cuda_stream_t s) {
  // The float32 version's products into bfloat16 (formed in float32, one
  // rounding each).
  linear_backward<bf16>(dx, dw, db, dy, x, w, N, I, O, acc, s);
}

}  // namespace skinmtl
