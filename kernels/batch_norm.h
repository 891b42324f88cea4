// kernels/batch_norm.h: 2-D batch normalization, per channel over N*H*W.
//
// Notation: x, y, dx, dy are (N, C, H, W); every per-channel vector (gamma,
// beta, mean, invstd, running_mean, running_var, dgamma, dbeta) is (C).
// M = N*H*W, the number of values one channel's statistics are taken over.
//
// Training (Ioffe & Szegedy 2015, Algorithm 1):
//   mean    = 1/M sum x                          (per channel)
//   var     = 1/M sum (x - mean)^2               (biased: what normalises)
//   invstd  = 1 / sqrt(var + eps)
//   xhat    = (x - mean) * invstd
//   y       = gamma * xhat + beta
//   running_mean = (1 - m) running_mean + m mean
//   running_var  = (1 - m) running_var  + m var * M / (M - 1)   (unbiased, as PyTorch)
//   The running statistics are updated in place by the forward pass; they are
//   buffers, not parameters, and no gradient flows to them.
// Frozen (inference, or fine-tuning with frozen statistics as the Keras/Caffe
// ResNet-50 is often used):
//   mean = running_mean, invstd = 1 / sqrt(running_var + eps); y as above;
//   the running statistics are left untouched.
// eps is per layer: PyTorch's default is 1e-5, the Keras/Caffe ResNet-50 uses 1e-3.
//
// Saved for backward: x, gamma, and the per-channel mean and invstd actually
// used by the forward pass (batch statistics in training, running ones when
// frozen). Saving them, rather than re-reading the running statistics, keeps
// the backward correct even after a later forward updated the buffers.
//
// Backward, with sum_dy = sum dy and sum_dy_xhat = sum dy * xhat per channel:
//   dgamma += sum_dy_xhat
//   dbeta  += sum_dy
//   training: dx += gamma * invstd / M * (M dy - sum_dy - xhat * sum_dy_xhat)
//             (mean and var depend on x, hence the two correction terms; see
//              Ioffe & Szegedy 2015 section 3, or PyTorch's
//              batch_norm_backward_elemt)
//   frozen:   dx += gamma * invstd * dy   (mean and invstd are constants)
// The code evaluates the training formula as
//   gamma * invstd * (dy - sum_dy / M - xhat * sum_dy_xhat / M),
// the same expression with 1/M folded into the per-channel sums, so no term
// of size M * dy is formed.
//
// Numerics. Per-channel sums are accumulated in T (float for the float32
// path; the float64 instantiation is what the gradient checks run), with two
// precautions:
//  - the variance is computed in two passes, mean first and then the mean of
//    the squared deviations, never as E[x^2] - E[x]^2, which cancels
//    catastrophically when |mean| >> std;
//  - every running sum is a KahanSum (below). A channel of an early ResNet-50
//    layer holds M = 20 * 112 * 112 = 250,880 values; a plain float
//    accumulator that large loses about 1e-3 of the variance to rounding
//    (measured on M = 2.1M), which compensated summation removes.
// On CUDA each channel is reduced by one block: each thread Kahan-sums a fixed
// strided subset of the channel, then a fixed tree in shared memory combines
// the kThreads partial sums, so the result is bitwise reproducible from run to
// run (no atomics). The CPU reference Kahan-sums in 16 interleaved lanes
// (kernels/cpu/batch_norm.cpp), combined in order; the two agree to float
// rounding.
#pragma once

#include <cstdint>

#include "kernels/common.h"
#include "kernels/relu.h"

namespace skinmtl {

// ---- element functions, shared by the CPU loops and the CUDA kernels ---------

// Kahan's compensated summation (Higham, Accuracy and Stability of Numerical
// Algorithms, 2nd ed., section 4.3). `comp` holds the low-order part that the
// last addition rounded away; the next addition puts it back, so the error of
// an n-term sum stays O(eps) instead of growing like O(n eps). Algebraically
// comp is always 0, so this relies on the compiler keeping the floating-point
// operations as written: no -ffast-math / --use_fast_math (the Makefile uses
// neither; contracting a multiply into an FMA, which nvcc does, is harmless).
template <typename T>
struct KahanSum {
  T sum = 0, comp = 0;
  SKINMTL_HD void add(T v) {
    const T y = v - comp;
    const T t = sum + y;
    comp = (t - sum) - y;
    sum = t;
  }
};

// y = gamma * (x - mean) * invstd + beta
template <typename T>
SKINMTL_HD T bn_normalize_elem(T x, T mean, T invstd, T gamma, T beta) {
  return gamma * ((x - mean) * invstd) + beta;
}

// One running-statistic update: (1 - m) running + m batch.
template <typename T>
SKINMTL_HD T bn_running_update_elem(T running, T batch, T momentum) {
  return (T(1) - momentum) * running + momentum * batch;
}

// The training-mode gradient of one element of x, to be added to dx.
// mean_dy = sum_dy / M and mean_dy_xhat = sum_dy_xhat / M for its channel.
template <typename T>
SKINMTL_HD T bn_backward_train_elem(T dy, T x, T mean, T invstd, T gamma, T mean_dy,
                                    T mean_dy_xhat) {
  const T xhat = (x - mean) * invstd;
  return gamma * invstd * (dy - mean_dy - xhat * mean_dy_xhat);
}

// The frozen-mode gradient of one element of x, to be added to dx.
template <typename T>
SKINMTL_HD T bn_backward_frozen_elem(T dy, T invstd, T gamma) {
  return gamma * invstd * dy;
}

// ---- CPU ----------------------------------------------------------------------

// Training statistics: mean and invstd of the batch, and the in-place update of
// the running statistics. Requires M = N*HW > 1 (the unbiased variance).
template <typename T>
void batch_norm_train_stats_cpu(T* mean,          // (C) batch mean
                                T* invstd,        // (C) 1 / sqrt(biased var + eps)
                                T* running_mean,  // (C) updated in place
                                T* running_var,   // (C) updated in place
                                const T* x,       // (N, C, HW)
                                int64_t N, int64_t C, int64_t HW, double eps, double momentum);

// Frozen statistics: mean = running_mean, invstd = 1 / sqrt(running_var + eps).
template <typename T>
void batch_norm_frozen_stats_cpu(T* mean,                 // (C)
                                 T* invstd,               // (C)
                                 const T* running_mean,   // (C)
                                 const T* running_var,    // (C)
                                 int64_t C, double eps);

// y = gamma * (x - mean) * invstd + beta, and at a residual unit's end (the
// op batch_norm2d_act, framework/ops.h) in the same pass:
//   y = act(gamma * (x - mean) * invstd + beta + r)
// with r the shortcut when residual is not null and act = ReLU when relu
// (relu_forward_elem, kernels/relu.h): the batch norm, add and ReLU ops'
// arithmetic, in one pass instead of three. Its backward needs no kernel of
// its own: bias_act_backward (kernels/fold_batch_norm.h) takes dy through the
// ReLU and gives the shortcut's gradient, the batch norm's backward the rest.
template <typename T>
void batch_norm_normalize_cpu(T* y,               // (N, C, HW)
                              const T* x,         // (N, C, HW)
                              const T* residual,  // (N, C, HW), or nullptr: none
                              const T* mean,      // (C)
                              const T* invstd,    // (C)
                              const T* gamma,     // (C)
                              const T* beta,      // (C)
                              int64_t N, int64_t C, int64_t HW, bool relu);

// Backward. Each of dx, dgamma, dbeta may be nullptr (that gradient is not
// wanted); the others are ACCUMULATED into, but dx is overwritten (every
// element) when accumulate_dx is false (a gradient buffer that holds nothing
// yet, framework/autograd.h). Then dx may also be dy itself (in place, as
// batch_norm2d_act's backward runs it to spare a buffer): a channel's sums
// are taken before any of its dx is written, and each element of dx is
// written from the same element of dy, read just before (on the GPU too).
template <typename T>
void batch_norm_backward_cpu(T* dx,             // (N, C, HW) += (or =), or nullptr
                             T* dgamma,         // (C) +=, or nullptr
                             T* dbeta,          // (C) +=, or nullptr
                             const T* dy,       // (N, C, HW)
                             const T* x,        // (N, C, HW)
                             const T* mean,     // (C) saved by the forward pass
                             const T* invstd,   // (C) saved by the forward pass
                             const T* gamma,    // (C)
                             int64_t N, int64_t C, int64_t HW, bool training, bool accumulate_dx);

// ---- synchronised batch norm, in pieces (CPU) ------------------------------------
// Training statistics and backward sums taken over the batches of several
// processes (framework/distributed.h, "synchronised batch norm"): each process
// computes per-channel sums over its own part, the sums are added up across
// processes (an all-reduce between two calls), and every process then finishes
// with the totals. Mtot is the number of values per channel over ALL processes.
//
//   forward:  sum  = sum x                      batch_norm_sum            (local)
//             mean = sum_all / Mtot                                       (after the all-reduce)
//             sq   = sum (x - mean)^2           batch_norm_sum_sq_dev     (local, two-pass as above)
//             invstd, running stats from sq_all batch_norm_stats_from_sq_dev
//   backward: sums = [sum dy, sum dy * xhat]    batch_norm_backward_sums  (local; dgamma/dbeta)
//             dx  += training formula with the
//                    totals and Mtot            batch_norm_backward_dx
// In a job of one process the pieces compute what batch_norm_train_stats and
// batch_norm_backward compute (tested).
template <typename T>
void batch_norm_sum_cpu(T* sum,        // (C) sum over n, hw of x
                        const T* x,    // (N, C, HW)
                        int64_t N, int64_t C, int64_t HW);
template <typename T>
void batch_norm_sum_sq_dev_cpu(T* sq,          // (C) sum over n, hw of (x - mean)^2
                               const T* x,     // (N, C, HW)
                               const T* mean,  // (C)
                               int64_t N, int64_t C, int64_t HW);
// invstd = 1 / sqrt(sq / Mtot + eps); the running statistics as in training
// (unbiased variance sq / (Mtot - 1)). Requires Mtot > 1.
template <typename T>
void batch_norm_stats_from_sq_dev_cpu(T* invstd,        // (C)
                                      T* running_mean,  // (C) updated in place
                                      T* running_var,   // (C) updated in place
                                      const T* mean,    // (C)
                                      const T* sq,      // (C) over all processes
                                      int64_t C, int64_t Mtot, double eps, double momentum);
// sums[c] = sum dy, sums[C + c] = sum dy * xhat (overwritten, not accumulated).
template <typename T>
void batch_norm_backward_sums_cpu(T* sums,          // (2, C)
                                  const T* dy,      // (N, C, HW)
                                  const T* x,       // (N, C, HW)
                                  const T* mean,    // (C)
                                  const T* invstd,  // (C)
                                  int64_t N, int64_t C, int64_t HW);
// dx += gamma * invstd * (dy - sums[c] / Mtot - xhat * sums[C + c] / Mtot)
// (= when accumulate is false).
template <typename T>
void batch_norm_backward_dx_cpu(T* dx,            // (N, C, HW) += (or =)
                                const T* sums,    // (2, C) over all processes
                                const T* dy,      // (N, C, HW)
                                const T* x,       // (N, C, HW)
                                const T* mean,    // (C)
                                const T* invstd,  // (C)
                                const T* gamma,   // (C)
                                int64_t N, int64_t C, int64_t HW, int64_t Mtot, bool accumulate);

// ---- CUDA (float32; bfloat16 activations where X) ----------------------------
// The same buffers, shapes and accumulate rules as the CPU twins above, on
// device memory, queued on stream s.

// As batch_norm_train_stats_cpu: one block per channel, two-pass, deterministic.
// The activations (x, y, dy, dx) of the three kernels below are float32 or
// bfloat16 (X, kernels/bf16.h); the per-channel vectors are float32.
template <typename X>
void batch_norm_train_stats_cuda(float* mean, float* invstd, float* running_mean,
                                 float* running_var, const X* x, int64_t N, int64_t C,
                                 int64_t HW, double eps, double momentum, cuda_stream_t s);
void batch_norm_frozen_stats_cuda(float* mean, float* invstd, const float* running_mean,
                                  const float* running_var, int64_t C, double eps,
                                  cuda_stream_t s);
// In bfloat16 the whole of act(bn(x) + r) is formed in float32 and rounded once.
template <typename X>
void batch_norm_normalize_cuda(X* y, const X* x, const X* residual, const float* mean, const float* invstd,
                               const float* gamma, const float* beta, int64_t N, int64_t C,
                               int64_t HW, bool relu, cuda_stream_t s);
// As batch_norm_backward_cpu. `sums` is scratch GPU memory of 2*C floats
// (the caller allocates it): sums[c] = sum_dy, sums[C + c] = sum_dy_xhat.
template <typename X>
void batch_norm_backward_cuda(X* dx, float* dgamma, float* dbeta,
                              float* sums,  // (2, C) workspace
                              const X* dy, const X* x, const float* mean,
                              const float* invstd, const float* gamma, int64_t N, int64_t C,
                              int64_t HW, bool training, bool accumulate_dx, cuda_stream_t s);

// The synchronised pieces (see the CPU section), same buffers and rules; float32.
void batch_norm_sum_cuda(float* sum, const float* x, int64_t N, int64_t C, int64_t HW, cuda_stream_t s);
void batch_norm_sum_sq_dev_cuda(float* sq, const float* x, const float* mean, int64_t N, int64_t C,
                                int64_t HW, cuda_stream_t s);
void batch_norm_stats_from_sq_dev_cuda(float* invstd, float* running_mean, float* running_var,
                                       const float* mean, const float* sq, int64_t C, int64_t Mtot,
                                       double eps, double momentum, cuda_stream_t s);
void batch_norm_backward_sums_cuda(float* sums, const float* dy, const float* x, const float* mean,
                                   const float* invstd, int64_t N, int64_t C, int64_t HW, cuda_stream_t s);
void batch_norm_backward_dx_cuda(float* dx, const float* sums, const float* dy, const float* x,
                                 const float* mean, const float* invstd, const float* gamma, int64_t N,
                                 int64_t C, int64_t HW, int64_t Mtot, bool accumulate, cuda_stream_t s);

}  // namespace skinmtl
