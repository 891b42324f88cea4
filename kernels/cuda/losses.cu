// CUDA kernels for kernels/losses.h. The math is the shared element and row
// functions of the header; the scalar losses are finished by the deterministic
// reduction of kernels/reduce.h.
#include <math_constants.h>  // CUDART_NAN_F

#include "kernels/cuda/check.cuh"
#include "kernels/losses.h"
#include "kernels/reduce.h"

namespace skinmtl {

// ---- sigmoid ------------------------------------------------------------------------

__global__ void sigmoid_forward_kernel(float* y, const float* x, int64_t n) {
  CUDA_KERNEL_LOOP(i, n) { y[i] = sigmoid_elem(x[i]); }
}

__global__ void sigmoid_backward_kernel(float* dx, const float* dy, const float* y, int64_t n) {
  CUDA_KERNEL_LOOP(i, n) { dx[i] += sigmoid_backward_elem(dy[i], y[i]); }
}

void sigmoid_forward_cuda(float* y, const float* x, int64_t n, cuda_stream_t s) {
  if (n == 0) return;
  sigmoid_forward_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, s>>>(y, x, n);
  SKINMTL_LAUNCH_CHECK();
}

void sigmoid_backward_cuda(float* dx, const float* dy, const float* y, int64_t n,
                           cuda_stream_t s) {
  if (n == 0) return;
  sigmoid_backward_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, s>>>(dx, dy, y, n);
  SKINMTL_LAUNCH_CHECK();
}

// ---- softmax: one thread per row ----------------------------------------------------

__global__ void softmax_forward_kernel(float* y, const float* x, int64_t N, int64_t K) {
  CUDA_KERNEL_LOOP(n, N) { softmax_row(y + n * K, x + n * K, K); }
}

__global__ void softmax_backward_kernel(float* dx, const float* dy, const float* y, int64_t N,
                                        int64_t K) {
  CUDA_KERNEL_LOOP(n, N) { softmax_backward_row(dx + n * K, dy + n * K, y + n * K, K); }
}

void softmax_forward_cuda(float* y, const float* x, int64_t N, int64_t K, cuda_stream_t s) {
  if (N == 0 || K == 0) return;
  softmax_forward_kernel<<<cuda::blocks_for(N), cuda::kThreads, 0, s>>>(y, x, N, K);
  SKINMTL_LAUNCH_CHECK();
}

void softmax_backward_cuda(float* dx, const float* dy, const float* y, int64_t N, int64_t K,
                           cuda_stream_t s) {
  if (N == 0 || K == 0) return;
  softmax_backward_kernel<<<cuda::blocks_for(N), cuda::kThreads, 0, s>>>(dx, dy, y, N, K);
  SKINMTL_LAUNCH_CHECK();
}

// ---- sigmoid cross-entropy ------------------------------------------------------------

// row_loss[n] = sum_k l(x[n, k], t[n, k]): image n's l_les (eq. 5), its K
// terms added in k order by one thread.
__global__ void sigmoid_ce_rows_kernel(float* row_loss, const float* x, const float* t,
                                       int64_t N, int64_t K) {
  CUDA_KERNEL_LOOP(n, N) {
    float acc = 0.0f;
    for (int64_t k = 0; k < K; ++k) acc += sigmoid_ce_elem(x[n * K + k], t[n * K + k]);
    row_loss[n] = acc;
  }
}

// dx += (dL / N) (sigmoid(x) - t); dL is read from device memory.
__global__ void sigmoid_ce_backward_kernel(float* dx, const float* dloss, const float* x,
                                           const float* t, int64_t N, int64_t K) {
  const float g = dloss[0] / (float)N;
  CUDA_KERNEL_LOOP(i, N * K) { dx[i] += g * sigmoid_ce_grad_elem(x[i], t[i]); }
}

void sigmoid_ce_forward_cuda(float* loss, float* scratch, const float* x, const float* t,
                             int64_t N, int64_t K, cuda_stream_t s) {
  // N >= 1 (the framework op checks): the mean over images needs one.
  float* row_loss = scratch;      // (N)
  float* partials = scratch + N;  // (sum_cuda_partials(N))
  sigmoid_ce_rows_kernel<<<cuda::blocks_for(N), cuda::kThreads, 0, s>>>(row_loss, x, t, N, K);
  SKINMTL_LAUNCH_CHECK();
  // loss = (1/N) sum_n row_loss[n] (eq. 3), deterministic.
  sum_forward_cuda(loss, partials, row_loss, N, 1.0f / (float)N, s);
}

void sigmoid_ce_backward_cuda(float* dx, const float* dloss, const float* x, const float* t,
                              int64_t N, int64_t K, cuda_stream_t s) {
  if (N * K == 0) return;
  sigmoid_ce_backward_kernel<<<cuda::blocks_for(N * K), cuda::kThreads, 0, s>>>(dx, dloss, x, t,
                                                                                N, K);
  SKINMTL_LAUNCH_CHECK();
}

// ---- softmax cross-entropy ------------------------------------------------------------

// Per image n: lse[n]; row_loss[n] = lse[n] - x[n, label] and valid[n] = 1 for
// a class label; 0 and 0 for an ignored image (-1); NaN and 1 for a bad label
// (the header explains why NaN rather than an exception or silence).
__global__ void softmax_ce_rows_kernel(float* row_loss, float* valid, float* lse, const float* x,
                                       const float* labels, int64_t N, int64_t K) {
  CUDA_KERNEL_LOOP(n, N) {
    const float* xn = x + n * K;
    const float l = row_logsumexp(xn, K);
    lse[n] = l;
    const float label = labels[n];
    if (label_is_ignored(label)) {
      row_loss[n] = 0.0f;
      valid[n] = 0.0f;
    } else if (label_is_class(label, K)) {
      row_loss[n] = l - xn[(int64_t)label];  // -log softmax(x_n)[label]
      valid[n] = 1.0f;
    } else {
      row_loss[n] = CUDART_NAN_F;
      valid[n] = 1.0f;
    }
  }
}

// loss = sum / M, or 0 when every image is ignored (then the sum is 0 too).
// One thread: it only divides two numbers already on the device.
__global__ void softmax_ce_finish_kernel(float* loss, const float* count) {
  loss[0] = count[0] > 0.0f ? loss[0] / count[0] : 0.0f;
}

// dx[n, k] += (dL / M) (softmax(x_n)[k] - [k == label_n]) for images not
// ignored; dL and M are read from device memory.
__global__ void softmax_ce_backward_kernel(float* dx, const float* dloss, const float* count,
                                           const float* lse, const float* x,
                                           const float* labels, int64_t N, int64_t K) {
  const float m = count[0];
  const float g = m > 0.0f ? dloss[0] / m : 0.0f;
  CUDA_KERNEL_LOOP(e, N * K) {
    const int64_t n = e / K, k = e % K;
    const float label = labels[n];
    if (label_is_ignored(label)) {
      // no contribution
    } else if (label_is_class(label, K)) {
      dx[e] += g * softmax_ce_grad_elem(x[e], lse[n], k == (int64_t)label);
    } else {
      dx[e] += CUDART_NAN_F;  // a bad label poisons its image's gradient, as its loss
    }
  }
}

void softmax_ce_forward_cuda(float* loss, float* count, float* lse, float* scratch,
                             const float* x, const float* labels, int64_t N, int64_t K,
                             cuda_stream_t s) {
  // K >= 1 (the framework op checks). N may be 0: then M = 0 and L = 0.
  float* row_loss = scratch;          // (N)
  float* valid = scratch + N;         // (N)
  float* partials = scratch + 2 * N;  // (sum_cuda_partials(N))
  if (N > 0) {
    softmax_ce_rows_kernel<<<cuda::blocks_for(N), cuda::kThreads, 0, s>>>(row_loss, valid, lse,
                                                                          x, labels, N, K);
    SKINMTL_LAUNCH_CHECK();
  }
  // Two deterministic sums in turn (they share `partials`: the stream orders
  // the second after the first), then the division, all on the device.
  sum_forward_cuda(loss, partials, row_loss, N, 1.0f, s);
  sum_forward_cuda(count, partials, valid, N, 1.0f, s);
  softmax_ce_finish_kernel<<<1, 1, 0, s>>>(loss, count);
  SKINMTL_LAUNCH_CHECK();
}

void softmax_ce_backward_cuda(float* dx, const float* dloss, const float* count, const float* lse,
                              const float* x, const float* labels, int64_t N, int64_t K,
                              cuda_stream_t s) {
  if (N * K == 0) return;
  softmax_ce_backward_kernel<<<cuda::blocks_for(N * K), cuda::kThreads, 0, s>>>(
      dx, dloss, count, lse, x, labels, N, K);
  SKINMTL_LAUNCH_CHECK();
}

}  // namespace skinmtl
