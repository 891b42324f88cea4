// framework/grad_clip.h: gradient clipping by the global norm.
//
//   n = sqrt(sum over every parameter p, every element i of g_pi^2)
//   g <- g * c / max(n, c)          (c = max_norm)
//
// i.e. when the gradient of the whole model is longer than c it is scaled
// down to length c, its direction kept; otherwise it is left as it is. This
// is Keras' `clipnorm` optimizer option (keras.optimizers.Optimizer
// .get_gradients: one norm over all gradients), which Matterport's Mask R-CNN
// sets to 5 (GRADIENT_CLIP_NORM) and which the detector of Song et al. (2019)
// inherits from it; PyTorch's torch.nn.utils.clip_grad_norm_ is the same up to
// an epsilon. It keeps one unlucky batch (a huge loss, e.g. eq. 5's Jaccard
// term early in training) from throwing the weights far away.
//
// Call it between backward() and the optimizer's step(). Parameters without a
// gradient are skipped. The squares are summed per tensor by the reduction op
// (in double on the CPU, a deterministic tree on CUDA) and the tensor sums
// added on the host in parameter order, so the result is the same bits on
// every run (an exact resume stays exact).
#pragma once

#include <vector>

#include "framework/parameter.h"

namespace skinmtl {

// Returns n, the norm BEFORE clipping (NaN or infinity when a gradient is not
// finite; the gradients are then left unchanged). max_norm <= 0 only measures.
double clip_grad_norm(const std::vector<Parameter*>& params, double max_norm);

}  // namespace skinmtl
