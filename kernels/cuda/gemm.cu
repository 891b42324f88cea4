// CUDA GEMM through cuBLAS. cuBLAS is column-major: a row-major (M, N) matrix
// C is the column-major (N, M) matrix C^T, so C = op(A) op(B) is computed as
// C^T = op(B)^T op(A)^T by passing B first.
#include "kernels/cuda/check.cuh"
#include "kernels/device.h"
#include "kernels/gemm.h"

namespace skinmtl {

void gemm_cuda(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
               const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
               int64_t ldc) {
  if (M == 0 || N == 0) return;
  gemm_check_int_range(M, N, K, lda, ldb, ldc);
  CUBLAS_CHECK(cublasSgemm(cuda::cublas_handle(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                           trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, (int)N, (int)M, (int)K, &alpha, B,
                           (int)ldb, A, (int)lda, &beta, C, (int)ldc));
}

}  // namespace skinmtl
