#include "nets/classify.h"

#include <algorithm>
#include <numeric>

#include "framework/autograd.h"
#include "io/augment.h"
#include "nets/resnet50_weights.h"

namespace skinmtl {

std::string display_class_name(const std::string& name) {
  std::string s = name;
  std::replace(s.begin(), s.end(), '_', ' ');
  return s;
}

std::vector<ClassScore> top_k(const std::vector<double>& p, const std::vector<std::string>& names,
                              int k) {
  SKINMTL_CHECK(k >= 1, "top_k: k must be at least 1, got " << k);
  SKINMTL_CHECK(names.empty() || names.size() == p.size(),
                "top_k: " << names.size() << " class names for " << p.size() << " classes");
  std::vector<int> order(p.size());
  std::iota(order.begin(), order.end(), 0);
  // Stable: among equal probabilities the lower index comes first.
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
  order.resize(std::min<size_t>((size_t)k, order.size()));
  std::vector<ClassScore> out;
  for (int i : order) {
    ClassScore s;
    s.index = i;
    s.name = names.empty() ? "class " + std::to_string(i) : display_class_name(names[i]);
    s.probability = p[i];
    out.push_back(s);
  }
  return out;
}

std::vector<double> classify_probabilities(ResNet50& model, const Resnet50Info& info,
                                           const Image& image, int resize, int crop) {
  SKINMTL_CHECK(!model.is_training(),
                "classify: the network is in training mode (call eval(): BatchNorm must use its "
                "running statistics)");
  SKINMTL_CHECK(resize > 0 && crop > 0, "classify: resize " << resize << " and crop " << crop
                                                            << " must be positive");
  const Image view = test_center_crop(image, resize, crop);
  const Device device = model.conv1->weight->value.device();
  NoGradGuard no_grad;  // inference: record nothing for backward
  const Tensor x = resnet_input({view}, info).to(device);
  const Tensor prob = softmax(model.forward(x)).to(Device::CPU);  // (1, classes)
  return prob.to_vector();
}

}  // namespace skinmtl
