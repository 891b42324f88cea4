// kernels/cpu/simd.h: how the CPU kernels use SIMD and threads.
//
// SIMD. The build uses -O2 without -ffast-math. GCC's -O2 vectoriser does not
// vectorise a loop through pointers that might alias (that would need a
// run-time overlap check, which its -O2 cost model refuses), nor if-convert a
// select such as relu's `x > 0 ? x : 0`: it branches instead, and a branch on
// the sign of random data is mispredicted half the time (a relu over a
// 20x64x112x112 activation took 640 ms as compiled, 96 ms vectorised).
// SKINMTL_SIMD (`#pragma omp simd`, honoured because the build passes
// -fopenmp) before a loop tells the compiler its iterations are independent,
// so it vectorises them. It changes no result: each iteration computes exactly
// what it did before, in the same IEEE operations (no reassociation, no
// fast-math). It is only put on loops whose iterations really are independent
// (no iteration reads what another writes); sums keep their sequential order,
// and none is written as an `omp simd reduction`.
//
// Threads. One pool: OpenMP's. The GEMMs split C over the OpenMP threads
// with OpenBLAS single-threaded (kernels/cpu/gemm.cpp says why), and the
// loops below that touch whole activations split their iterations over the
// same threads with SKINMTL_PARALLEL / SKINMTL_PARALLEL_SIMD: pointwise ops,
// batch norm per (image, channel) or per channel, im2col per col row, col2im
// per input channel, pooling and upsampling per plane, copies per row. Each
// iteration computes exactly what it computed serially and writes elements no
// other iteration writes, so threads change no result; sums over a channel or
// a tensor stay in one thread, in their sequential order. Below
// kParallelMinElements elements a loop runs serially: a parallel region costs
// a few microseconds (more when a thread has to be woken).
// History: threading these loops while OpenBLAS kept its own threads made a
// training step slower (7.0 s serial, 9.3 s with OMP_WAIT_POLICY=passive, 32 s
// with spinning OpenMP threads, on a shared 2-core machine): the two pools
// fought over the cores between regions. With one pool, measured with
// bench_cpu (2 cores, OpenBLAS's Haswell kernels): ResNet-50 forward batch 1
// 0.089 -> 0.067 s, frozen-BN step batch 20 4.5 -> 3.8 s, Yang et al.'s step
// 1.59 -> 1.25 s.
#pragma once

#define SKINMTL_PRAGMA(x) _Pragma(#x)
#define SKINMTL_SIMD SKINMTL_PRAGMA(omp simd)

#include <cstdint>

namespace skinmtl {
// Elements a loop must touch before it is split over the threads.
constexpr int64_t kParallelMinElements = 65536;
}  // namespace skinmtl

// Before a loop of independent iterations whose total work is `elements`
// elements: split it over the OpenMP threads when that is large enough.
#define SKINMTL_PARALLEL(elements) \
  SKINMTL_PRAGMA(omp parallel for schedule(static) if ((elements) >= ::skinmtl::kParallelMinElements))
// The same for a flat loop that is also vectorised (SKINMTL_SIMD).
#define SKINMTL_PARALLEL_SIMD(elements) \
  SKINMTL_PRAGMA(omp parallel for simd schedule(static) if ((elements) >= ::skinmtl::kParallelMinElements))
