// kernels/gemm.h: the one matrix product conv2d (im2col) and linear share.
//
//   C = alpha * op(A) * op(B) + beta * C,   op(X) = X or X^T
//
// Row-major, as every buffer in skinmtl: A is (M, K) after op, B is (K, N)
// after op, C is (M, N); lda/ldb/ldc are the row strides of the stored
// matrices. beta = 1 accumulates, which is how backward passes add into their
// gradients.
//
// CPU: float32 through skinmtl's own AVX-512 kernel where the CPU has AVX-512
// (kernels/cpu/sgemm_avx512.h), else through CBLAS (OpenBLAS); float64 always
// through CBLAS. Either way split over the OpenMP threads. CUDA: cuBLAS, which is column-major, so it computes
// C^T = op(B)^T op(A)^T with the operands swapped: the same bytes, no copies;
// FP32 math, or TF32 tensor cores after cuda::set_tf32(true) (kernels/device.h).
#pragma once

#include <cstdint>

#include "kernels/bf16.h"
#include "kernels/common.h"

namespace skinmtl {

// BLAS and cuBLAS take every size and leading dimension as a 32-bit int. The
// callers form some of them as products in int64_t (conv2d's C*R*S and P*Q),
// so both implementations check that they fit instead of truncating them
// silently into a wrong product.
inline void gemm_check_int_range(int64_t M, int64_t N, int64_t K, int64_t lda, int64_t ldb,
                                 int64_t ldc) {
  const int64_t kMax = 2147483647;  // INT_MAX
  SKINMTL_CHECK(M <= kMax && N <= kMax && K <= kMax && lda <= kMax && ldb <= kMax && ldc <= kMax,
                "gemm: sizes beyond the 32-bit int range of (cu)BLAS: M " << M << ", N " << N
                    << ", K " << K << ", lda " << lda << ", ldb " << ldb << ", ldc " << ldc);
}

template <typename T>
void gemm_cpu(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha,
              const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

// What computes gemm_cpu: "skinmtl AVX-512 (float32), OpenBLAS Haswell
// (float64)" or "OpenBLAS Haswell", with OpenBLAS's name for the kernels it
// chose when it was loaded ("Haswell", "SkylakeX", ...; from the CPU or from
// OPENBLAS_CORETYPE).
const char* gemm_cpu_kernels_name();

// Whether float32 gemm_cpu runs skinmtl's AVX-512 kernel. It does by default
// where the CPU supports it; false sends it to OpenBLAS (tests compare the
// two, benchmarks time them). Returns the setting now in force: true is
// ignored where AVX-512 is missing.
bool set_gemm_cpu_own_kernel(bool on);

// On the project's stream, through the cuBLAS handle bound to it.
void gemm_cuda(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
               const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
               int64_t ldc);

// The same product with bfloat16 A and B (--precision bf16): cuBLAS multiplies
// on the tensor cores and sums in float32; alpha * op(A) op(B) + beta * C is
// formed in float32 and rounded once where C is bfloat16.
void gemm_bf16_cuda(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                    const bf16* A, int64_t lda, const bf16* B, int64_t ldb, float beta, float* C,
                    int64_t ldc);
void gemm_bf16_cuda(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                    const bf16* A, int64_t lda, const bf16* B, int64_t ldb, float beta, bf16* C,
                    int64_t ldc);

}  // namespace skinmtl
