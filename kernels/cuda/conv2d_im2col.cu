// CUDA im2col path of kernels/conv2d.h: im2col / col2im kernels + cuBLAS, one
// GEMM per image, the CUDA twin of kernels/cpu/conv2d.cpp. Also the bias
// kernels, which the cuDNN path (conv2d_cudnn.cu) uses as well.
#include "kernels/bf16.h"
#include "kernels/conv2d.h"
#include "kernels/cuda/check.cuh"
#include "kernels/gemm.h"

namespace skinmtl {

// One thread per (c, p, q) of one image; each writes R*S col entries.
__global__ void im2col_kernel(float* col, const float* x_n, Conv2dShape sh, int64_t n) {
  CUDA_KERNEL_LOOP(i, n) { im2col_elem(col, x_n, sh, i); }
}

// One thread per input element (c, h, v) of one image, gathering its col
// entries: each dx element has exactly one writer, so no atomics.
__global__ void col2im_kernel(float* dx_n, const float* col, Conv2dShape sh, int64_t n, bool accumulate) {
  CUDA_KERNEL_LOOP(i, n) {
    const float g = col2im_elem(col, sh, i);
    dx_n[i] = accumulate ? dx_n[i] + g : g;
  }
}

// y[n, k, p, q] += bias[k]: element i of y has k = (i / (P*Q)) % K, in the
// index type I (uint32_t where it fits: CUDA_KERNEL_LOOP_T, cuda/check.cuh).
template <typename I, typename T>
__global__ void conv2d_bias_forward_kernel(T* y, const float* bias, I pq, I K, I n) {
  CUDA_KERNEL_LOOP_T(I, i, n) { store(y, i, load(y, i) + bias[(i / pq) % K]); }
}

// dbias[k] += sum_{n, p, q} dy[n, k, p, q]. One block per channel k (a
// grid-stride loop over k when K exceeds the grid): every thread sums a fixed
// strided subset of the N*P*Q values serially (a ChannelCursor walks their
// addresses without dividing; cuda::kLoadsInFlight loads go out before
// their adds, which keep their order), then the block adds the kThreads partial sums in a
// fixed tree order. Same order every run: deterministic. blockDim.x must be
// kThreads (a power of two).
template <typename T>
__global__ void conv2d_bias_backward_kernel(float* dbias, const T* dy, int N, int K,
                                            int64_t pq, bool accumulate) {
  __shared__ float partial[cuda::kThreads];
  const int64_t count = (int64_t)N * pq;  // values per channel
  const int64_t step = blockDim.x;
  for (int k = blockIdx.x; k < K; k += gridDim.x) {
    ChannelCursor cur(k, K, pq, threadIdx.x, step);
    float sum = 0.f;
    int64_t j = threadIdx.x;
    for (; j + (cuda::kLoadsInFlight - 1) * step < count; j += cuda::kLoadsInFlight * step) {
      float v[cuda::kLoadsInFlight];
#pragma unroll
      for (int u = 0; u < cuda::kLoadsInFlight; ++u) {
        v[u] = load(dy, cur.offset());
        cur.advance();
      }
#pragma unroll
      for (int u = 0; u < cuda::kLoadsInFlight; ++u) sum += v[u];
    }
    for (; j < count; j += step) {
      sum += load(dy, cur.offset());
      cur.advance();
    }
    partial[threadIdx.x] = sum;
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half /= 2) {
      if ((int)threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
      __syncthreads();
    }
    if (threadIdx.x == 0) dbias[k] = accumulate ? dbias[k] + partial[0] : partial[0];
    __syncthreads();  // partial[0] is read before the next k overwrites partial
  }
}

void im2col_cuda(float* col, const float* x_n, const Conv2dShape& sh, cuda_stream_t stream) {
  const int64_t n = (int64_t)sh.C * sh.P * sh.Q;
  if (n == 0) return;
  im2col_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, stream>>>(col, x_n, sh, n);
  SKINMTL_LAUNCH_CHECK();
}

void col2im_cuda(float* dx_n, const float* col, const Conv2dShape& sh, bool accumulate, cuda_stream_t stream) {
  const int64_t n = sh.x_image();
  if (n == 0) return;
  col2im_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, stream>>>(dx_n, col, sh, n, accumulate);
  SKINMTL_LAUNCH_CHECK();
}

template <typename T>
void conv2d_bias_forward_cuda(T* y, const float* bias, const Conv2dShape& sh, cuda_stream_t stream) {
  const int64_t n = (int64_t)sh.N * sh.y_image();
  if (n == 0) return;
  if (cuda::index_fits_32(n))
    conv2d_bias_forward_kernel<uint32_t, T><<<cuda::blocks_for(n), cuda::kThreads, 0, stream>>>(
        y, bias, (uint32_t)sh.col_cols(), (uint32_t)sh.K, (uint32_t)n);
  else
    conv2d_bias_forward_kernel<int64_t, T><<<cuda::blocks_for(n), cuda::kThreads, 0, stream>>>(
        y, bias, sh.col_cols(), sh.K, n);
  SKINMTL_LAUNCH_CHECK();
}

template <typename T>
void conv2d_bias_backward_cuda(float* dbias, const T* dy, const Conv2dShape& sh, bool accumulate,
                               cuda_stream_t stream) {
  if (sh.K == 0) return;
  // With N*P*Q == 0 every block adds (or writes) 0: still correct.
  const int blocks = sh.K < 65535 ? sh.K : 65535;
  conv2d_bias_backward_kernel<<<blocks, cuda::kThreads, 0, stream>>>(dbias, dy, sh.N, sh.K,
                                                                      sh.col_cols(), accumulate);
  SKINMTL_LAUNCH_CHECK();
}

#define INSTANTIATE(T)                                                                              \
  template void conv2d_bias_forward_cuda<T>(T*, const float*, const Conv2dShape&, cuda_stream_t); \
  template void conv2d_bias_backward_cuda<T>(float*, const T*, const Conv2dShape&, bool, cuda_stream_t);
INSTANTIATE(float)
INSTANTIATE(bf16)
#undef INSTANTIATE

// The GEMMs below run through the cuBLAS handle, bound to the same stream as
// the kernels (see kernels/device.h), so they are ordered with them.
void conv2d_forward_im2col_cuda(float* y, const float* x, const float* w, const float* bias,
                                float* col, const Conv2dShape& sh, cuda_stream_t stream) {
  const int64_t PQ = sh.col_cols(), CRS = sh.col_rows();
  const bool shortcut = conv2d_col_is_input(sh);
  for (int n = 0; n < sh.N; ++n) {
    const float* x_n = x + n * sh.x_image();
    float* y_n = y + n * sh.y_image();
    const float* col_n = x_n;  // the 1x1 shortcut: col_n is x_n
    if (!shortcut) {
      im2col_cuda(col, x_n, sh, stream);
      col_n = col;
    }
    // y_n (K, P*Q) = w (K, C*R*S) * col_n (C*R*S, P*Q); beta = 0 overwrites.
    gemm_cuda(false, false, sh.K, PQ, CRS, 1.f, w, CRS, col_n, PQ, 0.f, y_n, PQ);
  }
  if (bias) conv2d_bias_forward_cuda(y, bias, sh, stream);
}

void conv2d_backward_im2col_cuda(float* dx, float* dw, float* dbias, const float* dy,
                                 const float* x, const float* w, float* col,
                                 const Conv2dShape& sh, Conv2dAccumulate acc, cuda_stream_t stream) {
  const int64_t PQ = sh.col_cols(), CRS = sh.col_rows();
  const bool shortcut = conv2d_col_is_input(sh);
  for (int n = 0; n < sh.N; ++n) {
    const float* dy_n = dy + n * sh.y_image();
    if (dw) {
      // dw (K, C*R*S) += dy_n (K, P*Q) * col_n^T; col_n recomputed from x_n.
      // The first image overwrites a dw that holds nothing yet (beta = 0).
      const float* x_n = x + n * sh.x_image();
      const float* col_n = x_n;
      if (!shortcut) {
        im2col_cuda(col, x_n, sh, stream);
        col_n = col;
      }
      gemm_cuda(false, true, sh.K, CRS, PQ, 1.f, dy_n, PQ, col_n, PQ, n == 0 && !acc.dw ? 0.f : 1.f, dw, CRS);
    }
    if (dx) {
      // dcol (C*R*S, P*Q) = w^T * dy_n, added back into dx_n by col2im (or
      // written, when !acc.dx); under the shortcut dcol is dx_n itself
      // and the GEMM accumulates (beta = 1) or overwrites (beta = 0).
      // Reusing col is safe: the dw GEMM that reads it was queued earlier on
      // the same stream, so it finishes before this GEMM overwrites col.
      float* dx_n = dx + n * sh.x_image();
      if (shortcut) {
        gemm_cuda(true, false, CRS, PQ, sh.K, 1.f, w, CRS, dy_n, PQ, acc.dx ? 1.f : 0.f, dx_n, PQ);
      } else {
        gemm_cuda(true, false, CRS, PQ, sh.K, 1.f, w, CRS, dy_n, PQ, 0.f, col, PQ);
        col2im_cuda(dx_n, col, sh, acc.dx, stream);
      }
    }
  }
  if (dw && !acc.dw && sh.N == 0) CUDA_CHECK(cudaMemsetAsync(dw, 0, sh.K * CRS * sizeof(float), stream));  // an empty sum
  if (dbias) conv2d_bias_backward_cuda(dbias, dy, sh, acc.dbias, stream);
}

}  // namespace skinmtl
