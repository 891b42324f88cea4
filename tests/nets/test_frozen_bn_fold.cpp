// Training with frozen batch norms folds them into the convolutions
// (framework/module.h, conv_bn). On the real ImageNet ResNet-50 and real
// photographs, its float32 gradients must be as close to the float64 ones as
// the unfolded network's float32 gradients are: the fold's dgamma is a dot
// product of weights and weight gradients, which could lose precision where
// a channel's mean is large against its spread (real statistics have such
// channels; random ones seldom do).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "framework/module.h"
#include "framework/ops.h"
#include "io/image.h"
#include "nets/resnet50_weights.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

const char* kWeights = "weights/resnet50_imagenet.safetensors";
const char* kPhotos = "data/darknet";

// Every parameter's gradient of a cross-entropy on two photographs, with the
// batch norms frozen, in float32 (fold on or off) or float64 (off).
std::vector<std::vector<double>> gradients(bool fold, DType dtype, double& loss_value) {
  const BatchNormFolding prev = batch_norm_folding();
  set_batch_norm_folding(fold ? BatchNormFolding::Always : BatchNormFolding::Off);
  LoadedResNet50 net = load_resnet50(kWeights);
  ResNet50& m = *net.model;
  if (dtype == DType::F64) {
    for (Parameter* p : m.parameters()) {
      p->value = p->value.to(DType::F64);
      p->value.set_requires_grad(true);
    }
  }
  m.apply([dtype](Module& s) {
    if (auto* bn = dynamic_cast<BatchNorm2d*>(&s)) {
      bn->frozen = true;
      *bn->running_mean = bn->running_mean->to(dtype);
      *bn->running_var = bn->running_var->to(dtype);
    }
  });
  m.train();
  std::vector<Image> photos;
  for (const char* name : {"dog.jpg", "kite.jpg"})
    photos.push_back(resize(load_image(std::string(kPhotos) + "/" + name), 160, 160));
  const Tensor x = resnet_input(photos, net.info).to(dtype);
  const Tensor loss = softmax_cross_entropy(m.forward(x), Tensor::from_vector(std::vector<double>{3, 700}, {2}, dtype));
  loss.backward();
  loss_value = loss.item();
  std::vector<std::vector<double>> g;
  for (Parameter* p : m.parameters()) g.push_back(p->value.grad().to_vector());
  set_batch_norm_folding(prev);
  return g;
}

// The largest, over parameters, of max |got - want| / max |want|.
double worst_gap(const std::vector<std::vector<double>>& got, const std::vector<std::vector<double>>& want) {
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    double gap = 0, scale = 1e-30;
    for (size_t j = 0; j < want[i].size(); ++j) {
      gap = std::max(gap, std::fabs(got[i][j] - want[i][j]));
      scale = std::max(scale, std::fabs(want[i][j]));
    }
    worst = std::max(worst, gap / scale);
  }
  return worst;
}

TEST(FrozenBatchNormFold, AsAccurateAsTheUnfoldedNetworkOnImageNetWeights) {
  if (!std::filesystem::exists(kWeights))
    GTEST_SKIP() << kWeights << " not found (run `make weights` to fetch and convert it)";
  if (!std::filesystem::exists(std::string(kPhotos) + "/dog.jpg"))
    GTEST_SKIP() << "darknet sample photographs not found (run `make deps`)";
  double l64 = 0, l_three = 0, l_fold = 0;
  const auto want = gradients(false, DType::F64, l64);
  const auto three = gradients(false, DType::F32, l_three);
  const auto fold = gradients(true, DType::F32, l_fold);
  const double gap_three = worst_gap(three, want), gap_fold = worst_gap(fold, want);
  std::printf("  loss: float64 %.7f, float32 unfolded %.7f, folded %.7f\n", l64, l_three, l_fold);
  std::printf("  largest gradient gap to float64 (over the parameter's largest): unfolded %.2e, folded %.2e\n",
              gap_three, gap_fold);
  EXPECT_NEAR(l_fold, l64, 1e-5 * l64);
  EXPECT_LT(gap_fold, 2 * gap_three + 1e-6) << "the fold loses precision the batch norm keeps";
  EXPECT_LT(gap_fold, 0.05);
}

}  // namespace
}  // namespace skinmtl
