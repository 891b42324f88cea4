// kernels/cuda/conv2d_cudnn_common.cuh: what the two cuDNN paths of
// kernels/conv2d.h share: the legacy descriptor API (conv2d_cudnn.cu) and
// cuDNN's graph API (conv2d_cudnn_graph.cu).
//
//   - the workspace cap (512 MiB) both apply to every candidate;
//   - the data type of a pass (float32, or bfloat16 with float32 accumulation)
//     and whether tensor-core math is allowed for it;
//   - the trial buffers a measured algorithm choice runs its candidates on;
//   - the batch-size buckets that share one measured ranking;
//   - what a backward pass over an empty batch writes.
#pragma once

#include <algorithm>
#include <type_traits>

#include "kernels/bf16.h"
#include "kernels/conv2d.h"
#include "kernels/cuda/check.cuh"
#include "kernels/device.h"

namespace skinmtl::cudnn_conv {

constexpr size_t kMaxWorkspaceBytes = size_t(512) << 20;  // 512 MiB

inline cudnnDataType_t cudnn_type(CudnnData data) {
  return data == CudnnData::BF16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
}
inline size_t elem_bytes(CudnnData data) { return data == CudnnData::BF16 ? sizeof(bf16) : sizeof(float); }
// Whether tensor-core math is allowed: TF32 for float32 data when asked
// (cuda::set_tf32); always for bfloat16 (the point of bfloat16).
inline bool tensor_ops(bool tf32, CudnnData data) { return tf32 || data == CudnnData::BF16; }

// The data type of T's buffers.
template <typename T>
constexpr CudnnData data_of() {
  return std::is_same<T, bf16>::value ? CudnnData::BF16 : CudnnData::F32;
}

// A backward pass over an empty batch (N = 0): cuDNN rejects empty tensors,
// so nothing runs, but a dw or dbias that is to be overwritten must still be
// given the empty sum, 0 (kernels/conv2d.h, Conv2dAccumulate).
template <typename T>
void zero_empty_sums(T* dw, float* dbias, const Conv2dShape& sh, Conv2dAccumulate acc, cuda_stream_t stream) {
  if (dw && !acc.dw) CUDA_CHECK(cudaMemsetAsync(dw, 0, sh.K * sh.col_rows() * sizeof(T), stream));
  if (dbias && !acc.dbias) CUDA_CHECK(cudaMemsetAsync(dbias, 0, sh.K * sizeof(float), stream));
}

// The cuDNN handle is bound to cuda::stream(): work for any other stream
// would run on the wrong queue.
inline void check_stream(cuda_stream_t stream, const char* path) {
  SKINMTL_CHECK(stream == cuda::stream(),
                "conv2d (" << path << "): the cuDNN handle is bound to cuda::stream(); pass that stream");
}

// Device buffers for a measured search: x (or dx), w (or dw), y (or dy) of
// the shape and a workspace, all zeroed. ok() is false when any allocation
// failed (the caller then ranks by heuristics). Freed when it goes out of scope.
struct TrialBuffers {
  void* x = nullptr;
  void* w = nullptr;
  void* y = nullptr;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  TrialBuffers(const Conv2dShape& sh, size_t elem_bytes) {
    const size_t xb = elem_bytes * (size_t)sh.N * (size_t)sh.x_image(),
                 wb = elem_bytes * (size_t)sh.K * (size_t)sh.col_rows(),
                 yb = elem_bytes * (size_t)sh.N * (size_t)sh.y_image();
    x = cuda::malloc_raw(xb);
    w = cuda::malloc_raw(wb);
    y = cuda::malloc_raw(yb);
    if (!ok()) return;
    // The largest workspace up to the cap that fits in half of what is free.
    workspace_bytes = std::min(kMaxWorkspaceBytes, cuda::device_free_bytes() / 2);
    while (workspace_bytes >= (size_t(1) << 20) && !(workspace = cuda::malloc_raw(workspace_bytes)))
      workspace_bytes /= 2;
    if (!workspace) workspace_bytes = 0;
    cuda::memset_async(x, 0, xb);
    cuda::memset_async(w, 0, wb);
    cuda::memset_async(y, 0, yb);
  }
  bool ok() const { return x && w && y; }
  ~TrialBuffers() {
    for (void* p : {x, w, y, workspace})
      if (p) cuda::free_raw(p);
  }
  TrialBuffers(const TrialBuffers&) = delete;
  TrialBuffers& operator=(const TrialBuffers&) = delete;
};

// The batch sizes that share one measured ranking: N rounded up to a power of
// two. A mask head sees a different number of RoIs every iteration; searching
// each would cost more than it saves, so a search runs once per bucket and
// its ranking is reused for every N in it (each N still gets its own plan).
inline int batch_bucket(int n) {
  int b = 1;
  while (b < n && b < (1 << 30)) b <<= 1;
  return b;
}

}  // namespace skinmtl::cudnn_conv
