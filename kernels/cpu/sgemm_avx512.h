// kernels/cpu/sgemm_avx512.h: skinmtl's own single-precision GEMM for CPUs
// with AVX-512, in the layout of kernels/gemm.h (row-major, op(A) is (M, K),
// op(B) is (K, N)):
//
//   C = alpha * op(A) * op(B) + beta * C      (beta == 0: C is not read)
//
// Why it exists: these machines pin OpenBLAS to its AVX2 ("Haswell") kernels
// through OPENBLAS_CORETYPE, because older OpenBLAS builds miscompute on some
// processors; on an AVX-512 core that halves the multiply-adds per cycle. This
// kernel is chosen at run time, only when the CPU and the operating system
// support AVX-512 (kernels/cpu/gemm.cpp); elsewhere OpenBLAS runs as before.
//
// How it works (the structure of BLIS and of Goto's GEMM):
//   for each block of NC columns of C            (jc)
//     for each block of KC steps of the sum      (pc)
//       pack op(B)[pc:pc+KC, jc:jc+NC] into panels of NR columns, k-major
//       for each block of MC rows of C           (ic)
//         pack op(A)[ic:ic+MC, pc:pc+KC] into panels of MR rows, k-major
//         for each NR-panel, for each MR-panel: the micro-kernel adds the
//           MR x NR product of the two panels into C, from 24 registers.
// Packing makes every operand contiguous in the order the micro-kernel reads
// it, whatever the transposes, and pads the edges with zeros. Each element of
// C is a sum over k in increasing order within a KC block, blocks in order,
// so a given shape gives the same bits on every run.
//
// A second path for C = alpha * A * B^T + beta * C (trans_a false, trans_b
// true: both operands contiguous along k, as the convolutions' dW products
// are) packs nothing and sums along k in registers (a dot product per element
// of C, sgemm_avx512_dot). sgemm_avx512 takes it where the first path's
// transposes of B would cost more than its products: few rows of A, a long
// k (sgemm_avx512_dot_pays, on the shape it is given; gemm_cpu asks it once
// for the whole product before splitting C over the threads).
//
// Single-threaded: gemm_cpu splits C over the OpenMP threads and calls this
// per block.
#pragma once

#include <cstdint>

namespace skinmtl {

// True when the CPU has AVX-512F and the OS saves the ZMM registers.
bool sgemm_avx512_supported();

// Call only where sgemm_avx512_supported(). Sizes >= 0; K == 0 gives beta * C.
void sgemm_avx512(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                  const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                  int64_t ldc);

// Each path alone (tests and bench_gemm compare them), with sgemm_avx512's
// contract. The packed path takes any transposes; the dot-product path
// computes C = alpha * A * B^T + beta * C with A (M, K) and B (N, K).
void sgemm_avx512_packed(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                         const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                         int64_t ldc);
void sgemm_avx512_dot(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
                      int64_t ldb, float beta, float* C, int64_t ldc);

// Whether sgemm_avx512 sends a product down the dot-product path: an A * B^T
// (trans_a false, trans_b true; only then do both operands run along k) with
// K >= kDotDepthPerRow * M and K >= kDotMinDepth. The
// packed path's transposes cost about 1/M of its products, the dot-product
// path's final sums about 1/K of its own: in bench_gemm the dot-product path
// won from K of 2-4 times M on (M 32 to 256) and lost below.
constexpr int64_t kDotDepthPerRow = 4;
constexpr int64_t kDotMinDepth = 256;
bool sgemm_avx512_dot_pays(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K);

}  // namespace skinmtl
