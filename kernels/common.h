// kernels/common.h: what every kernel shares, on top of base/check.h (the
// checks and SKINMTL_HD, which the layers above use too).
//
//  - cuda_stream_t: the CUDA stream type, declared without the CUDA headers so
//    plain C++ files can pass a stream along. It is the very type cudaStream_t
//    names (typedef struct CUstream_st* cudaStream_t). cuda_graph_exec_t is
//    cudaGraphExec_t and cuda_event_t is cudaEvent_t the same way.
//  - ChannelCursor: the addresses of one channel's elements in an (N, C, HW)
//    buffer without a division per element.
//  - with_accumulate / put_grad: a backward kernel that adds into its gradient
//    buffer (dx += g, the rule) or, when the buffer holds nothing yet, writes
//    it (dx = g, every element; framework/autograd.h, GradBuffers::write).
#pragma once

#include <cstdint>
#include <type_traits>

#include "base/check.h"

struct CUstream_st;
using cuda_stream_t = CUstream_st*;
struct CUgraphExec_st;
using cuda_graph_exec_t = CUgraphExec_st*;  // cudaGraphExec_t, likewise
struct CUevent_st;
using cuda_event_t = CUevent_st*;  // cudaEvent_t, likewise

namespace skinmtl {

// Walks the elements i = first, first + step, first + 2 step, ... (i < N*HW)
// of channel c of an (N, C, HW) buffer, where element i = n * HW + j lives at
// offset (n * C + c) * HW + j. One division when it starts; then each
// advance() is two adds and a compare (step = dn * HW + dj with dj < HW, so
// at most one carry). The CUDA per-channel reductions (batch norm, conv bias)
// use it: a 64-bit division per element costs a GPU more than the load it
// addresses.
struct ChannelCursor {
  int64_t n, j;    // the current element i = n * HW + j
  int64_t dn, dj;  // step = dn * HW + dj
  int64_t HW, plane_step, channel_start;
  SKINMTL_HD ChannelCursor(int64_t c, int64_t C, int64_t hw, int64_t first, int64_t step)
      : n(first / hw), j(first % hw), dn(step / hw), dj(step % hw), HW(hw), plane_step(C * hw),
        channel_start(c * hw) {}
  SKINMTL_HD int64_t offset() const { return channel_start + n * plane_step + j; }
  SKINMTL_HD void advance() {
    j += dj;
    n += dn;
    if (j >= HW) j -= HW, ++n;
  }
};

// The choice between += and = as a compile-time constant, so that a CPU loop
// is compiled twice without a branch and the "=" version never reads dx:
//   with_accumulate(accumulate, [&](auto acc) { ... put_grad(dx[i], g, acc); ... });
// (A CUDA kernel takes the bool itself: a branch every thread takes the same
// way costs nothing there, and a skipped load is a skipped load.)
template <typename F>
void with_accumulate(bool accumulate, F&& f) {
  if (accumulate) f(std::true_type{});
  else f(std::false_type{});
}
template <typename T>
inline void put_grad(T& dst, T value, std::true_type /*accumulate*/) { dst += value; }
template <typename T>
inline void put_grad(T& dst, T value, std::false_type /*accumulate*/) { dst = value; }

}  // namespace skinmtl
