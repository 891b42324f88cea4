// nets/tiny_net.h: a small two-headed CNN, the framework's own end-to-end
// check and the model of `skinmtl demo`.
//
// It has the shape of Liao & Luo's multi-task classifier in miniature: a
// convolutional trunk, global average pooling, and two sibling linear heads,
// one for multi-label lesion types (sigmoid cross-entropy) and one for a
// single site class (softmax cross-entropy); the loss is their sum.
//
//   x (N, 3, S, S)
//   conv 3x3 (3 -> w) - BN - ReLU - max pool 2x2         (N, w, S/2, S/2)
//   conv 3x3 (w -> 2w) - BN - ReLU - avg pool 2x2        (N, 2w, S/4, S/4)
//   residual: relu(BN(conv 3x3 (2w -> 2w)) + input)      (N, 2w, S/4, S/4)
//   global average pool                                  (N, 2w)
//   lesion head: linear 2w -> K;  site head: linear 2w -> Q
//
// Every op of the framework core appears in it, so training it on both
// devices checks them together.
#pragma once

#include <memory>

#include "framework/module.h"

namespace skinmtl {

class TinyMtlNet : public Module {
 public:
  TinyMtlNet(int lesion_types, int sites, Rng& rng, int width = 16);

  struct Output {
    Tensor lesion_logits;  // (N, K)
    Tensor site_logits;    // (N, Q)
  };
  Output forward(const Tensor& x);

  struct Losses {
    Tensor total, lesion, site;  // each shape ()
  };
  // lesions (N, K) 0/1, sites (N) class indices, on the model's device.
  Losses loss(const Output& out, const Tensor& lesions, const Tensor& sites) const;

  std::shared_ptr<Conv2d> conv1, conv2, conv3;
  std::shared_ptr<BatchNorm2d> bn1, bn2, bn3;
  std::shared_ptr<Linear> lesion_head, site_head;
};

}  // namespace skinmtl
