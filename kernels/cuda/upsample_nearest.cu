// CUDA kernels for kernels/upsample_nearest.h.
#include "kernels/cuda/check.cuh"
#include "kernels/upsample_nearest.h"

namespace skinmtl {

// One thread per output element e of the flat (NC, out_h, out_w) array.
// Consecutive threads write consecutive ox: the writes are coalesced.
template <typename T>
__global__ void upsample_nearest_forward_kernel(T* y, const T* x, int64_t H, int64_t W,
                                                int64_t out_h, int64_t out_w, int64_t total) {
  CUDA_KERNEL_LOOP(e, total) {
    const int64_t ox = e % out_w;
    const int64_t oy = (e / out_w) % out_h;
    const int64_t nc = e / (out_w * out_h);
    y[e] = x[(nc * H + nearest_source(oy, H, out_h)) * W + nearest_source(ox, W, out_w)];
  }
}

// One thread per INPUT element e of the flat (NC, H, W) array, gathering the
// outputs that copied it: each dx element has exactly one writer, so += needs
// no atomics and the order of the additions is fixed (the CPU's order).
template <typename T>
__global__ void upsample_nearest_backward_kernel(T* dx, const T* dy, int64_t H,
                                                 int64_t W, int64_t out_h, int64_t out_w,
                                                 int64_t total, bool accumulate) {
  CUDA_KERNEL_LOOP(e, total) {
    const int64_t ix = e % W;
    const int64_t iy = (e / W) % H;
    const int64_t nc = e / (W * H);
    const int64_t y0 = nearest_first_output(iy, H, out_h);
    const int64_t y1 = nearest_first_output(iy + 1, H, out_h);
    const int64_t x0 = nearest_first_output(ix, W, out_w);
    const int64_t x1 = nearest_first_output(ix + 1, W, out_w);
    const float g = nearest_gather(dy + nc * out_h * out_w, out_w, y0, y1, x0, x1);
    store(dx, e, accumulate ? load(dx, e) + g : g);
  }
}

template <typename T>
void upsample_nearest_forward_cuda(T* y, const T* x, int64_t NC, int64_t H, int64_t W, int64_t out_h,
                                   int64_t out_w, cuda_stream_t s) {
  const int64_t total = NC * out_h * out_w;
  if (total == 0) return;
  upsample_nearest_forward_kernel<<<cuda::blocks_for(total), cuda::kThreads, 0, s>>>(
      y, x, H, W, out_h, out_w, total);
  SKINMTL_LAUNCH_CHECK();
}

template <typename T>
void upsample_nearest_backward_cuda(T* dx, const T* dy, int64_t NC, int64_t H, int64_t W, int64_t out_h,
                                    int64_t out_w, bool accumulate, cuda_stream_t s) {
  const int64_t total = NC * H * W;
  if (total == 0) return;
  upsample_nearest_backward_kernel<<<cuda::blocks_for(total), cuda::kThreads, 0, s>>>(
      dx, dy, H, W, out_h, out_w, total, accumulate);
  SKINMTL_LAUNCH_CHECK();
}

#define INSTANTIATE(T)                                                                                   \
  template void upsample_nearest_forward_cuda<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t, int64_t, \
                                                 cuda_stream_t);                                         \
  template void upsample_nearest_backward_cuda<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t,       \
                                                  int64_t, bool, cuda_stream_t);
INSTANTIATE(float)
INSTANTIATE(bf16)
#undef INSTANTIATE

}  // namespace skinmtl
