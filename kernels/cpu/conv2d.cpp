// CPU reference for kernels/conv2d.h: im2col + one GEMM per image, or per
// group of images where the output is small (conv2d_cpu_images_per_gemm).
// 3x3 stride-1 convolutions where conv2d_cpu_uses_winograd says: forward and
// data gradient by kernels/cpu/conv2d_winograd.cpp instead, and the weight
// gradient too where conv2d_cpu_uses_winograd_weight_gradient says.
//
// im2col / col2im here walk the col matrix row by row, as Caffe's
// im2col_cpu / col2im_cpu do, rather than element by element through
// im2col_elem / col2im_elem (which the CUDA kernels use: one thread per
// element suits a GPU). Row (c, r, s) of col, restricted to output row p, is
// input row h = p * stride_h - pad_h + r * dilation_h read at columns
//   v = q * stride_w + off_w,   off_w = s * dilation_w - pad_w,   q = 0 .. Q-1,
// i.e. a strided run of one input row (a contiguous one when stride_w = 1)
// with zeros where v falls in the padding. Per row that is two zero fills and
// one copy: no per-element index arithmetic or bounds test, and both buffers
// are walked in memory order. col2im is the same walk with the copy reversed
// into an add (dx += col), so each col entry goes back to the element it came
// from. Measured on one 224x224 ResNet-50 image, single thread: layer1's 3x3
// im2col 5.6 -> 0.6 ms, col2im 15.3 -> 1.3 ms; the strided 1x1 of layer2's
// projection col2im 13.7 -> 0.5 ms (the elementwise col2im gathered over
// windows with divisions; here it is a strided add).
// The same mapping as the element functions, so the CPU-vs-CUDA parity tests
// (and the naive-loop and gradient checks of tests/framework/ops/test_conv2d.cpp) hold the
// two implementations together.
//
// Threading (kernels/cpu/simd.h): the GEMMs split over the OpenMP threads
// (kernels/cpu/gemm.cpp); im2col splits its col rows and col2im its input
// channels over the same threads; the bias add splits its (image, channel)
// planes and the bias gradient its channels.
//
// The bias gradient sums each channel of dy in kBiasLanes interleaved lanes
// (value j of a run of P*Q values goes to lane j mod kBiasLanes, the tail's
// to lanes 0, 1, ...), combined in lane order: deterministic, and the lanes
// vectorise. One sequential float sum is a chain of dependent additions:
// over the 225M dy values of a ResNet-50 step at batch 20 it took 0.142 s,
// against 0.037 s in 16 lanes on 2 threads.
#include "kernels/conv2d.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "kernels/conv2d_winograd.h"
#include "kernels/cpu/simd.h"
#include "kernels/fold_batch_norm.h"
#include "kernels/gemm.h"

namespace skinmtl {

namespace {

// Lanes of the bias gradient's sums (see the top of this file).
constexpr int kBiasLanes = 16;

// The settings of kernels/conv2d.h; read once per convolution, set by tests and benchmarks.
std::mutex settings_mutex;
Conv2dCpuGrouping grouping;
Conv2dCpuWinograd winograd_from_environment() {
  Conv2dCpuWinograd w;
  const char* e = std::getenv("SKINMTL_WINOGRAD");
  if (e && std::strcmp(e, "0") == 0) w.enabled = false;
  return w;
}
Conv2dCpuWinograd winograd = winograd_from_environment();

// The columns q in [begin, end) of an output row whose input column
// v = q * stride_w + off_w lies inside [0, W); the others read padding.
struct ColRange {
  int begin, end;
};
ColRange inside_columns(int off_w, const Conv2dShape& sh) {
  // First q with q * stride_w + off_w >= 0.
  int begin = off_w >= 0 ? 0 : (-off_w + sh.stride_w - 1) / sh.stride_w;
  // One past the last q with q * stride_w + off_w <= W - 1.
  int end = off_w > sh.W - 1 ? 0 : (sh.W - 1 - off_w) / sh.stride_w + 1;
  end = std::min(end, sh.Q);
  begin = std::min(begin, end);
  return {begin, end};
}

// im2col of one image into the columns [0, P*Q) of a col matrix whose rows
// are `ld` elements apart (ld = P*Q for one image alone; count * P*Q when
// `count` images sit side by side, see the batched GEMMs below).
template <typename T>
void im2col_rows(T* col, int64_t ld, const T* x_n, const Conv2dShape& sh) {
  const int64_t rows = sh.col_rows();
  SKINMTL_PARALLEL(rows * sh.P * sh.Q)  // one col row per iteration
  for (int64_t row = 0; row < rows; ++row) {
    const int s = (int)(row % sh.S), r = (int)((row / sh.S) % sh.R), c = (int)(row / (sh.R * sh.S));
    const T* xc = x_n + (int64_t)c * sh.H * sh.W;
    const int off_w = s * sh.dilation_w - sh.pad_w;
    const ColRange in = inside_columns(off_w, sh);
    for (int p = 0; p < sh.P; ++p) {
      T* out = col + row * ld + (int64_t)p * sh.Q;  // col[row, p*Q .. p*Q + Q-1]
      const int h = p * sh.stride_h - sh.pad_h + r * sh.dilation_h;
      if (h < 0 || h >= sh.H) {
        std::fill(out, out + sh.Q, T(0));
        continue;
      }
      // x[c, h, v] for v = q * stride_w + off_w is xc[base + q * stride_w].
      const int64_t base = (int64_t)h * sh.W + off_w;
      std::fill(out, out + in.begin, T(0));
      if (sh.stride_w == 1) {
        std::memcpy(out + in.begin, xc + base + in.begin, sizeof(T) * (size_t)(in.end - in.begin));
      } else {
        for (int q = in.begin; q < in.end; ++q) out[q] = xc[base + (int64_t)q * sh.stride_w];
      }
      std::fill(out + in.end, out + sh.Q, T(0));
    }
  }
}

// col2im of the columns [0, P*Q) of a col matrix with row stride `ld` into one
// image: dx_n += col2im(col), or dx_n = col2im(col) when accumulate is false
// (each channel zeroed just before its adds, while it is in cache, rather than
// the whole gradient in a pass of its own).
template <typename T>
void col2im_rows(T* dx_n, const T* col, int64_t ld, const Conv2dShape& sh, bool accumulate = true) {
  // One input channel per iteration: channel c's rows of col go back to dx[c] only.
  SKINMTL_PARALLEL(sh.col_rows() * sh.P * sh.Q)
  for (int c = 0; c < sh.C; ++c) {
    T* dxc = dx_n + (int64_t)c * sh.H * sh.W;
    if (!accumulate) std::fill(dxc, dxc + (int64_t)sh.H * sh.W, T(0));
    for (int r = 0; r < sh.R; ++r)
      for (int s = 0; s < sh.S; ++s) {
        const int64_t row = ((int64_t)c * sh.R + r) * sh.S + s;
        const int off_w = s * sh.dilation_w - sh.pad_w;
        const ColRange in = inside_columns(off_w, sh);
        for (int p = 0; p < sh.P; ++p) {
          const int h = p * sh.stride_h - sh.pad_h + r * sh.dilation_h;
          if (h < 0 || h >= sh.H) continue;  // those entries came from padding
          const T* from = col + row * ld + (int64_t)p * sh.Q;
          // dx[c, h, v] for v = q * stride_w + off_w is dxc[base + q * stride_w].
          const int64_t base = (int64_t)h * sh.W + off_w;
          if (sh.stride_w == 1) {
            T* to = dxc + base + in.begin;
            const T* fr = from + in.begin;
            SKINMTL_SIMD
            for (int q = 0; q < in.end - in.begin; ++q) to[q] += fr[q];
          } else {
            for (int q = in.begin; q < in.end; ++q) dxc[base + (int64_t)q * sh.stride_w] += from[q];
          }
        }
      }
  }
}

// The col matrix of `count` consecutive images side by side, (C*R*S, count*P*Q):
// image g fills columns [g*P*Q, (g+1)*P*Q). One image under the 1x1 shortcut
// needs no copy: its col is x_n itself.
template <typename T>
const T* group_col(T* col, const T* x0, int count, const Conv2dShape& sh) {
  if (count == 1 && conv2d_col_is_input(sh)) return x0;
  const int64_t PQ = sh.col_cols(), ld = count * PQ;
  for (int g = 0; g < count; ++g) im2col_rows(col + g * PQ, ld, x0 + g * sh.x_image(), sh);
  return col;
}

// Between the per-image layout (count, K, P*Q) of y and dy and the side-by-side
// layout (K, count*P*Q) of the batched GEMM: one copy each way.
template <typename T>
void images_to_side_by_side(T* to, const T* from, int count, const Conv2dShape& sh) {
  const int64_t PQ = sh.col_cols(), ld = count * PQ;
  for (int g = 0; g < count; ++g)
    for (int k = 0; k < sh.K; ++k)
      std::memcpy(to + k * ld + g * PQ, from + g * sh.y_image() + k * PQ, sizeof(T) * (size_t)PQ);
}
template <typename T>
void side_by_side_to_images(T* to, const T* from, int count, const Conv2dShape& sh) {
  const int64_t PQ = sh.col_cols(), ld = count * PQ;
  for (int g = 0; g < count; ++g)
    for (int k = 0; k < sh.K; ++k)
      std::memcpy(to + g * sh.y_image() + k * PQ, from + k * ld + g * PQ, sizeof(T) * (size_t)PQ);
}

}  // namespace

Conv2dCpuGrouping conv2d_cpu_grouping() {
  std::lock_guard<std::mutex> lock(settings_mutex);
  return grouping;
}
void set_conv2d_cpu_grouping(const Conv2dCpuGrouping& g) {
  std::lock_guard<std::mutex> lock(settings_mutex);
  grouping = g;
}
Conv2dCpuWinograd conv2d_cpu_winograd() {
  std::lock_guard<std::mutex> lock(settings_mutex);
  return winograd;
}
void set_conv2d_cpu_winograd(const Conv2dCpuWinograd& w) {
  std::lock_guard<std::mutex> lock(settings_mutex);
  winograd = w;
}

int64_t conv2d_cpu_forward_scratch_elems(const Conv2dShape& sh) {
  if (!conv2d_cpu_uses_winograd(sh)) return conv2d_cpu_im2col_scratch_elems(sh);
  const WinogradConv3x3 p = winograd_forward_problem(sh);
  return winograd_total_scratch_elems(p);
}

int64_t conv2d_cpu_backward_scratch_elems(const Conv2dShape& sh, bool dx, bool dw) {
  const bool winograd_dx = dx && conv2d_cpu_uses_winograd(sh);
  const bool winograd_dw = dw && conv2d_cpu_uses_winograd_weight_gradient(sh);
  int64_t elems = (dw && !winograd_dw) || (dx && !winograd_dx) ? conv2d_cpu_im2col_scratch_elems(sh) : 0;
  if (winograd_dx) elems = std::max(elems, winograd_total_scratch_elems(winograd_data_gradient_problem(sh)));
  if (winograd_dw) elems = std::max(elems, winograd_total_scratch_elems(winograd_forward_problem(sh)));
  return elems;
}

template <typename T>
void im2col_cpu(T* col, const T* x_n, const Conv2dShape& sh) {
  im2col_rows(col, sh.col_cols(), x_n, sh);
}

template <typename T>
void col2im_cpu(T* dx_n, const T* col, const Conv2dShape& sh) {
  col2im_rows(dx_n, col, sh.col_cols(), sh);
}

// The epilogue of `count` images' outputs y0 (count, K, P*Q), the first of
// them image n0: y = act(y + bias + residual), or the plain bias add.
template <typename T>
void conv2d_epilogue_cpu(T* y0, int n0, int count, const T* bias, const Conv2dShape& sh,
                         const Conv2dEpilogue<T>& epilogue) {
  const int64_t PQ = sh.col_cols();
  if (epilogue.residual || epilogue.relu) {
    bias_act_cpu<T>(y0, bias, epilogue.residual ? epilogue.residual + n0 * sh.y_image() : nullptr, count, sh.K,
                    PQ, epilogue.relu);
  } else if (bias) {
    // Plane gk = g * K + k of the images (y_image() = K * P*Q) gets bias[k].
    const int64_t planes = (int64_t)count * sh.K;
    SKINMTL_PARALLEL(planes * PQ)
    for (int64_t gk = 0; gk < planes; ++gk) {
      T* yk = y0 + gk * PQ;
      const T b = bias[gk % sh.K];
      SKINMTL_SIMD
      for (int64_t j = 0; j < PQ; ++j) yk[j] += b;
    }
  }
}

// The Winograd path (conv2d_cpu_uses_winograd) transforms the weights into the
// front of the scratch and convolves the whole batch, then applies the
// epilogue. The im2col path takes the batch in groups of
// G = conv2d_cpu_images_per_gemm(sh) images, one GEMM per group over the G
// images' columns side by side. With G = 1 (large outputs) the GEMM writes y_n
// directly; with G > 1 it writes the scratch after col, which is then copied
// out image by image. Each group's epilogue runs while its output is in cache.
template <typename T>
void conv2d_forward_cpu(T* y, const T* x, const T* w, const T* bias, T* scratch,
                        const Conv2dShape& sh, Conv2dEpilogue<T> epilogue) {
  if (conv2d_cpu_uses_winograd(sh)) {
    const WinogradConv3x3 p = winograd_forward_problem(sh);
    winograd_filter_transform_cpu(scratch, w, sh.K, sh.C, /*data_gradient=*/false);
    winograd_conv3x3_cpu(y, x, scratch, scratch + winograd_filter_elems(p), p, /*accumulate=*/false);
    conv2d_epilogue_cpu(y, 0, sh.N, bias, sh, epilogue);
    return;
  }
  const int64_t PQ = sh.col_cols(), CRS = sh.col_rows();
  const int G = conv2d_cpu_images_per_gemm(sh);
  T* product = scratch + (G > 1 ? CRS * G * PQ : 0);  // (K, count*P*Q) when G > 1
  for (int n0 = 0; n0 < sh.N; n0 += G) {
    const int count = std::min(G, sh.N - n0);
    const int64_t cols = count * PQ;
    T* y0 = y + n0 * sh.y_image();
    const T* col = group_col(scratch, x + n0 * sh.x_image(), count, sh);
    // (K, cols) = w (K, C*R*S) * col (C*R*S, cols); beta = 0 overwrites.
    T* out = count == 1 ? y0 : product;
    gemm_cpu<T>(false, false, sh.K, cols, CRS, T(1), w, CRS, col, cols, T(0), out, cols);
    if (count > 1) side_by_side_to_images(y0, product, count, sh);
    conv2d_epilogue_cpu(y0, n0, count, bias, sh, epilogue);
  }
}

template <typename T>
void conv2d_backward_cpu(T* dx, T* dw, T* dbias, const T* dy, const T* x, const T* w, T* scratch,
                         const Conv2dShape& sh, Conv2dAccumulate acc) {
  const int64_t PQ = sh.col_cols(), CRS = sh.col_rows();
  const bool shortcut = conv2d_col_is_input(sh);
  // dx and dw by Winograd after the loop, or in the loop by im2col.
  const bool winograd_dx = dx && conv2d_cpu_uses_winograd(sh);
  const bool winograd_dw = dw && conv2d_cpu_uses_winograd_weight_gradient(sh);
  T* dx_im2col = winograd_dx ? nullptr : dx;
  T* dw_im2col = winograd_dw ? nullptr : dw;
  const int G = conv2d_cpu_images_per_gemm(sh);
  T* dy_side = scratch + (G > 1 ? CRS * G * PQ : 0);  // (K, count*P*Q) when G > 1
  for (int n0 = 0; n0 < sh.N && (dx_im2col || dw_im2col); n0 += G) {
    const int count = std::min(G, sh.N - n0);
    const int64_t cols = count * PQ;
    const T* dy0 = dy + n0 * sh.y_image();
    // dy of the group as a (K, cols) matrix.
    const T* dyg = dy0;
    if (count > 1) {
      images_to_side_by_side(dy_side, dy0, count, sh);
      dyg = dy_side;
    }
    if (dw_im2col) {
      // dw (K, C*R*S) += dy (K, cols) * col^T (cols, C*R*S); col recomputed from x.
      // The first group overwrites a dw that holds nothing yet (beta = 0).
      const T* col = group_col(scratch, x + n0 * sh.x_image(), count, sh);
      const T beta = n0 == 0 && !acc.dw ? T(0) : T(1);
      gemm_cpu<T>(false, true, sh.K, CRS, cols, T(1), dyg, cols, col, cols, beta, dw_im2col, CRS);
    }
    if (dx_im2col) {
      // dcol (C*R*S, cols) = w^T (C*R*S, K) * dy (K, cols), then added back into dx.
      // One image under the shortcut: dcol IS dx_n, so the GEMM accumulates
      // into it (beta = 1), or overwrites it (beta = 0).
      T* dx0 = dx + n0 * sh.x_image();
      if (count == 1 && shortcut) {
        gemm_cpu<T>(true, false, CRS, PQ, sh.K, T(1), w, CRS, dyg, PQ, T(acc.dx ? 1 : 0), dx0, PQ);
      } else {
        // The col scratch is free again (the dw GEMM above is done with it).
        gemm_cpu<T>(true, false, CRS, cols, sh.K, T(1), w, CRS, dyg, cols, T(0), scratch, cols);
        for (int g = 0; g < count; ++g)
          col2im_rows(dx0 + g * sh.x_image(), scratch + g * PQ, cols, sh, acc.dx);
      }
    }
  }
  if (winograd_dw && sh.N > 0) {
    // dw = G^T [sum over the tiles of (A dy A^T) (.) (B^T x B)] G.
    winograd_weight_gradient_cpu(dw, x, dy, scratch, winograd_forward_problem(sh), acc.dw);
  }
  if (winograd_dx && sh.N > 0) {
    // dx = dy padded by 2 - pad, convolved with w turned and its channels swapped.
    const WinogradConv3x3 p = winograd_data_gradient_problem(sh);
    winograd_filter_transform_cpu(scratch, w, sh.K, sh.C, /*data_gradient=*/true);
    winograd_conv3x3_cpu(dx, dy, scratch, scratch + winograd_filter_elems(p), p, acc.dx);
  }
  if (dbias) {
    // Per channel, kBiasLanes interleaved sums (see the top of this file).
    SKINMTL_PARALLEL((int64_t)sh.N * sh.K * PQ)
    for (int k = 0; k < sh.K; ++k) {
      T lane[kBiasLanes] = {};
      for (int n = 0; n < sh.N; ++n) {
        const T* dy_nk = dy + n * sh.y_image() + k * PQ;
        int64_t j = 0;
        for (; j + kBiasLanes <= PQ; j += kBiasLanes) {
          SKINMTL_SIMD
          for (int l = 0; l < kBiasLanes; ++l) lane[l] += dy_nk[j + l];
        }
        for (int l = 0; j < PQ; ++j, ++l) lane[l] += dy_nk[j];
      }
      T sum = T(0);
      for (int l = 0; l < kBiasLanes; ++l) sum += lane[l];
      dbias[k] = acc.dbias ? dbias[k] + sum : sum;
    }
  }
  if (dw && !acc.dw && sh.N == 0) std::fill(dw, dw + sh.K * CRS, T(0));  // an empty sum
}

#define SKINMTL_INSTANTIATE_CONV2D(T)                                                      \
  template void im2col_cpu<T>(T*, const T*, const Conv2dShape&);                           \
  template void col2im_cpu<T>(T*, const T*, const Conv2dShape&);                           \
  template void conv2d_forward_cpu<T>(T*, const T*, const T*, const T*, T*,                \
                                      const Conv2dShape&, Conv2dEpilogue<T>);              \
  template void conv2d_backward_cpu<T>(T*, T*, T*, const T*, const T*, const T*, T*,       \
                                       const Conv2dShape&, Conv2dAccumulate);
SKINMTL_INSTANTIATE_CONV2D(float)
SKINMTL_INSTANTIATE_CONV2D(double)
#undef SKINMTL_INSTANTIATE_CONV2D

}  // namespace skinmtl
