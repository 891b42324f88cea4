// The GEMM wrapper against a naive triple loop, every transpose combination.
#include "framework/dispatch.h"
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
TEST(Gemm, CpuSplitOverThreadsMatchesNaive) {
  struct Case { int M, N, K; };
  const Case cases[] = {{37, 301, 29}, {301, 37, 29}, {70, 70, 70}};
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
          gemm_cpu<float>(ta, tb, c.M, c.N, c.K, 0.7f, A32.data<float>(), ta ? c.M : c.K,
                          B32.data<float>(), tb ? c.K : c.N, (float)beta, C32.data<float>(), c.N);
          EXPECT_TENSORS_CLOSE(Tensor::from_vector(want, {c.M * c.N}, DType::F64), C32.to(DType::F64),
                               1e-4, 1e-4);
        }
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
