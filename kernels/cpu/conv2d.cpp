// CPU reference for kernels/conv2d.h: im2col + one GEMM per image.
//
// Threading: the GEMMs are multi-threaded by OpenBLAS; everything else here
// (im2col, col2im, bias) is a plain serial loop. Adding OpenMP to those loops
// would not nest with OpenBLAS, but idle OpenMP threads spinning between
// regions compete with OpenBLAS's own threads, so it is left out.
#include "kernels/conv2d.h"

#include "kernels/gemm.h"

namespace skinmtl {

template <typename T>
void im2col_cpu(T* col, const T* x_n, const Conv2dShape& sh) {
  const int64_t n = (int64_t)sh.C * sh.P * sh.Q;
  for (int64_t i = 0; i < n; ++i) im2col_elem(col, x_n, sh, i);
}

template <typename T>
void col2im_cpu(T* dx_n, const T* col, const Conv2dShape& sh) {
  const int64_t n = sh.x_image();
  for (int64_t i = 0; i < n; ++i) dx_n[i] += col2im_elem(col, sh, i);
}

template <typename T>
void conv2d_forward_cpu(T* y, const T* x, const T* w, const T* bias, T* col,
                        const Conv2dShape& sh) {
  const int64_t PQ = sh.col_cols(), CRS = sh.col_rows();
  const bool shortcut = conv2d_col_is_input(sh);
  for (int n = 0; n < sh.N; ++n) {
    const T* x_n = x + n * sh.x_image();
    T* y_n = y + n * sh.y_image();
    // col_n (C*R*S, P*Q): under the 1x1 shortcut, x_n itself.
    const T* col_n = x_n;
    if (!shortcut) {
      im2col_cpu(col, x_n, sh);
      col_n = col;
    }
    // y_n (K, P*Q) = w (K, C*R*S) * col_n (C*R*S, P*Q); beta = 0 overwrites.
    gemm_cpu<T>(false, false, sh.K, PQ, CRS, T(1), w, CRS, col_n, PQ, T(0), y_n, PQ);
    if (bias) {
      for (int k = 0; k < sh.K; ++k)
        for (int64_t j = 0; j < PQ; ++j) y_n[k * PQ + j] += bias[k];
    }
  }
}

template <typename T>
void conv2d_backward_cpu(T* dx, T* dw, T* dbias, const T* dy, const T* x, const T* w, T* col,
                         const Conv2dShape& sh) {
  const int64_t PQ = sh.col_cols(), CRS = sh.col_rows();
  const bool shortcut = conv2d_col_is_input(sh);
  for (int n = 0; n < sh.N; ++n) {
    const T* dy_n = dy + n * sh.y_image();
    if (dw) {
      // dw (K, C*R*S) += dy_n (K, P*Q) * col_n^T (P*Q, C*R*S); col_n recomputed from x_n.
      const T* x_n = x + n * sh.x_image();
      const T* col_n = x_n;
      if (!shortcut) {
        im2col_cpu(col, x_n, sh);
        col_n = col;
      }
      gemm_cpu<T>(false, true, sh.K, CRS, PQ, T(1), dy_n, PQ, col_n, PQ, T(1), dw, CRS);
    }
    if (dx) {
      // dcol (C*R*S, P*Q) = w^T (C*R*S, K) * dy_n (K, P*Q), then added back into dx_n.
      // Under the shortcut dcol IS dx_n, so the GEMM accumulates into it (beta = 1).
      T* dx_n = dx + n * sh.x_image();
      if (shortcut) {
        gemm_cpu<T>(true, false, CRS, PQ, sh.K, T(1), w, CRS, dy_n, PQ, T(1), dx_n, PQ);
      } else {
        // col is free again (the dw GEMM above is done with it).
        gemm_cpu<T>(true, false, CRS, PQ, sh.K, T(1), w, CRS, dy_n, PQ, T(0), col, PQ);
        col2im_cpu(dx_n, col, sh);
      }
    }
  }
  if (dbias) {
    for (int k = 0; k < sh.K; ++k) {
      T sum = T(0);
      for (int n = 0; n < sh.N; ++n) {
        const T* dy_nk = dy + n * sh.y_image() + k * PQ;
        for (int64_t j = 0; j < PQ; ++j) sum += dy_nk[j];
      }
      dbias[k] += sum;
    }
  }
}

#define SKINMTL_INSTANTIATE_CONV2D(T)                                                      \
  template void im2col_cpu<T>(T*, const T*, const Conv2dShape&);                           \
  template void col2im_cpu<T>(T*, const T*, const Conv2dShape&);                           \
  template void conv2d_forward_cpu<T>(T*, const T*, const T*, const T*, T*,                \
                                      const Conv2dShape&);                                 \
  template void conv2d_backward_cpu<T>(T*, T*, T*, const T*, const T*, const T*, T*,       \
                                       const Conv2dShape&);
SKINMTL_INSTANTIATE_CONV2D(float)
SKINMTL_INSTANTIATE_CONV2D(double)
#undef SKINMTL_INSTANTIATE_CONV2D

}  // namespace skinmtl
