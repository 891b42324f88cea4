// CPU GEMM, split over the OpenMP threads: float32 through skinmtl's AVX-512
// kernel where the CPU has AVX-512 (kernels/cpu/sgemm_avx512.h), otherwise,
// and for float64, through CBLAS (OpenBLAS).
//
// One pool of threads. The CPU kernels' loops run on OpenMP threads
// (kernels/cpu/simd.h); if OpenBLAS ran its own pthreads as well, the two
// pools would take turns spinning on the same cores: OpenBLAS's idle threads
// call sched_yield in a loop while an OpenMP loop wants the core. So OpenBLAS
// is told to use one thread, and gemm_cpu splits C itself into one block per
// OpenMP thread: column blocks when C is at least as wide as it is tall, row
// blocks otherwise, each a multiple of 16 (whole vector registers), each one
// single-threaded product over the whole K (sgemm_avx512 or cblas). The blocks
// depend only on the shape and the thread count, so a run repeats bit for bit.
// skinmtl's kernel has two paths (kernels/cpu/sgemm_avx512.h); gemm_cpu picks
// one for the whole product, before the split, and each element of C is then
// summed in the same order whatever block it falls in: the same bits on any
// number of threads.
// Measured (2 cores, bench_cpu, OpenBLAS Haswell kernels, before
// sgemm_avx512): with OpenBLAS's threads, ResNet-50 forward batch 1 0.089 s,
// and threading the pointwise loops then lost time (Yang step 1.59 -> 1.46 s,
// frozen-BN step b20 4.5 s); with this split and those loops threaded,
// 0.067 s, 1.25 s and 3.79 s.
#include "kernels/gemm.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <string>

#include "kernels/cpu/sgemm_avx512.h"

namespace skinmtl {

namespace {
std::atomic<bool> g_own_kernel{sgemm_avx512_supported()};
}  // namespace

bool set_gemm_cpu_own_kernel(bool on) {
  g_own_kernel = on && sgemm_avx512_supported();
  return g_own_kernel;
}

const char* gemm_cpu_kernels_name() {
  static const std::string blas = std::string("OpenBLAS ") + openblas_get_corename();
  static const std::string both = "skinmtl AVX-512 (float32), " + blas + " (float64)";
  return g_own_kernel ? both.c_str() : blas.c_str();
}

namespace {

CBLAS_TRANSPOSE tr(bool t) { return t ? CblasTrans : CblasNoTrans; }

// Products smaller than this (M*N*K multiply-adds) run on the calling thread:
// a parallel region costs more than they take.
constexpr int64_t kSplitMin = 64 * 64 * 64;

// Runs call(m, n, A_block, B_block, C_block) over the blocks of C described
// above. A is (M, K) after op(A), B is (K, N) after op(B), both row-major.
template <typename T, typename Call>
void split_over_threads(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* A,
                        int64_t lda, const T* B, int64_t ldb, T* C, int64_t ldc, const Call& call) {
  static const bool single = [] {  // once: OpenBLAS's own threads off (see the top)
    openblas_set_num_threads(1);
    return true;
  }();
  (void)single;
  const int threads = omp_get_max_threads();
  if (threads <= 1 || M * N * K < kSplitMin || omp_in_parallel()) {
    call(M, N, A, B, C);
    return;
  }
  const bool by_columns = N >= M;
  const int64_t extent = by_columns ? N : M;
  const int64_t step = ((extent + threads - 1) / threads + 15) / 16 * 16;
#pragma omp parallel for schedule(static)
  for (int t = 0; t < threads; ++t) {
    const int64_t begin = t * step, end = std::min(extent, begin + step);
    if (begin >= end) continue;
    if (by_columns) {
      // Columns [begin, end) of op(B) and of C.
      call(M, end - begin, A, trans_b ? B + begin * ldb : B + begin, C + begin);
    } else {
      // Rows [begin, end) of op(A) and of C.
      call(end - begin, N, trans_a ? A + begin : A + begin * lda, B, C + begin * ldc);
    }
  }
}

}  // namespace

template <>
void gemm_cpu<float>(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                     const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                     float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  gemm_check_int_range(M, N, K, lda, ldb, ldc);
  const bool own = g_own_kernel.load();
  const bool dot = own && sgemm_avx512_dot_pays(trans_a, trans_b, M, N, K);  // on the whole shape
  split_over_threads(trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc,
                     [&](int64_t m, int64_t n, const float* a, const float* b, float* c) {
                       if (dot) {
                         sgemm_avx512_dot(m, n, K, alpha, a, lda, b, ldb, beta, c, ldc);
                         return;
                       }
                       if (own) {
                         sgemm_avx512_packed(trans_a, trans_b, m, n, K, alpha, a, lda, b, ldb, beta, c, ldc);
                         return;
                       }
                       cblas_sgemm(CblasRowMajor, tr(trans_a), tr(trans_b), (int)m, (int)n, (int)K,
                                   alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
                     });
}

template <>
void gemm_cpu<double>(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha,
                      const double* A, int64_t lda, const double* B, int64_t ldb, double beta,
                      double* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  gemm_check_int_range(M, N, K, lda, ldb, ldc);
  split_over_threads(trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc,
                     [&](int64_t m, int64_t n, const double* a, const double* b, double* c) {
                       cblas_dgemm(CblasRowMajor, tr(trans_a), tr(trans_b), (int)m, (int)n, (int)K,
                                   alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
                     });
}

}  // namespace skinmtl
