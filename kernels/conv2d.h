// kernels/conv2d.h: 2-D convolution (cross-correlation, as in every deep-learning
// library), with stride, zero padding and dilation per axis; no groups.
//
//   y[n, k, p, q] = bias[k] + sum_{c, r, s} w[k, c, r, s] * x[n, c, h, v]
//       with h = p * stride_h - pad_h + r * dilation_h,
//            v = q * stride_w - pad_w + s * dilation_w,
//       and x = 0 wherever (h, v) falls in the padding.
//
// Shapes: x (N, C, H, W), w (K, C, R, S), bias (K) or none, y (N, K, P, Q) with
//   P = (H + 2 pad_h - dilation_h (R - 1) - 1) / stride_h + 1   (integer division)
//   Q = (W + 2 pad_w - dilation_w (S - 1) - 1) / stride_w + 1
// which is PyTorch's torch.nn.Conv2d output size.
//
// Backward (all three ACCUMULATE into their buffers):
//   dbias[k]       += sum_{n, p, q} dy[n, k, p, q]
//   dw[k, c, r, s] += sum_{n, p, q} dy[n, k, p, q] * x[n, c, h, v]
//   dx[n, c, h, v] += sum_{k, r, s, p, q with (h, v) as above} dy[n, k, p, q] * w[k, c, r, s]
// Saved for backward: the input x and the weights w (nothing else; the im2col
// path recomputes the columns of x in backward, as Caffe does).
//
// The im2col formulation (Chellapilla et al. 2006; Caffe's
// BaseConvolutionLayer, Jia et al. 2014). For one image, unfold the input into
// a matrix col (C*R*S rows, P*Q columns):
//   col[(c*R + r)*S + s, p*Q + q] = x[c, h, v]    (0 in the padding)
// so that column (p, q) holds exactly the input values the kernel sees at
// output position (p, q), in the order of w's (C, R, S) axes. With w read as a
// (K, C*R*S) matrix, the convolution of that image is ONE matrix product:
//   y_n (K, P*Q)     = w (K, C*R*S) * col_n (C*R*S, P*Q)    (+ bias per row)
// and its backward is two more:
//   dw (K, C*R*S)   += dy_n (K, P*Q) * col_n^T
//   dcol (C*R*S, P*Q) = w^T * dy_n,  then col2im adds dcol back into dx_n:
//   col2im is im2col's adjoint: each col entry goes back to the input element
//   it was copied from, and entries copied from the same element are summed.
// Shortcut: a 1x1 convolution with stride 1 and no padding has col == x_n
// (C rows, H*W = P*Q columns, dilation irrelevant), so im2col/col2im are
// skipped and x_n / dx_n are used as col / dcol directly (conv2d_col_is_input).
//
// Implementations:
//   CPU   (kernels/cpu/conv2d.cpp):          im2col + gemm_cpu per image, or per group of
//                                            images where the output is small (below),
//                                            float and double; 3x3 stride-1 forward, data
//                                            and weight gradient by Winograd's F(2x2, 3x3)
//                                            (kernels/conv2d_winograd.h, below).
//   CUDA  (kernels/cuda/conv2d_im2col.cu):   the same with CUDA im2col/col2im and gemm_cuda.
//   CUDA  (kernels/cuda/conv2d_cudnn.cu):    cuDNN, FMA math (no TF32) by default, so it
//                                            matches the CPU to float tolerance; TF32
//                                            tensor cores after cuda::set_tf32(true).
//   CUDA  (kernels/cuda/conv2d_cudnn_graph.cu): the same through cuDNN 9's graph API.
// Reference: PyTorch torch.nn.Conv2d (definition and output size); Caffe's
// im2col.cpp / im2col.cu (the im2col and the gather-style col2im below).
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "kernels/common.h"

namespace skinmtl {

// Every size of one convolution. The framework fills it (and checks that P, Q
// are positive); kernels only read it. Plain ints: cuDNN takes ints, and every
// product is formed in int64_t by the helpers below.
struct Conv2dShape {
  int N = 0, C = 0, H = 0, W = 0;   // input x (N, C, H, W)
  int K = 0, R = 0, S = 0;          // weights w (K, C, R, S)
  int P = 0, Q = 0;                 // output y (N, K, P, Q)
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  int dilation_h = 1, dilation_w = 1;

  SKINMTL_HD int64_t x_image() const { return (int64_t)C * H * W; }  // elements of one x_n
  SKINMTL_HD int64_t y_image() const { return (int64_t)K * P * Q; }  // elements of one y_n
  SKINMTL_HD int64_t col_rows() const { return (int64_t)C * R * S; }
  SKINMTL_HD int64_t col_cols() const { return (int64_t)P * Q; }
};

// One output size, PyTorch's formula; 0 when the (dilated) kernel does not fit
// in the padded input at all. (The numerator is tested first: C++ division
// truncates towards zero, so (-1) / 2 + 1 would wrongly give 1.)
SKINMTL_HD int conv2d_out_size(int in, int kernel, int stride, int pad, int dilation) {
  const int64_t span = (int64_t)in + 2 * (int64_t)pad - (int64_t)dilation * (kernel - 1) - 1;
  return span < 0 ? 0 : (int)(span / stride + 1);
}

// The 1x1 / stride 1 / no padding shortcut: col_n is x_n itself.
inline bool conv2d_col_is_input(const Conv2dShape& sh) {
  return sh.R == 1 && sh.S == 1 && sh.stride_h == 1 && sh.stride_w == 1 && sh.pad_h == 0 &&
         sh.pad_w == 0;
}

// Elements of the col scratch buffer the im2col paths need (one image at a
// time): C*R*S * P*Q, or 0 under the shortcut (the buffer may then be null).
inline int64_t conv2d_col_elems(const Conv2dShape& sh) {
  return conv2d_col_is_input(sh) ? 0 : sh.col_rows() * sh.col_cols();
}

// ---- the CPU's batched GEMMs ------------------------------------------------------
// One GEMM per image is thin where the output is small: at 120x160 input,
// ResNet-50's last stage has 20 output pixels per image, so each forward
// product is (K x C*R*S) times (C*R*S x 20), and dw's sums over an inner
// dimension of 20 while it reads and writes all of dw once per image. OpenBLAS
// then spends its time packing and synchronising its threads. Where P*Q is
// below `small_output`, the CPU kernels therefore put the col matrices of G
// consecutive images side by side, (C*R*S, G*P*Q), and run one GEMM per group:
// as many images as fit in `max_columns` columns (which bounds the scratch),
// balanced over the batch. Measured per layer (2 threads, OpenBLAS's AVX2
// kernels), forward + backward: layer4's 3x3 at 120x160, batch 8 (P*Q = 20),
// 34 -> 17 ms; at 224, batch 20 (P*Q = 49) 128 -> 91 ms; layer3's at 224
// (P*Q = 196) gained nothing in backward, hence the threshold.
// The two numbers are a setting (kernels/cpu/conv2d.cpp) so that the tests can
// drive every shape through every path and bench_cpu can compare choices.
struct Conv2dCpuGrouping {
  int64_t small_output = 128;   // group images when P*Q is below this (0: never)
  int64_t max_columns = 2048;   // columns of one group's GEMM at most
};
Conv2dCpuGrouping conv2d_cpu_grouping();
void set_conv2d_cpu_grouping(const Conv2dCpuGrouping& g);

inline int conv2d_cpu_images_per_gemm(const Conv2dShape& sh) {
  const Conv2dCpuGrouping g = conv2d_cpu_grouping();
  const int64_t PQ = sh.col_cols();
  if (sh.N <= 1 || PQ >= g.small_output) return 1;
  const int64_t most = g.max_columns / PQ > 1 ? g.max_columns / PQ : 1;  // images per group
  const int64_t groups = (sh.N + most - 1) / most;
  return (int)((sh.N + groups - 1) / groups);
}

// ---- the CPU's Winograd path -----------------------------------------------------
// 3x3 convolutions with stride 1 and dilation 1 (ResNet-50's stride-1 3x3s,
// the FPN's, the RPN's and the mask head's 3x3s, Yang et al.'s decoder) run
// their forward, data gradient and weight gradient through Winograd's
// F(2x2, 3x3) (kernels/conv2d_winograd.h): 2.25 times fewer multiplications
// and no im2col matrix. Where it pays, measured
// per layer (`make bench-conv-cpu`, 2 threads, im2col -> Winograd, forward):
// with at least 32 input and output channels (the 16 transformed products are
// thin below that), at least 128 output tiles of 2x2 in the batch (one 14x14
// image at 256 channels, 49 tiles: 0.80 -> 0.74 ms, its data gradient 0.65 ->
// 0.79 ms; one 7x7 image at 512 channels, 16 tiles: 1.4 -> 5.0 ms; 8 images of
// 8x10 at 256 channels, 160 tiles: 2.65 -> 2.09 ms) and at most 2^18 filters
// (C*K; the transformed weights, 16 C K elements, then fit 16 MiB: 3072 -> 256
// channels at 8x10, batch 8, is even, 46 -> 43 ms in one run and 35 -> 38 ms
// in another, for 50 MB of transformed weights written and read back).
// A setting, as the grouping is: the tests drive small shapes through both
// paths, benchmarks compare them, and SKINMTL_WINOGRAD=0 in the environment
// turns it off for a whole run.
struct Conv2dCpuWinograd {
  bool enabled = true;
  int min_channels = 32;                   // input and output channels at least
  int64_t min_tiles = 128;                 // output tiles (N ceil(P/2) ceil(Q/2)) at least
  int64_t max_filters = int64_t(1) << 18;  // C * K at most
  // Elements of V and M together that one block of tiles aims at (a whole
  // tile row at least; kernels/conv2d_winograd.h): 4M, 16 MiB in float32.
  int64_t block_elems = int64_t(1) << 22;
  // The weight gradient by Winograd too where the rule holds and the layer has
  // at least weight_gradient_min_filters filters (C * K), or by im2col. Its
  // transformed tiles, 16 (C + K) values per tile, are written and read back
  // for 16 C K multiply-adds: below 256 x 256 channels that traffic ate the
  // saving (`make bench-conv-cpu`, 2 threads, ms, im2col -> Winograd: 64 -> 64
  // channels at 32x32, batch 20, 9.4 -> 12.4; 128 -> 128 at 16x16, 7.1 ->
  // 11.7; 256 -> 256 at 8x8, 12.6 -> 7.7; the FPN's 3x3 on P2 38.6 -> 30.2).
  bool weight_gradient = true;
  int64_t weight_gradient_min_filters = int64_t(1) << 16;
};
Conv2dCpuWinograd conv2d_cpu_winograd();
void set_conv2d_cpu_winograd(const Conv2dCpuWinograd& w);

// Whether the CPU kernels take the Winograd path for this convolution's
// forward and data gradient. The two problems have the same channel counts,
// filters and tiles (the data gradient's outputs are the forward's inputs,
// as many as its outputs with stride 1 and pad 1), so one answer serves both.
inline bool conv2d_cpu_uses_winograd(const Conv2dShape& sh) {
  const Conv2dCpuWinograd s = conv2d_cpu_winograd();
  const int64_t tiles = (int64_t)sh.N * ((sh.P + 1) / 2) * ((sh.Q + 1) / 2);
  return s.enabled && sh.R == 3 && sh.S == 3 && sh.stride_h == 1 && sh.stride_w == 1 &&
         sh.dilation_h == 1 && sh.dilation_w == 1 && sh.pad_h <= 2 && sh.pad_w <= 2 &&
         sh.C >= s.min_channels && sh.K >= s.min_channels && tiles >= s.min_tiles &&
         (int64_t)sh.C * sh.K <= s.max_filters;
}

// And for its weight gradient.
inline bool conv2d_cpu_uses_winograd_weight_gradient(const Conv2dShape& sh) {
  const Conv2dCpuWinograd s = conv2d_cpu_winograd();
  return s.weight_gradient && (int64_t)sh.C * sh.K >= s.weight_gradient_min_filters && conv2d_cpu_uses_winograd(sh);
}

// Elements of the CPU kernels' scratch (kernels/cpu/conv2d.cpp).
// The im2col path: the col matrix of one group of images and, when a group
// holds several, their output (forward) or dy (backward) as a (K, G*P*Q)
// matrix after it. G = 1 under the 1x1 shortcut needs none (the scratch may
// then be null).
inline int64_t conv2d_cpu_im2col_scratch_elems(const Conv2dShape& sh) {
  const int G = conv2d_cpu_images_per_gemm(sh);
  if (G == 1) return conv2d_col_elems(sh);
  return (sh.col_rows() + sh.K) * G * sh.col_cols();
}
// Forward: the im2col path's, or the Winograd path's (U, then V and M of one block).
int64_t conv2d_cpu_forward_scratch_elems(const Conv2dShape& sh);
// Backward, for the gradients wanted: dw needs the im2col path's; dx the
// im2col path's or the Winograd path's.
int64_t conv2d_cpu_backward_scratch_elems(const Conv2dShape& sh, bool dx, bool dw);

// ---- im2col / col2im, one element at a time ------------------------------------
// The CUDA kernels' element functions (one thread per element). The CPU walks
// the same mapping row by row instead (kernels/cpu/conv2d.cpp, much faster on
// a CPU); the CPU-vs-CUDA parity tests keep the two in agreement.

// im2col for one (c, p, q), i = (c * P + p) * Q + q in [0, C*P*Q): writes the
// R*S entries of column p*Q + q that belong to channel c, i.e. rows
// c*R*S ... c*R*S + R*S - 1 (one row apart = P*Q elements apart).
//   x_n: (C, H, W) of one image; col: (C*R*S, P*Q)
template <typename T>
SKINMTL_HD void im2col_elem(T* col, const T* x_n, const Conv2dShape& sh, int64_t i) {
  const int q = (int)(i % sh.Q);
  const int p = (int)((i / sh.Q) % sh.P);
  const int c = (int)(i / ((int64_t)sh.P * sh.Q));
  const int64_t PQ = sh.col_cols();
  const T* xc = x_n + (int64_t)c * sh.H * sh.W;
  T* out = col + (int64_t)c * sh.R * sh.S * PQ + (int64_t)p * sh.Q + q;  // row (c, 0, 0)
  for (int r = 0; r < sh.R; ++r) {
    const int h = p * sh.stride_h - sh.pad_h + r * sh.dilation_h;
    for (int s = 0; s < sh.S; ++s) {
      const int v = q * sh.stride_w - sh.pad_w + s * sh.dilation_w;
      const bool inside = h >= 0 && h < sh.H && v >= 0 && v < sh.W;
      *out = inside ? xc[(int64_t)h * sh.W + v] : T(0);
      out += PQ;  // next row: (c, r, s + 1)
    }
  }
}

// col2im for one input element i = (c * H + h) * W + v in [0, C*H*W): the sum
// of every col entry that im2col copied from x[c, h, v]. Gathering per input
// element (Caffe's col2im_gpu_kernel) instead of scattering per col entry
// means each output is written by one thread only: no atomics on the GPU.
//
// Output row p reads input row h through kernel row r when
//   p * stride_h - pad_h + r * dilation_h == h,
// i.e. hk = (h + pad_h) - p * stride_h must equal r * dilation_h for some
// r in [0, R): hk in [0, extent_h) with extent_h = (R - 1) * dilation_h + 1 and
// hk divisible by dilation_h. The p range below is exactly the outputs whose
// window [p * stride_h, p * stride_h + extent_h) of the padded input holds h + pad_h.
// Columns likewise.
template <typename T>
SKINMTL_HD T col2im_elem(const T* col, const Conv2dShape& sh, int64_t i) {
  const int v = (int)(i % sh.W);
  const int h = (int)((i / sh.W) % sh.H);
  const int c = (int)(i / ((int64_t)sh.H * sh.W));
  const int hp = h + sh.pad_h, vp = v + sh.pad_w;  // position in the padded input
  const int extent_h = (sh.R - 1) * sh.dilation_h + 1;
  const int extent_w = (sh.S - 1) * sh.dilation_w + 1;
  // First p with p * stride_h + extent_h > hp; one past the last p with p * stride_h <= hp.
  const int p_begin = hp < extent_h ? 0 : (hp - extent_h) / sh.stride_h + 1;
  const int p_end = hp / sh.stride_h + 1 < sh.P ? hp / sh.stride_h + 1 : sh.P;
  const int q_begin = vp < extent_w ? 0 : (vp - extent_w) / sh.stride_w + 1;
  const int q_end = vp / sh.stride_w + 1 < sh.Q ? vp / sh.stride_w + 1 : sh.Q;
  const int64_t PQ = sh.col_cols();
  T sum = T(0);
  for (int p = p_begin; p < p_end; ++p) {
    const int hk = hp - p * sh.stride_h;  // = r * dilation_h
    if (hk % sh.dilation_h != 0) continue;
    const int r = hk / sh.dilation_h;
    for (int q = q_begin; q < q_end; ++q) {
      const int vk = vp - q * sh.stride_w;  // = s * dilation_w
      if (vk % sh.dilation_w != 0) continue;
      const int s = vk / sh.dilation_w;
      sum += col[(((int64_t)c * sh.R + r) * sh.S + s) * PQ + (int64_t)p * sh.Q + q];
    }
  }
  return sum;
}

// ---- CPU (kernels/cpu/conv2d.cpp) ------------------------------------------------
template <typename T>
void im2col_cpu(T* col,            // (C*R*S, P*Q), overwritten
                const T* x_n,      // (C, H, W), one image
                const Conv2dShape& sh);
template <typename T>
void col2im_cpu(T* dx_n,           // (C, H, W), one image, +=
                const T* col,      // (C*R*S, P*Q)
                const Conv2dShape& sh);

// scratch: conv2d_cpu_forward_scratch_elems(sh) elements (null when that is 0).
// The epilogue (framework/ops.h: conv2d_bn in inference, conv2d_bias_act in
// training): after each group's GEMM, while its output is still in cache,
// y = act(y + bias[k] + residual) with act ReLU when `relu`
// (kernels/fold_batch_norm.h's bias_act_elem); the default is the plain bias
// add.
template <typename T>
struct Conv2dEpilogue {
  const T* residual = nullptr;  // (N, K, P, Q) or null
  bool relu = false;
};
template <typename T>
void conv2d_forward_cpu(T* y,            // (N, K, P, Q), overwritten
                        const T* x,      // (N, C, H, W)
                        const T* w,      // (K, C, R, S)
                        const T* bias,   // (K) or null
                        T* scratch,      // conv2d_cpu_forward_scratch_elems(sh), or null
                        const Conv2dShape& sh, Conv2dEpilogue<T> epilogue = {});
// What a backward does with each gradient buffer it is given: add into it
// (true), or overwrite every element (false: a buffer that holds nothing yet,
// not even zeros; framework/autograd.h's GradBuffers::write). dw and dbias
// hold nothing yet when the weights are an intermediate result, as the
// folded weights of a frozen batch norm are (kernels/fold_batch_norm.h).
struct Conv2dAccumulate {
  bool dx = true, dw = true, dbias = true;
};

// Any of dx, dw, dbias may be null (that gradient is not wanted). Each one
// accumulates or is overwritten as `acc` says (with N = 0, an overwritten dw or
// dbias is set to 0). The same holds for the CUDA versions below.
template <typename T>
void conv2d_backward_cpu(T* dx,          // (N, C, H, W) += (or =), or null
                         T* dw,          // (K, C, R, S) += (or =), or null
                         T* dbias,       // (K) += (or =), or null
                         const T* dy,    // (N, K, P, Q)
                         const T* x,     // (N, C, H, W)
                         const T* w,     // (K, C, R, S)
                         T* scratch,     // conv2d_cpu_backward_scratch_elems(sh, dx, dw), or null
                         const Conv2dShape& sh, Conv2dAccumulate acc);

// ---- CUDA, im2col + cuBLAS (kernels/cuda/conv2d_im2col.cu) ------------------------
// All on `stream`, which must be the stream the cuBLAS/cuDNN handles are bound
// to (the framework passes cuda::stream()).
void im2col_cuda(float* col,         // (C*R*S, P*Q), overwritten
                 const float* x_n,   // (C, H, W)
                 const Conv2dShape& sh, cuda_stream_t stream);
void col2im_cuda(float* dx_n,        // (C, H, W) += (or = when !accumulate)
                 const float* col,   // (C*R*S, P*Q)
                 const Conv2dShape& sh, bool accumulate, cuda_stream_t stream);
// y[n, k, p, q] += bias[k]. T: float or bf16 (the bias stays float32;
// kernels/bf16.h).
template <typename T>
void conv2d_bias_forward_cuda(T* y,               // (N, K, P, Q) +=
                              const float* bias,  // (K)
                              const Conv2dShape& sh, cuda_stream_t stream);
// dbias[k] += sum_{n, p, q} dy[n, k, p, q] (= when !accumulate); one block
// per channel, a fixed reduction order: deterministic, no atomics. Sums in
// float32 for either T.
template <typename T>
void conv2d_bias_backward_cuda(float* dbias,       // (K) += (or =)
                               const T* dy,        // (N, K, P, Q)
                               const Conv2dShape& sh, bool accumulate, cuda_stream_t stream);

void conv2d_forward_im2col_cuda(float* y,            // (N, K, P, Q), overwritten
                                const float* x,      // (N, C, H, W)
                                const float* w,      // (K, C, R, S)
                                const float* bias,   // (K) or null
                                float* col,          // scratch (C*R*S, P*Q) or null
                                const Conv2dShape& sh, cuda_stream_t stream);
void conv2d_backward_im2col_cuda(float* dx,          // (N, C, H, W) += (or =), or null
                                 float* dw,          // (K, C, R, S) += (or =), or null
                                 float* dbias,       // (K) += (or =), or null
                                 const float* dy,    // (N, K, P, Q)
                                 const float* x,     // (N, C, H, W)
                                 const float* w,     // (K, C, R, S)
                                 float* col,         // scratch (C*R*S, P*Q) or null
                                 const Conv2dShape& sh, Conv2dAccumulate acc, cuda_stream_t stream);

// ---- CUDA, cuDNN (kernels/cuda/conv2d_cudnn.cu) -----------------------------------
// The first use of a shape builds a plan: the cuDNN descriptors and one
// algorithm per pass (forward, backward data, backward filter), picked by
// cuDNN's heuristics among deterministic, FMA-math (TF32 too after
// cuda::set_tf32(true)), non-FFT,
// non-Winograd-nonfused algorithms whose workspace is at most 512 MiB (the
// reasons are at the top of conv2d_cudnn.cu). Plans are cached per shape for the life of the
// process, so the search runs once per distinct layer shape.
//
// Workspace: kernels/ allocates no memory. The caller asks how many bytes a
// pass needs (building the plan if needed), allocates them (the framework
// uses a Tensor from its caching allocator) and passes them in.
//
// Data: x, w, y (and dx, dw, dy) are float32, or all bfloat16 (T = bf16,
// CudnnData::BF16; --precision bf16): then cuDNN multiplies bfloat16 on
// tensor cores with float32 accumulators and rounds each output once. The
// bias and its gradient stay float32 either way. Plans are cached per data
// type as well.
enum class CudnnData { F32, BF16 };
size_t conv2d_cudnn_forward_workspace_bytes(const Conv2dShape& sh, CudnnData data = CudnnData::F32);
size_t conv2d_cudnn_backward_workspace_bytes(const Conv2dShape& sh, bool need_dx, bool need_dw,
                                             CudnnData data = CudnnData::F32);

template <typename T>
void conv2d_forward_cudnn(T* y,                 // (N, K, P, Q), overwritten
                          const T* x,           // (N, C, H, W)
                          const T* w,           // (K, C, R, S)
                          const float* bias,    // (K) or null
                          void* workspace, size_t workspace_bytes,
                          const Conv2dShape& sh, cuda_stream_t stream);
template <typename T>
void conv2d_backward_cudnn(T* dx,               // (N, C, H, W) += (or =), or null
                           T* dw,               // (K, C, R, S) += (or =), or null
                           float* dbias,        // (K) += (or =), or null
                           const T* dy,         // (N, K, P, Q)
                           const T* x,          // (N, C, H, W)
                           const T* w,          // (K, C, R, S)
                           void* workspace, size_t workspace_bytes,
                           const Conv2dShape& sh, Conv2dAccumulate acc, cuda_stream_t stream);

// ---- CUDA, cuDNN's graph API (kernels/cuda/conv2d_cudnn_graph.cu) ------------------
// The same three passes, the same contract (shapes, what is overwritten and
// what accumulates, workspace from the caller, float32 or bfloat16 data) and
// the same rules for choosing how (deterministic, no FFT or Winograd, FMA
// math unless TF32 is set or the data are bfloat16, at most 512 MiB of
// workspace, ranked by cuDNN's heuristics or, with
// cuda::set_conv_benchmark(true), by measured time), through the descriptors
// of cuDNN 9's graph API (cudnn_graph.h) instead of the legacy calls that
// cuDNN 9 deprecates. Each pass is a one-node operation graph; cuDNN offers
// engines for it, and the chosen engine's finalized execution plan is cached
// per shape, pass, beta (dx or dw overwritten or added to), data type, math setting
// and pointer alignment. ConvBackend::CuDNNGraph (SKINMTL_CONV_BACKEND=
// cudnn-graph) selects it.
//
// Alignment: cuDNN is told how the x, w and y (dx, dw, dy) addresses are
// aligned, because its fastest engines load 16 bytes at a time. A tensor may
// be a view (the optimiser packs parameters into one flat buffer), so the
// framework passes cudnn_alignment() of the pointers it will use, and the
// kernels check it.
int cudnn_alignment(std::initializer_list<const void*> pointers);  // 16, 8, 4, 2 or 1: divides every non-null one
size_t conv2d_cudnn_graph_forward_workspace_bytes(const Conv2dShape& sh, CudnnData data, int alignment);
size_t conv2d_cudnn_graph_backward_workspace_bytes(const Conv2dShape& sh, bool need_dx, bool need_dw,
                                                   Conv2dAccumulate acc, CudnnData data, int alignment);
template <typename T>
void conv2d_forward_cudnn_graph(T* y, const T* x, const T* w, const float* bias, void* workspace,
                                size_t workspace_bytes, int alignment, const Conv2dShape& sh,
                                cuda_stream_t stream);
template <typename T>
void conv2d_backward_cudnn_graph(T* dx, T* dw, float* dbias, const T* dy, const T* x, const T* w,
                                 void* workspace, size_t workspace_bytes, int alignment,
                                 const Conv2dShape& sh, Conv2dAccumulate acc, cuda_stream_t stream);
// conv2d_bn's GPU form (framework/ops.h; kernels/fold_batch_norm.h) as ONE
// cuDNN graph: conv -> + bias (-> + residual) (-> ReLU), the intermediate
// results virtual, float32, w and bias already folded. Where cuDNN has an
// engine for the graph that meets the rules above (chosen by heuristics),
// supported() is true and gives its workspace; otherwise it says why, and the
// framework runs the convolution and one bias_act pass instead. Cached per
// shape, residual, ReLU, math and alignment.
bool conv2d_bias_act_cudnn_graph_supported(const Conv2dShape& sh, bool residual, bool relu, int alignment,
                                           size_t* workspace_bytes, std::string* why = nullptr);
void conv2d_bias_act_cudnn_graph(float* y,               // (N, K, P, Q), overwritten
                                 const float* x,         // (N, C, H, W)
                                 const float* w,         // (K, C, R, S), folded
                                 const float* bias,      // (K), folded
                                 const float* residual,  // (N, K, P, Q) or null
                                 bool relu, void* workspace, size_t workspace_bytes, int alignment,
                                 const Conv2dShape& sh, cuda_stream_t stream);
// Builds and finalizes the operation descriptors of the three passes for `sh`
// (tensors, convolution, forward / backward data / backward filter, the
// backward passes with beta 0 and 1), and for float32 those of the fused
// graphs above, which needs no GPU: cuDNN checks
// there that the sizes agree. Returns "" or what cuDNN refused. The test
// suite runs it on every convolution shape the models use, on machines
// without a GPU too.
std::string conv2d_cudnn_graph_check_operations(const Conv2dShape& sh, CudnnData data);

}  // namespace skinmtl
