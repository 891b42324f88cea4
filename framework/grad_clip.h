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
// gradient are skipped. On the CPU the squares are summed per tensor in double
// and the tensor sums added in parameter order. On a GPU, where every gradient
// is float32 there, the whole clip is three launches over chunks of the
// gradients (kernels/grad_clip.h) and the host waits for nothing; gradients
// spread over devices take the host's loop. Either way the same gradients give
// the same bits on every run (an exact resume stays exact).
#pragma once

#include <vector>

#include "framework/parameter.h"
#include "framework/tensor.h"

namespace skinmtl {

// Returns n, the norm BEFORE clipping (NaN or infinity when a gradient is not
// finite; the gradients are then left unchanged). max_norm <= 0 only measures.
double clip_grad_norm(const std::vector<Parameter*>& params, double max_norm);

// The same, with n returned as a 0-d tensor where it was computed (float32 on
// a GPU, float64 on the CPU) instead of read to the host, which on a GPU
// would wait for the backward pass and the clip to finish. The caller reads it
// when it is ready (the training loop: with the step's losses). An undefined
// gradient everywhere gives 0.
Tensor clip_grad_norm_tensor(const std::vector<Parameter*>& params, double max_norm);

}  // namespace skinmtl
