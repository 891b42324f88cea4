// bench_gemm: skinmtl's AVX-512 SGEMM (kernels/cpu/sgemm_avx512.h) against
// OpenBLAS (as this process loaded it: OPENBLAS_CORETYPE decides its kernels),
// on the matrix shapes the three models' convolutions produce, one thread and
// then gemm_cpu's split over all threads. Each row also checks the two results
// against each other (max |difference| relative to max |C|). The A * B^T rows
// (the convolutions' dW) also time skinmtl's two paths for them on one thread,
// the packed one and the dot-product one, and say which sgemm_avx512 takes.
//
//   make bench-gemm                      (bin/bench_gemm --reps 5)
//   bin/bench_gemm --reps R --threads T
//
// Times are the minimum over R runs after one warm-up (the machine is shared,
// a minimum is the least noisy estimate of what the code can do).
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/sgemm_avx512.h"
#include "kernels/gemm.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Shape {
  const char* what;
  bool ta, tb;
  int64_t M, N, K;
};

// conv as GEMM: forward W(Cout, C*R*S) x col(C*R*S, P*Q); dW: dy x col^T; dx: W^T x dy.
const Shape kShapes[] = {
    {"square 1024", false, false, 1024, 1024, 1024},
    {"R50 layer1 1x1 fwd b1", false, false, 64, 3136, 256},
    {"R50 layer2 3x3 fwd b1", false, false, 128, 784, 1152},
    {"R50 layer3 3x3 fwd b1", false, false, 256, 196, 2304},
    {"R50 layer4 3x3 fwd b1", false, false, 512, 49, 4608},
    {"R50 layer4 1x1 fwd b20 grouped", false, false, 2048, 1960, 512},
    {"R50 layer3 3x3 dW b20", false, true, 256, 2304, 196},
    {"R50 layer3 3x3 dx b20", true, false, 2304, 196, 256},
    {"R50 layer1 3x3 dW", false, true, 64, 576, 3136},
    {"R50 layer1 3x3 dx", true, false, 576, 3136, 64},
    {"Yang dec 3x3 fwd (3072 ch, b8)", false, false, 256, 640, 27648},
    {"Yang dec 3x3 dW (3072 ch, b8)", false, true, 256, 27648, 640},
    {"Yang dec 3x3 dx (3072 ch, b8)", true, false, 27648, 640, 256},
    {"Yang 3x3 64 ch fwd", false, false, 64, 1200, 576},
    {"Yang 3x3 64 ch dW", false, true, 64, 576, 1200},
    {"Yang 3x3 64 ch dx", true, false, 576, 1200, 64},
    {"Yang 3x3 32 ch dW", false, true, 32, 1152, 4800},
    {"Yang 3x3 128 ch dW", false, true, 128, 1152, 300},
    {"Yang 3x3 32 ch dW b8 120x160", false, true, 32, 288, 38400},
    {"Yang 3x3 64 ch dW b8 60x80", false, true, 64, 576, 9600},
    {"Yang 3x3 128 ch dW b8 30x40", false, true, 128, 1152, 2400},
    {"Yang 3x3 256 ch dW b8 15x20", false, true, 256, 2304, 600},
    {"Song FPN 3x3 dW 64x64 b2", false, true, 256, 2304, 8192},
    {"R50 layer1 1x1 dW b20", false, true, 64, 256, 62720},
};

template <typename F>
double min_seconds(int reps, F&& f) {
  f();
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 5, threads = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--reps" && i + 1 < argc) reps = std::atoi(argv[++i]);
    else if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: bench_gemm [--reps R] [--threads T]\n");
      return 2;
    }
  }
  if (threads > 0) omp_set_num_threads(threads);
  threads = omp_get_max_threads();
  if (!skinmtl::sgemm_avx512_supported()) {
    std::printf("bench_gemm: this CPU (or OS) has no AVX-512; skinmtl uses OpenBLAS (%s) here\n",
                skinmtl::gemm_cpu_kernels_name());
    return 0;
  }
  openblas_set_num_threads(1);
  std::printf("bench_gemm: OpenBLAS %s kernels vs skinmtl AVX-512; min of %d runs; GFLOP/s\n",
              openblas_get_corename(), reps);
  std::printf("%-32s %2s %5s %5s %5s  %9s %9s  %9s %9s  %8s  %9s %9s  %s\n", "shape", "op", "M", "N", "K",
              "BLAS 1t", "ours 1t", "BLAS " , "ours", "rel diff", "packed 1t", "dot 1t", "ours uses");
  std::printf("%-32s %2s %5s %5s %5s  %9s %9s  %8dt %8dt\n", "", "", "", "", "", "", "", threads, threads);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1, 1);
  for (const Shape& s : kShapes) {
    const int64_t lda = s.ta ? s.M : s.K, ldb = s.tb ? s.K : s.N;
    std::vector<float> A(s.M * s.K), B(s.K * s.N), C1(s.M * s.N), C2(s.M * s.N);
    for (float& v : A) v = u(rng);
    for (float& v : B) v = u(rng);
    const double flop = 2.0 * s.M * s.N * s.K;
    auto blas = [&] {
      cblas_sgemm(CblasRowMajor, s.ta ? CblasTrans : CblasNoTrans, s.tb ? CblasTrans : CblasNoTrans,
                  (int)s.M, (int)s.N, (int)s.K, 1.0f, A.data(), (int)lda, B.data(), (int)ldb, 0.0f,
                  C1.data(), (int)s.N);
    };
    auto ours = [&] {
      skinmtl::sgemm_avx512(s.ta, s.tb, s.M, s.N, s.K, 1.0f, A.data(), lda, B.data(), ldb, 0.0f,
                            C2.data(), s.N);
    };
    const double t_blas1 = min_seconds(reps, blas), t_ours1 = min_seconds(reps, ours);
    // A * B^T both ways on one thread: the packed path and the dot-product
    // one (sgemm_avx512 picks one by sgemm_avx512_dot_pays).
    double t_packed1 = 0, t_dot1 = 0;
    if (!s.ta && s.tb) {
      t_packed1 = min_seconds(reps, [&] {
        skinmtl::sgemm_avx512_packed(false, true, s.M, s.N, s.K, 1.0f, A.data(), lda, B.data(), ldb, 0.0f,
                                     C2.data(), s.N);
      });
      t_dot1 = min_seconds(reps, [&] {
        skinmtl::sgemm_avx512_dot(s.M, s.N, s.K, 1.0f, A.data(), lda, B.data(), ldb, 0.0f, C2.data(), s.N);
      });
      ours();
    }
    double diff = 0, scale = 0;
    for (size_t i = 0; i < C1.size(); ++i) {
      diff = std::max(diff, (double)std::fabs(C1[i] - C2[i]));
      scale = std::max(scale, (double)std::fabs(C1[i]));
    }
    // gemm_cpu over all threads, with each backend.
    skinmtl::set_gemm_cpu_own_kernel(false);
    const double t_blas = min_seconds(reps, [&] {
      skinmtl::gemm_cpu<float>(s.ta, s.tb, s.M, s.N, s.K, 1.0f, A.data(), lda, B.data(), ldb, 0.0f,
                               C1.data(), s.N);
    });
    skinmtl::set_gemm_cpu_own_kernel(true);
    const double t_ours = min_seconds(reps, [&] {
      skinmtl::gemm_cpu<float>(s.ta, s.tb, s.M, s.N, s.K, 1.0f, A.data(), lda, B.data(), ldb, 0.0f,
                               C2.data(), s.N);
    });
    std::printf("%-32s %c%c %5lld %5lld %5lld  %9.1f %9.1f  %9.1f %9.1f  %8.1e", s.what,
                s.ta ? 'T' : 'N', s.tb ? 'T' : 'N', (long long)s.M, (long long)s.N, (long long)s.K,
                flop / t_blas1 * 1e-9, flop / t_ours1 * 1e-9, flop / t_blas * 1e-9,
                flop / t_ours * 1e-9, diff / std::max(scale, 1e-30));
    if (t_dot1 > 0)
      std::printf("  %9.1f %9.1f  %s", flop / t_packed1 * 1e-9, flop / t_dot1 * 1e-9,
                  skinmtl::sgemm_avx512_dot_pays(s.ta, s.tb, s.M, s.N, s.K) ? "dot" : "packed");
    std::printf("\n");
  }
  return 0;
}
