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
// raised if cuDNN does not support even those for the shape).
//
// Ranked by heuristics or by measurement. By default the ranking is cuDNN's
// heuristic one (cudnnGet*Algorithm_v7): nothing runs, no trial memory is
// needed, and the choice is the same in every run on the same GPU and cuDNN
// version; the price is that the heuristic's pick is not always the fastest.
// With cuda::set_conv_benchmark(true) (SKINMTL_CUDNN_BENCHMARK=1; PyTorch's
// cudnn.benchmark) the first call of a shape ranks by measured time instead:
// cudnnFind*AlgorithmEx runs each candidate on trial buffers of the shape's
// sizes (zeroed, allocated with cudaMalloc for the search and freed after it,
// with a workspace of up to kMaxWorkspaceBytes), and of the entries the same
// rules qualify, the one with the least workspace within 3% of the fastest
// time is taken (kernels/conv2d_choice.h: a workspace counts in the peak
// memory like an activation). Where the trial buffers cannot be allocated the
// heuristic ranking is used for that shape. Batch sizes share a measured
// ranking per power-of-two bucket (batch_bucket: the mask head's RoI count
// changes every iteration); each size still gets its own plan, whose
// workspace queries check every reused entry.
//
// Workspace: never allocated here. The framework asks for the byte count
// (conv2d_cudnn_*_workspace_bytes, which builds the plan if needed), allocates
// a Tensor of that size from its caching allocator and passes it in.
//
// Bias: the deterministic bias kernels of conv2d_im2col.cu, shared with the
// im2col path.
//
// bfloat16 (CudnnData::BF16): the x, w and y descriptors say BFLOAT16, the
// convolution accumulates in FLOAT, and the math type is TENSOR_OP (the
// point of bfloat16); the same selection rules apply, with tensor-op entries
// accepted. Plans are keyed by the data type as well.
#include <algorithm>
#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <type_traits>
#include <vector>

#include "kernels/bf16.h"
#include "kernels/conv2d.h"
#include "kernels/conv2d_choice.h"
#include "kernels/cuda/check.cuh"
#include "kernels/cuda/conv2d_cudnn_common.cuh"
#include "kernels/device.h"

namespace skinmtl {
namespace {

using namespace cudnn_conv;

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

// The entry of a ranking to use (see the top of this file), or `fallback`:
// of a heuristic ranking the first usable entry; of a measured one the
// usable entry pick_measured takes (kernels/conv2d_choice.h: the least
// workspace within 3% of the fastest). `workspace_of(algo, &bytes)` returns
// cuDNN's status for the workspace query of `algo`; *bytes receives the
// chosen algorithm's workspace.
template <typename Perf, typename Algo, typename WorkspaceFn>
Algo choose_algo(const std::vector<Perf>& ranked, int returned, Algo fallback, bool tensor_ops, bool measured,
                 WorkspaceFn workspace_of, size_t* bytes) {
  std::vector<Algo> usable;
  std::vector<TimedAlgo> timed;
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
    if (!measured) {
      *bytes = b;
      return perf.algo;
    }
    usable.push_back(perf.algo);
    timed.push_back({(double)perf.time, b});
  }
  if (!usable.empty()) {
    const size_t k = pick_measured(timed);
    *bytes = timed[k].workspace_bytes;
    return usable[k];
  }
  CUDNN_CHECK(workspace_of(fallback, bytes));
  return fallback;
}

// cuDNN's ranking of the algorithms of each pass, best first, with each
// entry's status, determinism, math type.
struct Ranking {
  std::vector<cudnnConvolutionFwdAlgoPerf_t> fwd;
  std::vector<cudnnConvolutionBwdDataAlgoPerf_t> bwd_data;
  std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> bwd_filter;
};

// The descriptors of `sh`; no algorithm chosen yet.
std::unique_ptr<CudnnConvPlan> make_descriptors(const Conv2dShape& sh, bool tf32, CudnnData data) {
  auto plan = std::make_unique<CudnnConvPlan>();
  CudnnConvPlan& pl = *plan;
  const cudnnDataType_t type = cudnn_type(data);
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&pl.x_desc));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(pl.x_desc, CUDNN_TENSOR_NCHW, type, sh.N, sh.C, sh.H, sh.W));
  CUDNN_CHECK(cudnnCreateFilterDescriptor(&pl.w_desc));
  CUDNN_CHECK(cudnnSetFilter4dDescriptor(pl.w_desc, type, CUDNN_TENSOR_NCHW, sh.K, sh.C, sh.R, sh.S));
  CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&pl.conv_desc));
  // Cross-correlation (no kernel flip), like PyTorch; float accumulation.
  CUDNN_CHECK(cudnnSetConvolution2dDescriptor(pl.conv_desc, sh.pad_h, sh.pad_w, sh.stride_h,
                                              sh.stride_w, sh.dilation_h, sh.dilation_w,
                                              CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  // FMA only, or tensor cores for TF32 when asked and for bfloat16 (see the top of this file).
  CUDNN_CHECK(cudnnSetConvolutionMathType(pl.conv_desc,
                                          tensor_ops(tf32, data) ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));

  int n = 0, k = 0, p = 0, q = 0;
  CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(pl.conv_desc, pl.x_desc, pl.w_desc, &n, &k,
                                                    &p, &q));
  SKINMTL_CHECK(n == sh.N && k == sh.K && p == sh.P && q == sh.Q,
                "conv2d (cuDNN): cuDNN computes output (" << n << ", " << k << ", " << p << ", "
                    << q << "), skinmtl (" << sh.N << ", " << sh.K << ", " << sh.P << ", "
                    << sh.Q << ")");
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&pl.y_desc));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(pl.y_desc, CUDNN_TENSOR_NCHW, type, sh.N, sh.K, sh.P, sh.Q));
  return plan;
}

// cuDNN's heuristic ranking for the plan's descriptors (nothing runs).
Ranking heuristic_ranking(const CudnnConvPlan& pl) {
  cudnnHandle_t handle = cuda::cudnn_handle();
  Ranking r;
  int max_count = 0, returned = 0;
  CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(handle, &max_count));
  r.fwd.resize((size_t)max_count);
  CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(handle, pl.x_desc, pl.w_desc, pl.conv_desc, pl.y_desc,
                                                     max_count, &returned, r.fwd.data()));
  r.fwd.resize((size_t)returned);
  CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(handle, &max_count));
  r.bwd_data.resize((size_t)max_count);
  CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(handle, pl.w_desc, pl.y_desc, pl.conv_desc, pl.x_desc,
                                                          max_count, &returned, r.bwd_data.data()));
  r.bwd_data.resize((size_t)returned);
  CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(handle, &max_count));
  r.bwd_filter.resize((size_t)max_count);
  CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(handle, pl.x_desc, pl.y_desc, pl.conv_desc, pl.w_desc,
                                                            max_count, &returned, r.bwd_filter.data()));
  r.bwd_filter.resize((size_t)returned);
  return r;
}

// The measured ranking (cudnnFind*AlgorithmEx on trial buffers, fastest
// first) for the plan's descriptors; false when the trial buffers do not fit.
bool measured_ranking(const CudnnConvPlan& pl, const Conv2dShape& sh, CudnnData data, Ranking* r) {
  TrialBuffers trial(sh, elem_bytes(data));
  if (!trial.ok()) return false;
  cudnnHandle_t handle = cuda::cudnn_handle();
  int max_count = 0, returned = 0;
  CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(handle, &max_count));
  r->fwd.resize((size_t)max_count);
  CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(handle, pl.x_desc, trial.x, pl.w_desc, trial.w, pl.conv_desc,
                                                     pl.y_desc, trial.y, max_count, &returned, r->fwd.data(),
                                                     trial.workspace, trial.workspace_bytes));
  r->fwd.resize((size_t)returned);
  // Backward data: dx (into the trial x) from dy and w.
  CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(handle, &max_count));
  r->bwd_data.resize((size_t)max_count);
  CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(handle, pl.w_desc, trial.w, pl.y_desc, trial.y,
                                                          pl.conv_desc, pl.x_desc, trial.x, max_count, &returned,
                                                          r->bwd_data.data(), trial.workspace,
                                                          trial.workspace_bytes));
  r->bwd_data.resize((size_t)returned);
  // Backward filter: dw (into the trial w) from x and dy.
  CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(handle, &max_count));
  r->bwd_filter.resize((size_t)max_count);
  CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(handle, pl.x_desc, trial.x, pl.y_desc, trial.y,
                                                            pl.conv_desc, pl.w_desc, trial.w, max_count, &returned,
                                                            r->bwd_filter.data(), trial.workspace,
                                                            trial.workspace_bytes));
  r->bwd_filter.resize((size_t)returned);
  return true;
}

// Sets the plan's three algorithms (and their workspace sizes) from a ranking
// by the rules at the top of this file.
void choose_algorithms(CudnnConvPlan& pl, const Ranking& r, bool tensor_ops, bool measured) {
  cudnnHandle_t handle = cuda::cudnn_handle();
  pl.fwd_algo = choose_algo(
      r.fwd, (int)r.fwd.size(), CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, tensor_ops, measured,
      [&](cudnnConvolutionFwdAlgo_t a, size_t* b) {
        return cudnnGetConvolutionForwardWorkspaceSize(handle, pl.x_desc, pl.w_desc, pl.conv_desc, pl.y_desc, a, b);
      },
      &pl.fwd_bytes);
  pl.bwd_data_algo = choose_algo(
      r.bwd_data, (int)r.bwd_data.size(), CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, tensor_ops, measured,
      [&](cudnnConvolutionBwdDataAlgo_t a, size_t* b) {
        return cudnnGetConvolutionBackwardDataWorkspaceSize(handle, pl.w_desc, pl.y_desc, pl.conv_desc, pl.x_desc,
                                                            a, b);
      },
      &pl.bwd_data_bytes);
  pl.bwd_filter_algo = choose_algo(
      r.bwd_filter, (int)r.bwd_filter.size(), CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, tensor_ops, measured,
      [&](cudnnConvolutionBwdFilterAlgo_t a, size_t* b) {
        return cudnnGetConvolutionBackwardFilterWorkspaceSize(handle, pl.x_desc, pl.y_desc, pl.conv_desc,
                                                              pl.w_desc, a, b);
      },
      &pl.bwd_filter_bytes);
}

using PlanKey = std::array<int, 18>;

PlanKey key_of(const Conv2dShape& sh, bool tf32, bool benchmark, CudnnData data) {
  return {sh.N,      sh.C,          sh.H,          sh.W,         sh.K,
          sh.R,      sh.S,          sh.P,          sh.Q,         sh.stride_h,
          sh.stride_w, sh.pad_h,    sh.pad_w,      sh.dilation_h, sh.dilation_w,
          tf32 ? 1 : 0, benchmark ? 1 : 0, (int)data};
}

// The cached plan for `sh`, built on first use. The map is heap-allocated and
// never destroyed, so no descriptor is freed during static destruction, after
// the CUDA runtime may already be gone. A plan never moves once inserted
// (unique_ptr), so the reference stays valid.
const CudnnConvPlan& plan_for(const Conv2dShape& sh, CudnnData data) {
  static std::mutex mu;
  static auto* plans = new std::map<PlanKey, std::unique_ptr<CudnnConvPlan>>();
  static auto* measured = new std::map<PlanKey, Ranking>();  // key with N -> its bucket
  std::lock_guard<std::mutex> lock(mu);
  const bool tf32 = cuda::tf32(), benchmark = cuda::conv_benchmark();
  const PlanKey key = key_of(sh, tf32, benchmark, data);
  auto it = plans->find(key);
  if (it != plans->end()) return *it->second;
  std::unique_ptr<CudnnConvPlan> plan = make_descriptors(sh, tf32, data);
  Ranking ranking;
  bool have = false;
  if (benchmark) {
    Conv2dShape bucket = sh;
    bucket.N = batch_bucket(sh.N);
    const PlanKey bucket_key = key_of(bucket, tf32, true, data);
    auto m = measured->find(bucket_key);
    if (m != measured->end()) {
      ranking = m->second;
      have = true;
    } else if (measured_ranking(*plan, sh, data, &ranking)) {
      (*measured)[bucket_key] = ranking;
      have = true;
    }
  }
  if (!have) ranking = heuristic_ranking(*plan);
  choose_algorithms(*plan, ranking, tensor_ops(tf32, data), /*measured=*/have);
  return *plans->emplace(key, std::move(plan)).first->second;
}

}  // namespace

size_t conv2d_cudnn_forward_workspace_bytes(const Conv2dShape& sh, CudnnData data) {
  if (sh.N == 0) return 0;  // nothing to compute (cuDNN rejects empty tensors)
  return plan_for(sh, data).fwd_bytes;
}

size_t conv2d_cudnn_backward_workspace_bytes(const Conv2dShape& sh, bool need_dx, bool need_dw,
                                             CudnnData data) {
  if (sh.N == 0) return 0;
  const CudnnConvPlan& pl = plan_for(sh, data);
  size_t bytes = 0;  // the two passes run one after the other and share the workspace
  if (need_dx && pl.bwd_data_bytes > bytes) bytes = pl.bwd_data_bytes;
  if (need_dw && pl.bwd_filter_bytes > bytes) bytes = pl.bwd_filter_bytes;
  return bytes;
}

template <typename T>
void conv2d_forward_cudnn(T* y, const T* x, const T* w, const float* bias, void* workspace,
                          size_t workspace_bytes, const Conv2dShape& sh, cuda_stream_t stream) {
  if (sh.N == 0) return;
  check_stream(stream, "cuDNN");
  const CudnnConvPlan& pl = plan_for(sh, data_of<T>());
  SKINMTL_CHECK(workspace_bytes >= pl.fwd_bytes, "conv2d (cuDNN): forward needs "
                                                     << pl.fwd_bytes << " workspace bytes, got "
                                                     << workspace_bytes);
  // alpha and beta are float for float32 and bfloat16 data alike.
  const float one = 1.f, zero = 0.f;
  // y = 1 * conv(x, w) + 0 * y: beta = 0, so cuDNN never reads y (it may hold garbage).
  CUDNN_CHECK(cudnnConvolutionForward(cuda::cudnn_handle(), &one, pl.x_desc, x, pl.w_desc, w,
                                      pl.conv_desc, pl.fwd_algo, workspace, workspace_bytes,
                                      &zero, pl.y_desc, y));
  if (bias) conv2d_bias_forward_cuda(y, bias, sh, stream);
}

template <typename T>
void conv2d_backward_cudnn(T* dx, T* dw, float* dbias, const T* dy, const T* x, const T* w,
                           void* workspace, size_t workspace_bytes, const Conv2dShape& sh,
                           Conv2dAccumulate acc, cuda_stream_t stream) {
  if (sh.N == 0) return zero_empty_sums(dw, dbias, sh, acc, stream);
  check_stream(stream, "cuDNN");
  const CudnnConvPlan& pl = plan_for(sh, data_of<T>());
  // alpha = 1 and beta = 1: ACCUMULATE into dx and dw; beta = 0 for a buffer
  // that holds nothing yet (cuDNN then never reads it).
  const float one = 1.f, zero = 0.f;
  const float* dx_beta = acc.dx ? &one : &zero;
  const float* dw_beta = acc.dw ? &one : &zero;
  if (dx) {
    SKINMTL_CHECK(workspace_bytes >= pl.bwd_data_bytes,
                  "conv2d (cuDNN): backward data needs " << pl.bwd_data_bytes
                                                         << " workspace bytes, got "
                                                         << workspace_bytes);
    CUDNN_CHECK(cudnnConvolutionBackwardData(cuda::cudnn_handle(), &one, pl.w_desc, w,
                                             pl.y_desc, dy, pl.conv_desc, pl.bwd_data_algo,
                                             workspace, workspace_bytes, dx_beta, pl.x_desc, dx));
  }
  if (dw) {
    SKINMTL_CHECK(workspace_bytes >= pl.bwd_filter_bytes,
                  "conv2d (cuDNN): backward filter needs " << pl.bwd_filter_bytes
                                                           << " workspace bytes, got "
                                                           << workspace_bytes);
    CUDNN_CHECK(cudnnConvolutionBackwardFilter(cuda::cudnn_handle(), &one, pl.x_desc, x,
                                               pl.y_desc, dy, pl.conv_desc, pl.bwd_filter_algo,
                                               workspace, workspace_bytes, dw_beta, pl.w_desc, dw));
  }
  if (dbias) conv2d_bias_backward_cuda(dbias, dy, sh, acc.dbias, stream);
}

#define INSTANTIATE(T)                                                                                    \
  template void conv2d_forward_cudnn<T>(T*, const T*, const T*, const float*, void*, size_t,            \
                                        const Conv2dShape&, cuda_stream_t);                            \
  template void conv2d_backward_cudnn<T>(T*, T*, float*, const T*, const T*, const T*, void*, size_t, \
                                         const Conv2dShape&, Conv2dAccumulate, cuda_stream_t);
INSTANTIATE(float)
INSTANTIATE(bf16)
#undef INSTANTIATE

}  // namespace skinmtl
