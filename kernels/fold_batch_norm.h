// kernels/fold_batch_norm.h: a convolution followed by a batch norm with fixed
// statistics is one convolution; its ReLU rides on the bias pass.
//
// A batch norm that normalises with its running statistics (inference, or
// frozen) is an affine map per channel k:
//   BN(v)[k] = gamma[k] * (v[k] - mean[k]) * invstd[k] + beta[k],
//   invstd[k] = 1 / sqrt(var[k] + eps)
// and a convolution is linear in its weights, each output channel k using
// only the row w[k, :]. So, with s[k] = gamma[k] * invstd[k],
//   BN(conv(x, w) + b) = conv(x, w_folded) + b_folded, where
//   w_folded[k, c, r, s] = w[k, c, r, s] * s[k]
//   b_folded[k]          = (b[k] - mean[k]) * s[k] + beta[k]   (b = 0: no conv bias)
// One convolution and one pass over its output (bias, and the ReLU that
// follows, fused: bias_act) instead of three passes (bias, batch norm, ReLU).
// A residual block's last unit, relu(BN(conv(x)) + shortcut), takes the
// shortcut in the same pass: four passes (bias, batch norm, add, ReLU) become
// one.
// This is what inference engines do ("batch norm folding"; e.g. Jacob et al.
// 2018, section 3.2). It changes the rounding, not the function: the outputs
// agree with the three ops to float precision (tests/framework/ops/test_conv_bn.cpp).
// Not for a batch norm that normalises with the batch's own statistics
// (training with --bn batch): those are not fixed. A frozen one folds in
// training too, below.
//
//   fold_batch_norm:  w_folded (K, CRS), b_folded (K) from w (K, CRS), b (K)
//                     or null, gamma, beta, mean, var (K) and eps; CRS is
//                     C*R*S, one row of w. Overwrites both outputs.
//   bias_act:         y (N, K, HW) in place: y = act(y + b[k] + r), with b
//                     (K) or 0 when null, r the residual (N, K, HW) or 0 when
//                     null, act = ReLU (relu = true) or the identity. The CPU
//                     convolution's epilogue (kernels/conv2d.h) runs it on
//                     each group of images right after its GEMM.
//   bias_act_backward: the backward of y = act(v), v = conv + b + r, for the
//                     training op conv2d_bias_act (framework/ops.h), from y
//                     (bias_act's output) and dy, both (n):
//                       g  = dy * [y > 0] (relu; kernels/relu.h) or dy
//                       dr += g           (or = g when !dr_accumulate)
//                     g is dv: the gradient the convolution's backward takes
//                     as its dy (it sums g per channel for db too); dr is the
//                     residual's gradient. Either may be null (not wanted);
//                     g is overwritten. One pass instead of the separate
//                     ReLU backward and add backward (a copy of g per input).
//
// Training with fixed statistics (a frozen batch norm) folds too, as
// conv2d(x, w_folded, b_folded) on the tape (framework/ops.h,
// fold_batch_norm): the convolution's own backward gives dwf and dbf, the
// gradients of its weights and bias, and these two kernels carry them back to
// w, b, gamma and beta (the chain rule through the fold; ds[k]/dgamma[k] =
// invstd[k]):
//   fold_weight_backward: dw[k, i] += s[k] * dwf[k, i]
//                         dgamma[k] += invstd[k] * sum_i w[k, i] * dwf[k, i]
//   fold_bias_backward:   db[k]     += s[k] * dbf[k]
//                         dgamma[k] += invstd[k] * (b[k] - mean[k]) * dbf[k]
//                         dbeta[k]  += dbf[k]
// Together the two dgamma terms are the batch norm's sum(dy * xhat): the sum
// over positions of dy * conv(x, w) is sum_i w[k, i] * dwf[k, i], a dot
// product of two K x CRS arrays instead of a pass over the activations, and
// no division by gamma. Each output may be null (not wanted); all accumulate
// (+=). b null reads as 0.
// Saved for backward (by the framework op): w, b, gamma, mean, var.
//
// In bfloat16 training (framework/precision.h) the convolution takes its
// weights in bfloat16: the fold then writes w_folded in bfloat16 itself
// (TW = bf16, each value the float32 product rounded once, the same bits as a
// float32 fold followed by a cast), and its backward reads the convolution's
// bfloat16 dwf (TG = bf16, widened exactly). Everything else stays float32.
// One kernel each way instead of two, and no float32 copy of the folded
// weights or of their gradient.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/common.h"

namespace skinmtl {

// invstd[k] = 1 / sqrt(var[k] + eps), rounded as the batch norm kernels round
// it, and s[k] = gamma[k] * invstd[k], the per-channel factor of a batch norm
// with fixed statistics.
template <typename T>
SKINMTL_HD T fold_invstd(T var, T eps) {
  using std::sqrt;  // std::sqrt(float) on the host, CUDA's sqrt(float) on the device
  return T(1) / sqrt(var + eps);
}
template <typename T>
SKINMTL_HD T fold_scale(T gamma, T var, T eps) {
  return gamma * fold_invstd(var, eps);
}

// One element of bias_act (r = 0 without a residual).
template <typename T>
SKINMTL_HD T bias_act_elem(T y, T b, T r, bool relu) {
  const T v = (y + b) + r;
  return relu && !(v > T(0)) ? T(0) : v;  // ReLU: max(v, 0), as kernels/relu.h
}

// One element of bias_act_backward's g.
template <typename T>
SKINMTL_HD T bias_act_backward_elem(T dy, T y, bool relu) {
  return relu && !(y > T(0)) ? T(0) : dy;  // relu_backward_elem (kernels/relu.h)
}

// TW, TG: T, or bf16 for T = float.
template <typename T, typename TW = T>
void fold_batch_norm_cpu(TW* w_folded, T* b_folded, const T* w, const T* b, const T* gamma, const T* beta,
                         const T* mean, const T* var, double eps, int64_t K, int64_t CRS);
template <typename T>
void bias_act_cpu(T* y, const T* b, const T* residual, int64_t N, int64_t K, int64_t HW, bool relu);
template <typename T>
void bias_act_backward_cpu(T* g, T* dr, const T* dy, const T* y, int64_t n, bool relu, bool dr_accumulate);

template <typename T, typename TG = T>
void fold_weight_backward_cpu(T* dw, T* dgamma, const TG* dwf, const T* w, const T* gamma, const T* var, double eps,
                              int64_t K, int64_t CRS);
template <typename T>
void fold_bias_backward_cpu(T* db, T* dgamma, T* dbeta, const T* dbf, const T* b, const T* gamma, const T* mean,
                            const T* var, double eps, int64_t K);

// On the GPU the fold is float32 (w_folded and dwf float32 or bfloat16:
// TW, TG = float or bf16). bias_act takes float32 or bfloat16
// activations (y and the residual; T = float or bf16), with a float32 bias:
// the sum is formed in float32 and rounded once when stored (kernels/bf16.h),
// so a bfloat16 network folds too (framework/precision.h).
template <typename TW>
void fold_batch_norm_cuda(TW* w_folded, float* b_folded, const float* w, const float* b, const float* gamma,
                          const float* beta, const float* mean, const float* var, double eps, int64_t K,
                          int64_t CRS, cuda_stream_t s);
template <typename TG>
void fold_weight_backward_cuda(float* dw, float* dgamma, const TG* dwf, const float* w, const float* gamma,
                               const float* var, double eps, int64_t K, int64_t CRS, cuda_stream_t s);
void fold_bias_backward_cuda(float* db, float* dgamma, float* dbeta, const float* dbf, const float* b,
                             const float* gamma, const float* mean, const float* var, double eps, int64_t K,
                             cuda_stream_t s);
template <typename T>
void bias_act_cuda(T* y, const float* b, const T* residual, int64_t N, int64_t K, int64_t HW, bool relu,
                   cuda_stream_t s);
template <typename T>
void bias_act_backward_cuda(T* g, T* dr, const T* dy, const T* y, int64_t n, bool relu, bool dr_accumulate,
                            cuda_stream_t s);

}  // namespace skinmtl
