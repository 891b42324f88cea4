// CUDA kernels for kernels/roi_align.h. All grid-stride loops, no atomics:
//  - forward: one thread per OUTPUT element (RoI, channel, bin), running the
//    same bin function as the CPU loop;
//  - backward: deterministic gather in three launches (the header comment
//    derives it): tabulate each RoI's averaged row weights A (out_h, H) and
//    column weights B (out_w, W); find the rows and columns each RoI touches;
//    then one thread per FEATURE element (n, c, h, w) sums
//      sum_r sum_{ph, pw} A_r[ph, h] B_r[pw, w] dy[r, c, ph, pw]
//    over the RoIs of image n, in index-list order. Each dx element has one
//    writer and a fixed order: the same bits on every run.
#include "kernels/cuda/check.cuh"
#include "kernels/roi_align.h"

namespace skinmtl {
namespace {

// The row of rois (and of y / dy) that entry i of the index list names.
__device__ __forceinline__ int64_t roi_row(const int32_t* roi_index, int64_t i) {
  return roi_index ? (int64_t)roi_index[i] : i;
}

__global__ void roi_align_forward_kernel(float* y, const float* x, const float* rois,
                                         const int32_t* roi_index, const RoiAlignGeom g,
                                         int64_t total) {
  const int64_t bins = (int64_t)g.out_h * g.out_w, per_roi = g.C * bins;
  CUDA_KERNEL_LOOP(e, total) {  // e indexes (n, C, out_h, out_w): entry i of the list
    const int64_t i = e / per_roi, rest = e % per_roi;  // rest = (c * out_h + ph) * out_w + pw
    const int pw = (int)(rest % g.out_w), ph = (int)((rest / g.out_w) % g.out_h);
    const int64_t c = rest / bins;
    const int64_t r = roi_row(roi_index, i);
    const RoiBox<float> b = roi_box(rois + r * 5, g);
    y[r * per_roi + rest] = roi_align_bin(x + (b.batch * g.C + c) * g.H * g.W, b, ph, pw, g.H, g.W);
  }
}

// a[(i * out + p) * size + pos] = roi_axis_weight of bin p on index pos, along
// the rows (A: out = out_h, size = H) or the columns (B: out = out_w, size = W).
__global__ void roi_align_axis_weights_kernel(float* a, const float* rois,
                                              const int32_t* roi_index, const RoiAlignGeom g,
                                              bool rows, int64_t total) {
  const int out = rows ? g.out_h : g.out_w;
  const int64_t size = rows ? g.H : g.W;
  CUDA_KERNEL_LOOP(e, total) {  // e indexes (n, out, size)
    const int64_t pos = e % size, i = e / (size * out);
    const int p = (int)((e / size) % out);
    const RoiBox<float> b = roi_box(rois + roi_row(roi_index, i) * 5, g);
    a[e] = rows ? roi_axis_weight(b.y_start, b.bin_h, b.grid_h, p, pos, size)
                : roi_axis_weight(b.x_start, b.bin_w, b.grid_w, p, pos, size);
  }
}

// span[i] = {h_begin, h_end, w_begin, w_end}: the rows and columns where RoI i
// has a non-zero weight (half-open; empty as {0, 0}). One thread per RoI scans
// its tables; the gather kernel skips every RoI whose span misses its pixel.
__global__ void roi_align_span_kernel(int32_t* span, const float* A, const float* B,
                                      const RoiAlignGeom g, int64_t n) {
  CUDA_KERNEL_LOOP(i, n) {
    int64_t h_begin = g.H, h_end = 0, w_begin = g.W, w_end = 0;
    for (int64_t k = 0; k < g.out_h * g.H; ++k)
      if (A[i * g.out_h * g.H + k] != 0.f) {
        const int64_t h = k % g.H;
        h_begin = h < h_begin ? h : h_begin;
        h_end = h + 1 > h_end ? h + 1 : h_end;
      }
    for (int64_t k = 0; k < g.out_w * g.W; ++k)
      if (B[i * g.out_w * g.W + k] != 0.f) {
        const int64_t w = k % g.W;
        w_begin = w < w_begin ? w : w_begin;
        w_end = w + 1 > w_end ? w + 1 : w_end;
      }
    if (h_begin >= h_end || w_begin >= w_end) h_begin = h_end = w_begin = w_end = 0;
    span[i * 4 + 0] = (int32_t)h_begin;
    span[i * 4 + 1] = (int32_t)h_end;
    span[i * 4 + 2] = (int32_t)w_begin;
    span[i * 4 + 3] = (int32_t)w_end;
  }
}

__global__ void roi_align_backward_gather_kernel(float* dx, const float* dy, const float* A,
                                                 const float* B, const int32_t* span,
                                                 const float* rois, const int32_t* roi_index,
                                                 const RoiAlignGeom g, int64_t n, int64_t total) {
  const int64_t bins = (int64_t)g.out_h * g.out_w, per_roi = g.C * bins;
  CUDA_KERNEL_LOOP(e, total) {  // e indexes (N, C, H, W)
    const int64_t w = e % g.W, h = (e / g.W) % g.H, c = (e / (g.H * g.W)) % g.C;
    const int64_t batch = e / (g.C * g.H * g.W);
    float grad = 0.f;
    for (int64_t i = 0; i < n; ++i) {
      const int32_t* sp = span + i * 4;
      if (h < sp[0] || h >= sp[1] || w < sp[2] || w >= sp[3]) continue;
      const int64_t r = roi_row(roi_index, i);
      if ((int64_t)rois[r * 5] != batch) continue;
      const float* Ai = A + i * g.out_h * g.H;  // (out_h, H)
      const float* Bi = B + i * g.out_w * g.W;  // (out_w, W)
      const float* d = dy + r * per_roi + c * bins;
      for (int ph = 0; ph < g.out_h; ++ph) {
        const float a = Ai[ph * g.H + h];
        if (a == 0.f) continue;
        float row = 0.f;  // sum_pw B[pw, w] dy[ph, pw]
        for (int pw = 0; pw < g.out_w; ++pw) row += Bi[pw * g.W + w] * d[ph * g.out_w + pw];
        grad += a * row;
      }
    }
    dx[e] += grad;
  }
}

}  // namespace

void roi_align_forward_cuda(float* y, const float* x, const float* rois, const int32_t* roi_index,
                            int64_t n, const RoiAlignGeom& g, cuda_stream_t s) {
  const int64_t total = n * g.C * g.out_h * g.out_w;
  if (total == 0) return;
  roi_align_forward_kernel<<<cuda::blocks_for(total), cuda::kThreads, 0, s>>>(y, x, rois,
                                                                              roi_index, g, total);
  SKINMTL_LAUNCH_CHECK();
}

void roi_align_backward_cuda(float* dx, float* workspace, const float* dy, const float* rois,
                             const int32_t* roi_index, int64_t n, const RoiAlignGeom& g,
                             cuda_stream_t s) {
  const int64_t total = g.N * g.C * g.H * g.W;
  if (n == 0 || total == 0) return;
  // Workspace layout (roi_align_backward_cuda_workspace): A, B, then the spans
  // as int32 in float-sized slots (both 4 bytes, 4-byte aligned).
  float* A = workspace;                      // (n, out_h, H)
  float* B = A + n * g.out_h * g.H;          // (n, out_w, W)
  int32_t* span = reinterpret_cast<int32_t*>(B + n * g.out_w * g.W);  // (n, 4)
  const int64_t na = n * g.out_h * g.H, nb = n * g.out_w * g.W;
  roi_align_axis_weights_kernel<<<cuda::blocks_for(na), cuda::kThreads, 0, s>>>(
      A, rois, roi_index, g, /*rows=*/true, na);
  SKINMTL_LAUNCH_CHECK();
  roi_align_axis_weights_kernel<<<cuda::blocks_for(nb), cuda::kThreads, 0, s>>>(
      B, rois, roi_index, g, /*rows=*/false, nb);
  SKINMTL_LAUNCH_CHECK();
  roi_align_span_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, s>>>(span, A, B, g, n);
  SKINMTL_LAUNCH_CHECK();
  roi_align_backward_gather_kernel<<<cuda::blocks_for(total), cuda::kThreads, 0, s>>>(
      dx, dy, A, B, span, rois, roi_index, g, n, total);
  SKINMTL_LAUNCH_CHECK();
}

}  // namespace skinmtl
