// framework/grad_clip.h: the global norm over every gradient, the scaling to
// max_norm, parameters without a gradient, and the same on CUDA.
#include <algorithm>
#include <cmath>
#include <tuple>

#include "framework/grad_clip.h"
#include "kernels/grad_clip.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

// Parameters holding `values` (each a 1-D tensor) with gradients `grads`
// (an empty vector: no gradient).
struct Params {
  std::vector<Parameter> storage;
  std::vector<Parameter*> ptrs;
  Params(const std::vector<std::vector<float>>& grads, Device device) : storage(grads.size()) {
    for (size_t i = 0; i < grads.size(); ++i) {
      Parameter& p = storage[i];
      p.name = "p" + std::to_string(i);
      const int64_t n = grads[i].empty() ? 2 : (int64_t)grads[i].size();
      p.value = Tensor::zeros({n}, DType::F32, device).set_requires_grad(true);
      if (!grads[i].empty()) {
        // A gradient through the tape: d(sum(g * w))/dw = g.
        Tensor g = Tensor::from_vector(grads[i], {n}).to(device);
        sum(mul(g, p.value)).backward();
      }
      ptrs.push_back(&p);
    }
  }
  std::vector<double> grad(size_t i) const { return storage[i].value.grad().to(Device::CPU).to_vector(); }
};

void expect_clipping(Device device) {
  // Norm sqrt(9 + 16 + 0 + 144) = 13 over three gradients; p1 has none.
  {
    Params p({{3, 4}, {}, {0, 12}}, device);
    EXPECT_DOUBLE_EQ(clip_grad_norm(p.ptrs, 26.0), 13.0);  // shorter than 26: unchanged
    EXPECT_EQ(p.grad(0), (std::vector<double>{3, 4}));
    EXPECT_EQ(p.grad(2), (std::vector<double>{0, 12}));
    EXPECT_FALSE(p.storage[1].value.grad().defined());
  }
  {
    Params p({{3, 4}, {}, {0, 12}}, device);
    EXPECT_DOUBLE_EQ(clip_grad_norm(p.ptrs, 6.5), 13.0);  // scaled by 6.5 / 13 = 0.5
    EXPECT_EQ(p.grad(0), (std::vector<double>{1.5, 2}));
    EXPECT_EQ(p.grad(2), (std::vector<double>{0, 6}));
    // Now exactly at the limit: unchanged.
    EXPECT_DOUBLE_EQ(clip_grad_norm(p.ptrs, 6.5), 6.5);
    EXPECT_EQ(p.grad(0), (std::vector<double>{1.5, 2}));
  }
  {
    Params p({{3, 4}}, device);
    EXPECT_DOUBLE_EQ(clip_grad_norm(p.ptrs, 0.0), 5.0);  // 0: measure only
    EXPECT_EQ(p.grad(0), (std::vector<double>{3, 4}));
  }
  {
    Params p({{}}, device);
    EXPECT_EQ(clip_grad_norm(p.ptrs, 1.0), 0.0);  // nothing to clip
  }
  {
    Params p({{3, NAN}}, device);
    EXPECT_TRUE(std::isnan(clip_grad_norm(p.ptrs, 1.0)));  // reported, left alone
    EXPECT_EQ(p.grad(0)[0], 3.0);
  }
}

TEST(ClipGradNorm, ScalesTheWholeGradientToMaxNorm) { expect_clipping(Device::CPU); }

// Gradients of several chunks with odd tails, float32 and float64 (the CPU's
// chunked loops, kernels/grad_clip.h): the norm is the plain sum of squares
// to double rounding, the scaling is the scale op's, and 1 or 2 threads give
// the same bits.
TEST(ClipGradNorm, ChunkedCpuLoopsAreThePlainSumAndRepeatOnAnyThreadCount) {
  Rng rng(6);
  const std::vector<int64_t> sizes = {3 * kGradClipChunk + 17, 5, kGradClipChunk, 2 * kGradClipChunk - 1};
  auto run = [&](int threads, DType dtype) {
    test::ThreadCountGuard guard(threads);
    std::vector<Parameter> ps(sizes.size());
    std::vector<Parameter*> ptrs;
    Rng r(7);
    for (size_t i = 0; i < sizes.size(); ++i) {
      ps[i].value = Tensor::zeros({sizes[i]}, dtype).set_requires_grad(true);
      sum(mul(randn({sizes[i]}, r, 1.0, dtype), ps[i].value)).backward();
      ptrs.push_back(&ps[i]);
    }
    std::vector<double> before;
    for (const Parameter& p : ps)
      for (double v : p.value.grad().to_vector()) before.push_back(v);
    const double norm = clip_grad_norm(ptrs, 10.0);
    std::vector<Tensor> after;
    for (const Parameter& p : ps) after.push_back(p.value.grad().clone());
    return std::make_tuple(norm, before, after);
  };
  for (DType dtype : {DType::F32, DType::F64}) {
    const auto [norm1, before, after1] = run(1, dtype);
    const auto [norm2, before2, after2] = run(2, dtype);
    double plain = 0;
    for (double v : before) plain += v * v;
    plain = std::sqrt(plain);
    EXPECT_NEAR(norm1, plain, 1e-12 * plain);
    EXPECT_EQ(norm1, norm2) << "the thread count changed the norm's bits";
    ASSERT_GT(norm1, 10.0);
    const double factor = 10.0 / norm1;
    size_t at = 0;
    for (size_t i = 0; i < after1.size(); ++i) {
      EXPECT_TRUE(test::bitwise_equal(after1[i], after2[i])) << "gradient " << i;
      const Tensor want = scale(Tensor::from_vector(std::vector<double>(before.begin() + at, before.begin() + at + sizes[i]),
                                                    {sizes[i]}, dtype),
                                factor);
      EXPECT_TRUE(test::bitwise_equal(after1[i], want)) << "gradient " << i << ": not the scale op's values";
      at += (size_t)sizes[i];
    }
  }
}

TEST(ClipGradNorm, TheTensorFormClipsAlikeAndKeepsTheNormWhereItWasComputed) {
  Params p({{3, 4}, {}, {0, 12}}, Device::CPU);
  const Tensor n = clip_grad_norm_tensor(p.ptrs, 6.5);
  EXPECT_EQ(n.shape(), Shape{});
  EXPECT_EQ(n.device(), Device::CPU);
  EXPECT_EQ(n.dtype(), DType::F64);
  EXPECT_EQ(n.item(), 13.0);
  EXPECT_EQ(p.grad(0), (std::vector<double>{1.5, 2}));
}

// Random gradients of sizes around the GPU's chunk (kernels/grad_clip.h:
// 65536 elements), so that tensors span several chunks, exactly one, and one
// plus a single element.
std::vector<std::vector<float>> chunky_gradients(Rng& rng) {
  std::vector<std::vector<float>> g;
  for (int64_t n : {200003, 65536, 65537, 1, 999}) {
    const std::vector<double> v = randn({n}, rng).to_vector();
    g.emplace_back(v.begin(), v.end());
  }
  return g;
}

TEST(ClipGradNormCuda, ScalesTheWholeGradientToMaxNorm) {
  REQUIRE_CUDA();
  expect_clipping(Device::CUDA);
}

TEST(ClipGradNormCuda, ChunkedClipMatchesTheHostLoopAndRepeatsItsBits) {
  REQUIRE_CUDA();
  Rng rng(3);
  const std::vector<std::vector<float>> g = chunky_gradients(rng);
  Params cpu(g, Device::CPU), gpu(g, Device::CUDA), again(g, Device::CUDA);
  const double want = clip_grad_norm(cpu.ptrs, 100.0);  // norm about sqrt(332076), so clipped
  const Tensor n = clip_grad_norm_tensor(gpu.ptrs, 100.0);
  EXPECT_EQ(n.device(), Device::CUDA);
  const double got = n.to(Device::CPU).item();
  EXPECT_NEAR(got, want, 1e-6 * want);
  EXPECT_GT(want, 100.0);
  for (size_t i = 0; i < g.size(); ++i) {
    const std::vector<double> a = cpu.grad(i), b = gpu.grad(i);
    ASSERT_EQ(a.size(), b.size());
    double worst = 0;
    for (size_t k = 0; k < a.size(); ++k) worst = std::max(worst, std::abs(a[k] - b[k]));
    EXPECT_LE(worst, 1e-6) << "gradient " << i;
  }
  // The same gradients: the same bits.
  EXPECT_EQ(clip_grad_norm_tensor(again.ptrs, 100.0).to(Device::CPU).item(), got);
  for (size_t i = 0; i < g.size(); ++i) EXPECT_EQ(again.grad(i), gpu.grad(i)) << "gradient " << i;
  // A non-finite gradient: the norm says so and nothing is scaled.
  std::vector<std::vector<float>> bad = g;
  bad[0][70000] = INFINITY;
  Params inf(bad, Device::CUDA);
  EXPECT_TRUE(std::isinf(clip_grad_norm(inf.ptrs, 1.0)));
  EXPECT_EQ(inf.grad(4)[0], (double)bad[4][0]);
}

// Exploding gradients, what clipping is for: finite float32 values whose
// squares overflow float32 (above 1.8e19). The GPU sums the squares in double,
// as the CPU does, so both clip them to the same gradients.
TEST(ClipGradNormCuda, GradientsWhoseSquaresOverflowFloat32AreClipped) {
  REQUIRE_CUDA();
  Rng rng(4);
  std::vector<std::vector<float>> g = chunky_gradients(rng);
  for (float& v : g[0]) v *= 1e20f;  // about 1e20 each: finite, their squares are not in float32
  Params cpu(g, Device::CPU), gpu(g, Device::CUDA);
  const double want = clip_grad_norm(cpu.ptrs, 1.0);
  EXPECT_TRUE(std::isfinite(want));
  EXPECT_GT(want, 1e20);
  const double got = clip_grad_norm(gpu.ptrs, 1.0);
  EXPECT_NEAR(got, want, 1e-6 * want);
  double squares = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const std::vector<double> a = cpu.grad(i), b = gpu.grad(i);
    ASSERT_EQ(a.size(), b.size());
    for (size_t k = 0; k < a.size(); ++k) {
      ASSERT_NEAR(b[k], a[k], 1e-6 * std::abs(a[k]) + 1e-30) << "gradient " << i << ", element " << k;
      squares += b[k] * b[k];
    }
  }
  EXPECT_NEAR(std::sqrt(squares), 1.0, 1e-5);  // clipped to norm 1
}

}  // namespace
}  // namespace skinmtl
