// kernels/copy_strided.h: copying a block of one dimension from one tensor
// into another, the single kernel behind concat and slice.
//
// Any contiguous row-major tensor, seen along one dimension `dim`, is a 3-D
// array (outer, dim_len, inner): outer is the product of the sizes before dim,
// inner the product of the sizes after it. Concatenating and slicing along
// dim only ever move whole (outer, len, inner) blocks:
//
//   for o < outer, j < len, i < inner:
//     dst[o, dst_offset + j, i]  =  src[o, src_offset + j, i]    (accumulate false)
//     dst[o, dst_offset + j, i] +=  src[o, src_offset + j, i]    (accumulate true)
//
// with dst seen as (outer, dst_dim_len, inner) and src as (outer, src_dim_len,
// inner). The four uses (D_y: y's length along dim):
//   concat forward, input k:  dst = y,     dst_offset = start_k, src = x_k, src_offset = 0
//   concat backward, input k: dst = dx_k,  dst_offset = 0, src = dy, src_offset = start_k (+=)
//   slice forward:            dst = y,     dst_offset = 0, src = x, src_offset = start
//   slice backward:           dst = dx,    dst_offset = start, src = dy, src_offset = 0 (+=)
// (start_k is the sum of the lengths of x_0 .. x_{k-1}.) Backward passes use
// accumulate = true, as backward kernels add into gradients, except concat's
// into a buffer that holds nothing yet (framework/autograd.h,
// GradBuffers::write), which it covers whole; forwards use false.
//
// Nothing is saved for backward beyond the sizes. Reference: torch.cat,
// Tensor.narrow / basic slicing.
#pragma once

#include <cstdint>

#include "kernels/bf16.h"
#include "kernels/common.h"

namespace skinmtl {

// The flat positions in dst and src of element e (0 <= e < outer * len *
// inner) of the block, counted in (o, j, i) row-major order. The CUDA kernel
// uses this for its one flat loop; the CPU loop walks (o, j) and copies rows of
// `inner` elements, the same positions.
SKINMTL_HD void copy_block_index(int64_t e, int64_t len, int64_t inner, int64_t dst_dim_len,
                                 int64_t dst_offset, int64_t src_dim_len, int64_t src_offset,
                                 int64_t* dst_pos, int64_t* src_pos) {
  const int64_t i = e % inner;
  const int64_t j = (e / inner) % len;
  const int64_t o = e / (inner * len);
  *dst_pos = (o * dst_dim_len + dst_offset + j) * inner + i;
  *src_pos = (o * src_dim_len + src_offset + j) * inner + i;
}

template <typename T>
void copy_block_cpu(T* dst,                 // (outer, dst_dim_len, inner)
                    int64_t dst_dim_len, int64_t dst_offset,
                    const T* src,           // (outer, src_dim_len, inner)
                    int64_t src_dim_len, int64_t src_offset,
                    int64_t outer, int64_t len, int64_t inner, bool accumulate);

// T: float or bf16 (a copy is exact; accumulate adds in float and rounds
// once, kernels/bf16.h).
template <typename T>
void copy_block_cuda(T* dst,                // (outer, dst_dim_len, inner)
                     int64_t dst_dim_len, int64_t dst_offset,
                     const T* src,          // (outer, src_dim_len, inner)
                     int64_t src_dim_len, int64_t src_offset,
                     int64_t outer, int64_t len, int64_t inner, bool accumulate,
                     cuda_stream_t s);

}  // namespace skinmtl
