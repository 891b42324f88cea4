#include "nets/tiny_net.h"

namespace skinmtl {

TinyMtlNet::TinyMtlNet(int lesion_types, int sites, Rng& rng, int width) {
  const Conv2dParams same = Conv2dParams::make(1, 1);
  conv1 = register_module("conv1", std::make_shared<Conv2d>(3, width, 3, same, false, rng));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(width));
  conv2 = register_module("conv2", std::make_shared<Conv2d>(width, 2 * width, 3, same, false, rng));
  bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(2 * width));
  conv3 = register_module("conv3", std::make_shared<Conv2d>(2 * width, 2 * width, 3, same, false, rng));
  bn3 = register_module("bn3", std::make_shared<BatchNorm2d>(2 * width));
  lesion_head = register_module("lesion_head", std::make_shared<Linear>(2 * width, lesion_types, true, rng));
  site_head = register_module("site_head", std::make_shared<Linear>(2 * width, sites, true, rng));
}

TinyMtlNet::Output TinyMtlNet::forward(const Tensor& x) {
  Tensor h = max_pool2d(relu(bn1->forward(conv1->forward(x))), Pool2dParams::make(2, 2));
  h = avg_pool2d(relu(bn2->forward(conv2->forward(h))), Pool2dParams::make(2, 2));
  h = relu(add(bn3->forward(conv3->forward(h)), h));
  Tensor f = global_avg_pool2d(h);
  return {lesion_head->forward(f), site_head->forward(f)};
}

TinyMtlNet::Losses TinyMtlNet::loss(const Output& out, const Tensor& lesions, const Tensor& sites) const {
  Losses l;
  l.lesion = sigmoid_cross_entropy(out.lesion_logits, lesions);
  l.site = softmax_cross_entropy(out.site_logits, sites);
  l.total = add(l.lesion, l.site);
  return l;
}

}  // namespace skinmtl
