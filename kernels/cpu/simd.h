// kernels/cpu/simd.h: how the CPU kernels use SIMD, and why they use no
// OpenMP threads.
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
// Threads. The GEMMs (gemm_cpu, in conv2d and linear) run on OpenBLAS's own
// threads; everything else here is serial. OpenMP `parallel for` over
// im2col/col2im rows, batch-norm channels and pointwise loops was tried and
// measured (tools/bench_cpu, 2-core machine shared with other jobs): a training
// step of batch 20 took 7.0 s serial, 32 s with OpenMP (9.3 s with
// OMP_WAIT_POLICY=passive); an OpenMP region whose second thread has to wait
// for a busy core costs milliseconds, and OpenBLAS's spinning threads and
// OpenMP's compete for the same cores between regions. With the loops
// vectorised and walked in memory order they are a small share of the time
// (the GEMMs dominate), so threading them would gain little even on an idle
// machine.
#pragma once

#define SKINMTL_PRAGMA(x) _Pragma(#x)
#define SKINMTL_SIMD SKINMTL_PRAGMA(omp simd)
