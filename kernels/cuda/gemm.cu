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

namespace {

// bfloat16 A and B, float32 compute (alpha and beta are floats), C of type
// c_type: cublasGemmEx, operands swapped as above.
void gemm_bf16_ex(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                  const bf16* A, int64_t lda, const bf16* B, int64_t ldb, float beta, void* C,
                  cudaDataType_t c_type, int64_t ldc) {
  if (M == 0 || N == 0) return;
  gemm_check_int_range(M, N, K, lda, ldb, ldc);
  CUBLAS_CHECK(cublasGemmEx(cuda::cublas_handle(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                            trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, (int)N, (int)M, (int)K, &alpha, B,
                            CUDA_R_16BF, (int)ldb, A, CUDA_R_16BF, (int)lda, &beta, C, c_type, (int)ldc,
                            CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

}  // namespace

void gemm_bf16_cuda(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                    const bf16* A, int64_t lda, const bf16* B, int64_t ldb, float beta, float* C,
                    int64_t ldc) {
  gemm_bf16_ex(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, CUDA_R_32F, ldc);
}

void gemm_bf16_cuda(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                    const bf16* A, int64_t lda, const bf16* B, int64_t ldb, float beta, bf16* C,
                    int64_t ldc) {
  gemm_bf16_ex(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, CUDA_R_16BF, ldc);
}

}  // namespace skinmtl
