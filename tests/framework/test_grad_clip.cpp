// framework/grad_clip.h: the global norm over every gradient, the scaling to
// max_norm, parameters without a gradient, and the same on CUDA.
#include <cmath>

#include "framework/grad_clip.h"
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

TEST(ClipGradNormCuda, ScalesTheWholeGradientToMaxNorm) {
  REQUIRE_CUDA();
  expect_clipping(Device::CUDA);
}

}  // namespace
}  // namespace skinmtl
