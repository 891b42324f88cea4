// kernels/permute.h: reordering the dimensions of a tensor into a new
// contiguous tensor, e.g. an RPN head's (N, A*4, H, W) output into
// (N, H, W, A*4), so that each anchor's four box deltas lie side by side
// (Ren et al. 2015, Faster R-CNN; Lin et al. 2017, RetinaNet, do the same).
//
//   forward:  y[c_0, ..., c_{d-1}] = x[c'],  c'[perm[i]] = c_i
//             (y's dim i is x's dim perm[i]: y.shape[i] = x.shape[perm[i]])
//   backward: dx = dy permuted back by the inverse permutation inv
//             (inv[perm[i]] = i), added into dx
//
// Both are the same copy: "walk a contiguous destination in order and read
// each element from where the permutation says it is in the source". The
// backward is that copy from dy into dx with the inverse permutation and
// accumulate = true (backward kernels add), or false for a dx that holds
// nothing yet (framework/autograd.h, GradBuffers::write). Every destination
// element has exactly one source, so neither needs atomics.
//
// Shapes: x (x_shape[0], ..., x_shape[d-1]) of n elements, y the permuted
// shape, n elements; d <= kPermuteMaxDims. Saved for backward: only the shape
// and the permutation.
// Reference: torch.permute(x, dims).contiguous(), numpy.transpose(x, axes).
//
// Why not kernels/copy_strided.h: that kernel moves (outer, len, inner) blocks
// along ONE dimension (concat, slice), where the element order within a block
// never changes; a permutation changes the order of the elements themselves.
#pragma once

#include <cstdint>

#include "kernels/common.h"

namespace skinmtl {

constexpr int kPermuteMaxDims = 8;

// Everything the copy needs, passed to the CUDA kernel by value.
struct PermuteGeometry {
  int ndim = 0;
  int64_t dst_size[kPermuteMaxDims] = {};    // the destination's sizes, dim by dim
  int64_t src_stride[kPermuteMaxDims] = {};  // per DESTINATION dim i: the source's
                                             // stride of the source dim it comes from
};

// The geometry of y = permute(x, perm), for a contiguous source of shape
// src_shape (d dims). For the backward, call it with y's shape and the inverse
// permutation. perm must be a permutation of 0 .. d-1 (the framework op checks).
inline PermuteGeometry make_permute_geometry(const int64_t* src_shape, const int* perm, int d) {
  PermuteGeometry g;
  g.ndim = d;
  int64_t src_stride[kPermuteMaxDims];
  int64_t stride = 1;
  for (int k = d - 1; k >= 0; --k) {  // row-major strides of the source
    src_stride[k] = stride;
    stride *= src_shape[k];
  }
  for (int i = 0; i < d; ++i) {
    g.dst_size[i] = src_shape[perm[i]];
    g.src_stride[i] = src_stride[perm[i]];
  }
  return g;
}

// The source position of destination element e (row-major over dst_size):
// peel off the destination coordinates from the last dim to the first and add
// each one times its source stride.
SKINMTL_HD int64_t permute_source_index(int64_t e, const PermuteGeometry& g) {
  int64_t src = 0;
  for (int i = g.ndim - 1; i >= 0; --i) {
    const int64_t c = e % g.dst_size[i];
    e /= g.dst_size[i];
    src += c * g.src_stride[i];
  }
  return src;
}

// dst[e] = src[permute_source_index(e)] (accumulate false), or += (true), for
// e < n. n is the element count of both (0 is allowed and does nothing).
template <typename T>
void permute_copy_cpu(T* dst,        // (g.dst_size[0], ..., g.dst_size[ndim-1])
                      const T* src,  // the source, contiguous, n elements
                      const PermuteGeometry& g, int64_t n, bool accumulate);

void permute_copy_cuda(float* dst,        // (g.dst_size[0], ..., g.dst_size[ndim-1])
                       const float* src,  // the source, contiguous, n elements
                       const PermuteGeometry& g, int64_t n, bool accumulate, cuda_stream_t s);

}  // namespace skinmtl
