// CPU GEMM through CBLAS (OpenBLAS).
#include "kernels/gemm.h"

#include <cblas.h>

namespace skinmtl {

const char* gemm_cpu_kernels_name() { return openblas_get_corename(); }

static CBLAS_TRANSPOSE tr(bool t) { return t ? CblasTrans : CblasNoTrans; }

template <>
void gemm_cpu<float>(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                     const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                     float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  gemm_check_int_range(M, N, K, lda, ldb, ldc);
  cblas_sgemm(CblasRowMajor, tr(trans_a), tr(trans_b), (int)M, (int)N, (int)K, alpha, A, (int)lda,
              B, (int)ldb, beta, C, (int)ldc);
}

template <>
void gemm_cpu<double>(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha,
                      const double* A, int64_t lda, const double* B, int64_t ldb, double beta,
                      double* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  gemm_check_int_range(M, N, K, lda, ldb, ldc);
  cblas_dgemm(CblasRowMajor, tr(trans_a), tr(trans_b), (int)M, (int)N, (int)K, alpha, A, (int)lda,
              B, (int)ldb, beta, C, (int)ldc);
}

}  // namespace skinmtl
