// TF32 mode (kernels/device.h set_tf32, `--precision tf32`): the cuDNN
// convolution and the cuBLAS GEMM stay within TF32's accuracy of the FP32
// result, TF32 really engages on a GPU that has it (the results differ from
// FP32), and switching back gives the FP32 result bit for bit (the plan cache
// keeps one plan per setting).
#include <cmath>

#include "framework/ops.h"
#include "framework/random.h"
#include "kernels/gemm.h"
#include "tests/test_util.h"
#if SKINMTL_CUDA
#include "kernels/device.h"
#endif

namespace skinmtl {
namespace {

struct Tf32Guard {
  ConvBackend backend = conv_backend();
  ~Tf32Guard() {
    set_cuda_tf32(false);
    set_conv_backend(backend);
  }
};

TEST(Tf32Cuda, ConvolutionWithinTf32AccuracyAndFp32Restored) {
  REQUIRE_CUDA();
  Tf32Guard guard;
  set_conv_backend(ConvBackend::CuDNN);
  Rng rng(61);
  Tensor x = randn({4, 64, 29, 31}, rng).to(Device::CUDA);
  Tensor w = randn({96, 64, 3, 3}, rng).to(Device::CUDA);
  Tensor b = randn({96}, rng).to(Device::CUDA);
  const Conv2dParams p = Conv2dParams::make(1, 1);
  const Tensor fp32 = conv2d(x, w, b, p);
  set_cuda_tf32(true);
  const Tensor tf32 = conv2d(x, w, b, p);
  // TF32 rounds each operand to 11 significant bits: about 2^-11 per product,
  // averaging down over the 576-term sums.
  const double err = test::l2_relative_gap(tf32, fp32);
  EXPECT_LT(err, 2e-3);
  set_cuda_tf32(false);
  EXPECT_TENSORS_CLOSE(conv2d(x, w, b, p), fp32, 0.0, 0.0);
  std::printf("conv2d TF32 vs FP32: relative error %.2e\n", err);
}

TEST(Tf32Cuda, GemmWithinTf32AccuracyEngagesAndFp32Restored) {
  REQUIRE_CUDA();
#if SKINMTL_CUDA
  Tf32Guard guard;
  const int M = 192, N = 160, K = 256;
  Rng rng(62);
  Tensor A = randn({M * K}, rng).to(Device::CUDA), B = randn({K * N}, rng).to(Device::CUDA);
  auto product = [&] {
    Tensor C = Tensor::zeros({M * N}).to(Device::CUDA);
    gemm_cuda(false, false, M, N, K, 1.f, A.data<float>(), K, B.data<float>(), N, 0.f,
              C.data<float>(), N);
    return C;
  };
  const Tensor fp32 = product();
  set_cuda_tf32(true);
  const Tensor tf32 = product();
  const double err = test::l2_relative_gap(tf32, fp32);
  EXPECT_LT(err, 2e-3);
  // On compute capability 8.0 and up cuBLAS uses the tensor cores: the
  // rounding shows. (Older GPUs have no TF32 and compute in FP32.)
  if (cuda::compute_capability() >= 80) {
    EXPECT_GT(err, 1e-6) << "TF32 did not engage";
  }
  set_cuda_tf32(false);
  EXPECT_TENSORS_CLOSE(product(), fp32, 0.0, 0.0);
  std::printf("gemm TF32 vs FP32: relative error %.2e\n", err);
#endif
}

}  // namespace
}  // namespace skinmtl
