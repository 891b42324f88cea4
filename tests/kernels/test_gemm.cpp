// The GEMM wrapper against a naive triple loop, every transpose combination.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "framework/dispatch.h"
#include "kernels/cpu/sgemm_avx512.h"
#include "kernels/gemm.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

// Row-major naive reference of C = alpha op(A) op(B) + beta C.
std::vector<double> naive(bool ta, bool tb, int M, int N, int K, double alpha,
                          const std::vector<double>& A, const std::vector<double>& B, double beta,
                          std::vector<double> C) {
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      double s = 0;
      for (int k = 0; k < K; ++k) {
        double a = ta ? A[k * M + i] : A[i * K + k];
        double b = tb ? B[j * K + k] : B[k * N + j];
        s += a * b;
      }
      C[i * N + j] = alpha * s + beta * C[i * N + j];
    }
  return C;
}

TEST(Gemm, CpuMatchesNaiveForAllTransposes) {
  const int M = 5, N = 7, K = 3;
  Rng rng(11);
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      Tensor A = test::uniform64({M * K}, rng), B = test::uniform64({K * N}, rng),
             C = test::uniform64({M * N}, rng);
      auto want = naive(ta, tb, M, N, K, 0.7, A.to_vector(), B.to_vector(), 0.3, C.to_vector());
      gemm_cpu<double>(ta, tb, M, N, K, 0.7, A.data<double>(), ta ? M : K, B.data<double>(),
                       tb ? K : N, 0.3, C.data<double>(), N);
      EXPECT_TENSORS_CLOSE(Tensor::from_vector(want, {M * N}, DType::F64), C, 1e-12, 1e-12)
          << "trans_a " << ta << " trans_b " << tb;
    }
}

// Products large enough to be split over the OpenMP threads (kernels/cpu/gemm.cpp):
// by columns when C is wide, by rows when it is tall, with sizes that leave a
// ragged last block, in both precisions, overwriting (beta 0) and accumulating.
// The last two take the dot-product path with trans_a 0 and trans_b 1.
TEST(Gemm, CpuSplitOverThreadsMatchesNaive) {
  struct Case { int M, N, K; };
  const Case cases[] = {{37, 301, 29}, {301, 37, 29}, {70, 70, 70}, {24, 75, 700}, {150, 40, 700}};
  Rng rng(12);
  for (const Case& c : cases)
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb)
        for (const double beta : {0.0, 1.0}) {
          SCOPED_TRACE(testing::Message() << c.M << "x" << c.N << "x" << c.K << " trans_a " << ta
                                          << " trans_b " << tb << " beta " << beta);
          Tensor A = test::uniform64({c.M * c.K}, rng), B = test::uniform64({c.K * c.N}, rng),
                 C = test::uniform64({c.M * c.N}, rng);
          const auto want =
              naive(ta, tb, c.M, c.N, c.K, 0.7, A.to_vector(), B.to_vector(), beta, C.to_vector());
          Tensor C32 = C.to(DType::F32);
          gemm_cpu<double>(ta, tb, c.M, c.N, c.K, 0.7, A.data<double>(), ta ? c.M : c.K,
                           B.data<double>(), tb ? c.K : c.N, beta, C.data<double>(), c.N);
          EXPECT_TENSORS_CLOSE(Tensor::from_vector(want, {c.M * c.N}, DType::F64), C, 1e-12, 1e-12);
          Tensor A32 = A.to(DType::F32), B32 = B.to(DType::F32);
          // float: OpenBLAS, and skinmtl's AVX-512 kernel where the CPU has it.
          for (const bool own : {false, true}) {
            if (own && !set_gemm_cpu_own_kernel(true)) continue;
            set_gemm_cpu_own_kernel(own);
            Tensor C32k = C32.clone();
            gemm_cpu<float>(ta, tb, c.M, c.N, c.K, 0.7f, A32.data<float>(), ta ? c.M : c.K,
                            B32.data<float>(), tb ? c.K : c.N, (float)beta, C32k.data<float>(), c.N);
            EXPECT_TENSORS_CLOSE(Tensor::from_vector(want, {c.M * c.N}, DType::F64),
                                 C32k.to(DType::F64), 1e-4, 1e-4)
                << (own ? "skinmtl AVX-512" : "OpenBLAS");
          }
          set_gemm_cpu_own_kernel(true);  // back to the default
        }
}

// gemm_cpu's float32 product gives the same bits on one thread as on all of
// them, on both paths of skinmtl's kernel: the path is chosen for the whole
// product, and each element's sum runs in one order whatever block holds it.
// (A row split halves M, which alone would have sent 160 x 40 x 400 to the
// dot-product path on two threads and the packed one on one.)
TEST(Gemm, CpuFloatBitsDoNotDependOnTheThreadCount) {
  if (!sgemm_avx512_supported()) GTEST_SKIP() << "this CPU (or OS) has no AVX-512";
  const int threads = omp_get_max_threads();
  if (threads < 2) GTEST_SKIP() << "one thread here";
  struct Case { int M, N, K; bool ta, tb; };
  const Case cases[] = {{160, 40, 400, false, true}, {24, 75, 700, false, true}, {150, 40, 700, false, true},
                        {37, 301, 290, false, false}, {301, 37, 290, true, true}};
  Rng rng(21);
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << c.M << "x" << c.N << "x" << c.K << " trans_a " << c.ta << " trans_b " << c.tb);
    const std::vector<double> A64 = test::uniform64({(int64_t)c.M * c.K}, rng).to_vector();
    const std::vector<double> B64 = test::uniform64({(int64_t)c.K * c.N}, rng).to_vector();
    const std::vector<float> A(A64.begin(), A64.end()), B(B64.begin(), B64.end());
    std::vector<float> C1(c.M * c.N, std::nanf("")), Cn(c.M * c.N, std::nanf(""));
    omp_set_num_threads(1);
    gemm_cpu<float>(c.ta, c.tb, c.M, c.N, c.K, 1.0f, A.data(), c.ta ? c.M : c.K, B.data(), c.tb ? c.K : c.N, 0.0f,
                    C1.data(), c.N);
    omp_set_num_threads(threads);
    gemm_cpu<float>(c.ta, c.tb, c.M, c.N, c.K, 1.0f, A.data(), c.ta ? c.M : c.K, B.data(), c.tb ? c.K : c.N, 0.0f,
                    Cn.data(), c.N);
    EXPECT_EQ(0, std::memcmp(C1.data(), Cn.data(), C1.size() * sizeof(float)));
  }
}

// skinmtl's AVX-512 SGEMM (kernels/cpu/sgemm_avx512.h) alone, on one thread,
// against the naive loop in float64, through `call` (sgemm_avx512 or one of
// its two paths). Leading dimensions wider than the matrices (a block of a
// larger buffer, as gemm_cpu's split and conv2d's batched columns pass them).
// beta 0 with C full of NaN: C must not be read.
template <typename Call>
void expect_own_kernel_matches_naive(int M, int N, int K, bool ta, bool tb, double alpha, double beta, Rng& rng,
                                     const Call& call) {
  SCOPED_TRACE(testing::Message() << M << "x" << N << "x" << K << " trans_a " << ta << " trans_b " << tb
                                  << " alpha " << alpha << " beta " << beta);
  const int pad = 3;  // extra columns in every stored row
  const int a_rows = ta ? K : M, a_cols = ta ? M : K;
  const int b_rows = tb ? N : K, b_cols = tb ? K : N;
  const int lda = a_cols + pad, ldb = b_cols + pad, ldc = N + pad;
  std::vector<double> A = test::uniform64({(int64_t)a_rows * lda}, rng).to_vector();
  std::vector<double> B = test::uniform64({(int64_t)b_rows * ldb}, rng).to_vector();
  std::vector<double> C = test::uniform64({(int64_t)M * ldc}, rng).to_vector();
  // Dense copies for the naive loop.
  std::vector<double> Ad(a_rows * a_cols), Bd(b_rows * b_cols), Cd(M * N);
  for (int r = 0; r < a_rows; ++r)
    for (int q = 0; q < a_cols; ++q) Ad[r * a_cols + q] = A[r * lda + q];
  for (int r = 0; r < b_rows; ++r)
    for (int q = 0; q < b_cols; ++q) Bd[r * b_cols + q] = B[r * ldb + q];
  for (int r = 0; r < M; ++r)
    for (int q = 0; q < N; ++q) Cd[r * N + q] = C[r * ldc + q];
  const auto want = naive(ta, tb, M, N, K, alpha, Ad, Bd, beta, Cd);

  std::vector<float> A32(A.begin(), A.end()), B32(B.begin(), B.end()), C32(C.begin(), C.end());
  if (beta == 0.0)
    for (int r = 0; r < M; ++r)
      for (int q = 0; q < N; ++q) C32[r * ldc + q] = std::nanf("");
  call(ta, tb, M, N, K, (float)alpha, A32.data(), lda, B32.data(), ldb, (float)beta, C32.data(), ldc);
  double worst = 0;
  for (int r = 0; r < M; ++r)
    for (int q = 0; q < N; ++q) {
      const double got = C32[r * ldc + q], w = want[r * N + q];
      const double err = std::isnan(got) ? 1e30 : std::fabs(got - w) / (1e-4 + 1e-4 * std::fabs(w));
      worst = std::max(worst, err);
    }
  EXPECT_LE(worst, 1.0) << "worst error in units of the tolerance 1e-4 + 1e-4 |want|";
  // The padding columns of C are not C's: untouched.
  for (int r = 0; r < M; ++r)
    for (int q = N; q < ldc; ++q) ASSERT_EQ(C32[r * ldc + q], (float)C[r * ldc + q]) << "row " << r << " pad column " << q;
}

// The packed path, through sgemm_avx512 and alone. The shapes cross every
// blocking edge: the 12 x 32 micro-tile (M 13, N 33), the K block of 256
// (K 257, 513), the M block of 144 (M 145) and the N block of 4096 (N 4100),
// and sizes below one tile (1 x 1 x 1, N 5). Through sgemm_avx512, the A * B^T
// cases with K >= 4 M and K >= 256 (12 x 32 x 256, 13 x 33 x 257,
// 29 x 70 x 513) take the dot-product path.
TEST(Gemm, OwnAvx512KernelMatchesNaive) {
  if (!sgemm_avx512_supported()) GTEST_SKIP() << "this CPU (or OS) has no AVX-512";
  struct Case { int M, N, K; };
  const Case cases[] = {{1, 1, 1}, {12, 32, 256}, {13, 33, 257}, {145, 5, 3},
                        {7, 4100, 2}, {29, 70, 513}, {40, 17, 0}};
  Rng rng(13);
  for (const Case& c : cases)
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb)
        for (const double beta : {0.0, 1.0, -0.3})
          for (const double alpha : {1.0, 0.7}) {
            expect_own_kernel_matches_naive(c.M, c.N, c.K, ta, tb, alpha, beta, rng, sgemm_avx512);
            expect_own_kernel_matches_naive(c.M, c.N, c.K, ta, tb, alpha, beta, rng, sgemm_avx512_packed);
          }
}

// The dot-product path (A * B^T). The shapes cross its edges: the 4 x 6 tile
// (M 5, N 7), the 16-wide steps along k (K 17, 15), the K block of 2048
// (K 2049, 4100), the block of 48 rows of B (N 49, 100), and sizes below one
// tile.
TEST(Gemm, OwnAvx512DotProductPathMatchesNaive) {
  if (!sgemm_avx512_supported()) GTEST_SKIP() << "this CPU (or OS) has no AVX-512";
  struct Case { int M, N, K; };
  const Case cases[] = {{1, 1, 1}, {4, 6, 16}, {5, 7, 17}, {3, 2, 15}, {9, 49, 2049},
                        {6, 100, 4100}, {2, 5, 0}};
  Rng rng(17);
  const auto dot = [](bool, bool, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                      const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
    sgemm_avx512_dot(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  };
  for (const Case& c : cases)
    for (const double beta : {0.0, 1.0, -0.3})
      for (const double alpha : {1.0, 0.7}) expect_own_kernel_matches_naive(c.M, c.N, c.K, false, true, alpha, beta, rng, dot);
  // Which path a shape takes: the dW products of few output channels over
  // many pixels take the dot-product one, deep-channel ones the packed one.
  EXPECT_TRUE(sgemm_avx512_dot_pays(false, true, 32, 288, 38400));
  EXPECT_TRUE(sgemm_avx512_dot_pays(false, true, 64, 576, 3136));
  EXPECT_FALSE(sgemm_avx512_dot_pays(false, true, 256, 2304, 196));
  EXPECT_FALSE(sgemm_avx512_dot_pays(false, true, 8, 8, 100));  // too short for its final sums
  // Only A * B^T has both operands along k.
  EXPECT_FALSE(sgemm_avx512_dot_pays(false, false, 32, 288, 38400));
  EXPECT_FALSE(sgemm_avx512_dot_pays(true, true, 32, 288, 38400));
  EXPECT_FALSE(sgemm_avx512_dot_pays(true, false, 32, 288, 38400));
}

// (cu)BLAS takes 32-bit ints: a size or leading dimension beyond INT_MAX must
// be an error, not a silently truncated (wrong) product. The check comes
// before any memory is touched, so null pointers are enough here.
TEST(Gemm, CpuRejectsSizesBeyondInt) {
  const int64_t big = int64_t(1) << 31;
  EXPECT_THROW(gemm_cpu<float>(false, false, big, 1, 1, 1.f, nullptr, 1, nullptr, 1, 0.f, nullptr,
                               1),
               Error);
  EXPECT_THROW(gemm_cpu<double>(false, false, 1, big, 1, 1.0, nullptr, 1, nullptr, big, 0.0,
                                nullptr, big),
               Error);
  EXPECT_THROW(gemm_cpu<float>(false, false, 1, 1, big, 1.f, nullptr, big, nullptr, 1, 0.f,
                               nullptr, 1),
               Error);
}

TEST(GemmCuda, RejectsSizesBeyondInt) {
  REQUIRE_CUDA();
#if SKINMTL_CUDA
  const int64_t big = int64_t(1) << 31;
  EXPECT_THROW(gemm_cuda(false, false, big, 1, 1, 1.f, nullptr, 1, nullptr, 1, 0.f, nullptr, 1),
               Error);
  EXPECT_THROW(gemm_cuda(false, false, 1, big, 1, 1.f, nullptr, 1, nullptr, big, 0.f, nullptr,
                         big),
               Error);
  EXPECT_THROW(gemm_cuda(true, false, 1, 1, big, 1.f, nullptr, 1, nullptr, 1, 0.f, nullptr, 1),
               Error);
#endif
}

TEST(GemmCuda, ParityForAllTransposes) {
  REQUIRE_CUDA();
#if SKINMTL_CUDA  // gemm_cuda exists only in CUDA builds; CPU-only builds skip above
  const int M = 13, N = 29, K = 17;
  Rng rng(12);
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      Tensor A = randn({M * K}, rng), B = randn({K * N}, rng), C = randn({M * N}, rng);
      Tensor Ag = A.to(Device::CUDA), Bg = B.to(Device::CUDA), Cg = C.to(Device::CUDA);
      gemm_cpu<float>(ta, tb, M, N, K, 0.7f, A.data<float>(), ta ? M : K, B.data<float>(),
                      tb ? K : N, 1.0f, C.data<float>(), N);
      // gemm_cuda exists only in the CUDA build (REQUIRE_CUDA skipped us otherwise).
      SKINMTL_CUDA_ONLY(gemm_cuda(ta, tb, M, N, K, 0.7f, Ag.data<float>(), ta ? M : K,
                                  Bg.data<float>(), tb ? K : N, 1.0f, Cg.data<float>(), N));
      EXPECT_TENSORS_CLOSE(C, Cg, 1e-5, 1e-5) << "trans_a " << ta << " trans_b " << tb;
    }
#endif
}

}  // namespace
}  // namespace skinmtl
