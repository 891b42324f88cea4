// cuDNN path of kernels/conv2d.h (legacy descriptor API, cuDNN 7-9).
//
// Plans. cuDNN needs descriptors for x, w, y and the convolution, and one
// algorithm per pass. Building them, and above all asking cuDNN which
// algorithm to use, costs far more than a small convolution, so the first call
// for a shape builds a Plan and caches it in a map keyed by every size of the
// convolution (Conv2dShape); later calls (every training step) look it up. The
// cache lives for the whole process and is never freed (a ResNet-50 has a few
// dozen distinct shapes; the descriptors are a few hundred bytes each).
//
// Choosing an algorithm. cudnnGet*Algorithm_v7 ranks all algorithms by
// cuDNN's heuristics, fastest first, without running anything; we take the
// first one that
//   - cuDNN reports as usable for this shape (status SUCCESS),
//   - is deterministic (the same inputs give the same bits: reproducible
//     research; this rules out e.g. the atomics-based backward ALGO_0s),
//   - runs with FMA math (unless cuda::set_tf32(true), below): the
//     convolution descriptor is set to CUDNN_FMA_MATH
//     (no TF32 tensor cores, which round operands to 10 mantissa bits and
//     would not match the CPU reference to float tolerance); entries asking
//     for tensor-op math are skipped, and for the rest the workspace query on
//     our FMA descriptor doubles as the check that cuDNN supports it there,
//   - is not FFT-based (FFT, FFT_TILING) or WINOGRAD_NONFUSED: those round
//     transforms of whole images or large tiles, so their error grows with
//     the largest values in the layer rather than with each output's own
//     sum, and they do not match the CPU to float tolerance reliably,
//   - needs at most kMaxWorkspaceBytes of workspace.
// With cuda::set_tf32(true) the descriptor allows tensor-op math instead
// (CUDNN_TENSOR_OP_MATH: TF32 for FP32 data) and tensor-op entries are
// accepted; the other rules stay. Plans are cached per setting.
// If none qualifies we fall back to the general-purpose deterministic
// algorithms IMPLICIT_GEMM / BWD_DATA_ALGO_1 / BWD_FILTER_ALGO_1 (an error is
// raised if cuDNN does not support even those for the shape). Heuristics
// rather than cudnnFind* (benchmarking): the choice is then the same in every
// run on the same GPU and cuDNN version, and the search needs no trial
// buffers. The price: the heuristic's pick is not always the fastest.
//
// Workspace: never allocated here. The framework asks for the byte count
// (conv2d_cudnn_*_workspace_bytes, which builds the plan if needed), allocates
// a Tensor of that size from its caching allocator and passes it in.
//
// Bias: the deterministic bias kernels of conv2d_im2col.cu, shared with the
// im2col path.
#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/cuda/check.cuh"
#include "kernels/device.h"

namespace skinmtl {
namespace {

constexpr size_t kMaxWorkspaceBytes = size_t(512) << 20;  // 512 MiB

struct CudnnConvPlan {
  cudnnTensorDescriptor_t x_desc = nullptr;  // (N, C, H, W)
  cudnnTensorDescriptor_t y_desc = nullptr;  // (N, K, P, Q)
  cudnnFilterDescriptor_t w_desc = nullptr;  // (K, C, R, S)
  cudnnConvolutionDescriptor_t conv_desc = nullptr;
  cudnnConvolutionFwdAlgo_t fwd_algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  cudnnConvolutionBwdDataAlgo_t bwd_data_algo = CUDNN_CONVOLUTION_BWD_DATA_ALGO_1;
  cudnnConvolutionBwdFilterAlgo_t bwd_filter_algo = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1;
  size_t fwd_bytes = 0, bwd_data_bytes = 0, bwd_filter_bytes = 0;  // workspace per pass

  CudnnConvPlan() = default;
  CudnnConvPlan(const CudnnConvPlan&) = delete;
  CudnnConvPlan& operator=(const CudnnConvPlan&) = delete;
  // Only runs when building a plan failed half-way (cached plans are never
  // freed); statuses are ignored, a destructor must not throw.
  ~CudnnConvPlan() {
    if (conv_desc) cudnnDestroyConvolutionDescriptor(conv_desc);
    if (w_desc) cudnnDestroyFilterDescriptor(w_desc);
    if (y_desc) cudnnDestroyTensorDescriptor(y_desc);
    if (x_desc) cudnnDestroyTensorDescriptor(x_desc);
  }
};

// Algorithms whose rounding error is that of a plain sum of products (see the
// top of this file); one overload per pass.
bool precise(cudnnConvolutionFwdAlgo_t a) {
  return a != CUDNN_CONVOLUTION_FWD_ALGO_FFT && a != CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING &&
         a != CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED;
}
bool precise(cudnnConvolutionBwdDataAlgo_t a) {
  return a != CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT &&
         a != CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING &&
         a != CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED;
}
bool precise(cudnnConvolutionBwdFilterAlgo_t a) {
  return a != CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT &&
         a != CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING &&
         a != CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED;
}

// The first usable entry of a heuristic ranking (see the top of this file),
// or `fallback`. `workspace_of(algo, &bytes)` returns cuDNN's status for the
// workspace query of `algo`; *bytes receives the chosen algorithm's workspace.
template <typename Perf, typename Algo, typename WorkspaceFn>
Algo choose_algo(const std::vector<Perf>& ranked, int returned, Algo fallback, bool tensor_ops,
                 WorkspaceFn workspace_of, size_t* bytes) {
  for (int i = 0; i < returned; ++i) {
    const Perf& perf = ranked[i];
    if (perf.status != CUDNN_STATUS_SUCCESS) continue;
    if (perf.determinism != CUDNN_DETERMINISTIC) continue;
    if (!precise(perf.algo)) continue;
    if (!tensor_ops && (perf.mathType == CUDNN_TENSOR_OP_MATH ||
                        perf.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))
      continue;
    // ALLOW_CONVERSION would round FP32 to FP16: never wanted.
    if (perf.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) continue;
    size_t b = 0;
    if (workspace_of(perf.algo, &b) != CUDNN_STATUS_SUCCESS) continue;  // unsupported with FMA
    if (b > kMaxWorkspaceBytes) continue;
    *bytes = b;
    return perf.algo;
  }
  CUDNN_CHECK(workspace_of(fallback, bytes));
  return fallback;
}

std::unique_ptr<CudnnConvPlan> build_plan(const Conv2dShape& sh, bool tf32) {
  cudnnHandle_t handle = cuda::cudnn_handle();
  auto plan = std::make_unique<CudnnConvPlan>();
  CudnnConvPlan& pl = *plan;

  CUDNN_CHECK(cudnnCreateTensorDescriptor(&pl.x_desc));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(pl.x_desc, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, sh.N,
                                         sh.C, sh.H, sh.W));
  CUDNN_CHECK(cudnnCreateFilterDescriptor(&pl.w_desc));
  CUDNN_CHECK(cudnnSetFilter4dDescriptor(pl.w_desc, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, sh.K,
                                         sh.C, sh.R, sh.S));
  CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&pl.conv_desc));
  // Cross-correlation (no kernel flip), like PyTorch; float accumulation.
  CUDNN_CHECK(cudnnSetConvolution2dDescriptor(pl.conv_desc, sh.pad_h, sh.pad_w, sh.stride_h,
                                              sh.stride_w, sh.dilation_h, sh.dilation_w,
                                              CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  // FMA only, or TF32 tensor cores when asked (see the top of this file).
  CUDNN_CHECK(cudnnSetConvolutionMathType(pl.conv_desc, tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));

  int n = 0, k = 0, p = 0, q = 0;
  CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(pl.conv_desc, pl.x_desc, pl.w_desc, &n, &k,
                                                    &p, &q));
  SKINMTL_CHECK(n == sh.N && k == sh.K && p == sh.P && q == sh.Q,
                "conv2d (cuDNN): cuDNN computes output (" << n << ", " << k << ", " << p << ", "
                    << q << "), skinmtl (" << sh.N << ", " << sh.K << ", " << sh.P << ", "
                    << sh.Q << ")");
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&pl.y_desc));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(pl.y_desc, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, sh.N,
                                         sh.K, sh.P, sh.Q));

  int max_count = 0, returned = 0;

  // Forward.
  CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(handle, &max_count));
  std::vector<cudnnConvolutionFwdAlgoPerf_t> fwd((size_t)max_count);
  CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(handle, pl.x_desc, pl.w_desc, pl.conv_desc,
                                                     pl.y_desc, max_count, &returned,
                                                     fwd.data()));
  pl.fwd_algo = choose_algo(
      fwd, returned, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, tf32,
      [&](cudnnConvolutionFwdAlgo_t a, size_t* b) {
        return cudnnGetConvolutionForwardWorkspaceSize(handle, pl.x_desc, pl.w_desc,
                                                       pl.conv_desc, pl.y_desc, a, b);
      },
      &pl.fwd_bytes);

  // Backward data: dx from dy and w.
  CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(handle, &max_count));
  std::vector<cudnnConvolutionBwdDataAlgoPerf_t> bwd_data((size_t)max_count);
  CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(handle, pl.w_desc, pl.y_desc,
                                                          pl.conv_desc, pl.x_desc, max_count,
                                                          &returned, bwd_data.data()));
  pl.bwd_data_algo = choose_algo(
      bwd_data, returned, CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, tf32,
      [&](cudnnConvolutionBwdDataAlgo_t a, size_t* b) {
        return cudnnGetConvolutionBackwardDataWorkspaceSize(handle, pl.w_desc, pl.y_desc,
                                                            pl.conv_desc, pl.x_desc, a, b);
      },
      &pl.bwd_data_bytes);

  // Backward filter: dw from x and dy.
  CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(handle, &max_count));
  std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> bwd_filter((size_t)max_count);
  CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(handle, pl.x_desc, pl.y_desc,
                                                            pl.conv_desc, pl.w_desc, max_count,
                                                            &returned, bwd_filter.data()));
  pl.bwd_filter_algo = choose_algo(
      bwd_filter, returned, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, tf32,
      [&](cudnnConvolutionBwdFilterAlgo_t a, size_t* b) {
        return cudnnGetConvolutionBackwardFilterWorkspaceSize(handle, pl.x_desc, pl.y_desc,
                                                              pl.conv_desc, pl.w_desc, a, b);
      },
      &pl.bwd_filter_bytes);
  return plan;
}

using PlanKey = std::array<int, 16>;

PlanKey key_of(const Conv2dShape& sh, bool tf32) {
  return {sh.N,        sh.C,        sh.H,     sh.W,     sh.K,
          sh.R,        sh.S,        sh.P,     sh.Q,     sh.stride_h,
          sh.stride_w, sh.pad_h,    sh.pad_w, sh.dilation_h, sh.dilation_w, tf32 ? 1 : 0};
}

// The cached plan for `sh`, built on first use. The map is heap-allocated and
// never destroyed, so no descriptor is freed during static destruction, after
// the CUDA runtime may already be gone. A plan never moves once inserted
// (unique_ptr), so the reference stays valid.
const CudnnConvPlan& plan_for(const Conv2dShape& sh) {
  static std::mutex mu;
  static auto* plans = new std::map<PlanKey, std::unique_ptr<CudnnConvPlan>>();
  std::lock_guard<std::mutex> lock(mu);
  const bool tf32 = cuda::tf32();
  auto& slot = (*plans)[key_of(sh, tf32)];
  if (!slot) {
    try {
      slot = build_plan(sh, tf32);
    } catch (...) {
      plans->erase(key_of(sh, tf32));  // do not leave an empty entry behind
      throw;
    }
  }
  return *slot;
}

void check_stream(cuda_stream_t stream) {
  SKINMTL_CHECK(stream == cuda::stream(),
                "conv2d (cuDNN): the cuDNN handle is bound to cuda::stream(); pass that stream");
}

}  // namespace

size_t conv2d_cudnn_forward_workspace_bytes(const Conv2dShape& sh) {
  if (sh.N == 0) return 0;  // nothing to compute (cuDNN rejects empty tensors)
  return plan_for(sh).fwd_bytes;
}

size_t conv2d_cudnn_backward_workspace_bytes(const Conv2dShape& sh, bool need_dx, bool need_dw) {
  if (sh.N == 0) return 0;
  const CudnnConvPlan& pl = plan_for(sh);
  size_t bytes = 0;  // the two passes run one after the other and share the workspace
  if (need_dx && pl.bwd_data_bytes > bytes) bytes = pl.bwd_data_bytes;
  if (need_dw && pl.bwd_filter_bytes > bytes) bytes = pl.bwd_filter_bytes;
  return bytes;
}

void conv2d_forward_cudnn(float* y, const float* x, const float* w, const float* bias,
                          void* workspace, size_t workspace_bytes, const Conv2dShape& sh,
                          cuda_stream_t stream) {
  if (sh.N == 0) return;
  check_stream(stream);
  const CudnnConvPlan& pl = plan_for(sh);
  SKINMTL_CHECK(workspace_bytes >= pl.fwd_bytes, "conv2d (cuDNN): forward needs "
                                                     << pl.fwd_bytes << " workspace bytes, got "
                                                     << workspace_bytes);
  const float one = 1.f, zero = 0.f;
  // y = 1 * conv(x, w) + 0 * y: beta = 0, so cuDNN never reads y (it may hold garbage).
  CUDNN_CHECK(cudnnConvolutionForward(cuda::cudnn_handle(), &one, pl.x_desc, x, pl.w_desc, w,
                                      pl.conv_desc, pl.fwd_algo, workspace, workspace_bytes,
                                      &zero, pl.y_desc, y));
  if (bias) conv2d_bias_forward_cuda(y, bias, sh, stream);
}

void conv2d_backward_cudnn(float* dx, float* dw, float* dbias, const float* dy, const float* x,
                           const float* w, void* workspace, size_t workspace_bytes,
                           const Conv2dShape& sh, cuda_stream_t stream) {
  if (sh.N == 0) return;
  check_stream(stream);
  const CudnnConvPlan& pl = plan_for(sh);
  const float one = 1.f;  // alpha = 1 and beta = 1: ACCUMULATE into dx and dw
  if (dx) {
    SKINMTL_CHECK(workspace_bytes >= pl.bwd_data_bytes,
                  "conv2d (cuDNN): backward data needs " << pl.bwd_data_bytes
                                                         << " workspace bytes, got "
                                                         << workspace_bytes);
    CUDNN_CHECK(cudnnConvolutionBackwardData(cuda::cudnn_handle(), &one, pl.w_desc, w,
                                             pl.y_desc, dy, pl.conv_desc, pl.bwd_data_algo,
                                             workspace, workspace_bytes, &one, pl.x_desc, dx));
  }
  if (dw) {
    SKINMTL_CHECK(workspace_bytes >= pl.bwd_filter_bytes,
                  "conv2d (cuDNN): backward filter needs " << pl.bwd_filter_bytes
                                                           << " workspace bytes, got "
                                                           << workspace_bytes);
    CUDNN_CHECK(cudnnConvolutionBackwardFilter(cuda::cudnn_handle(), &one, pl.x_desc, x,
                                               pl.y_desc, dy, pl.conv_desc, pl.bwd_filter_algo,
                                               workspace, workspace_bytes, &one, pl.w_desc, dw));
  }
  if (dbias) conv2d_bias_backward_cuda(dbias, dy, sh, stream);
}

}  // namespace skinmtl
