// framework/ops.h: every differentiable op of skinmtl, as the models use them,
// and the detector's box ops (the last section; constants, never on the tape).
//
// Each op checks its inputs' shapes and devices (a clear error, never a
// crash), allocates its output on the inputs' device, runs the CPU or CUDA
// kernel from kernels/, and records itself on the tape (framework/autograd.h)
// when an input requires a gradient. Shapes use N batch, C channels, H, W
// height and width, K classes or output channels.
//
// The formula, the saved state and the reference of each op are in the header
// comment of its kernel, kernels/<op>.h.
#pragma once

#include <vector>

#include "framework/precision.h"
#include "framework/tensor.h"

namespace skinmtl {

// ---- pointwise (kernels/elementwise.h, kernels/relu.h) -------------------------
Tensor add(const Tensor& a, const Tensor& b);  // a + b, same shapes
Tensor scale(const Tensor& x, double alpha);   // alpha * x
// 1 where x >= threshold, 0 elsewhere (x's shape, dtype and device). Not differentiable:
// the result is a constant and never on the tape (a hard target made from a soft one, e.g.
// a mask target from a RoI-aligned mask, where it lies: on the GPU, no copy to the host).
Tensor binarize(const Tensor& x, double threshold);
Tensor relu(const Tensor& x);                  // max(x, 0)

// ---- shape (kernels/copy_strided.h) -----------------------------------------------
Tensor reshape(const Tensor& x, const Shape& shape);  // a view; one dim may be -1
Tensor flatten(const Tensor& x);                      // (N, ...) -> (N, prod(...))
Tensor concat(const std::vector<Tensor>& xs, int dim);           // along dim
Tensor slice(const Tensor& x, int dim, int64_t start, int64_t end);  // [start, end) of dim

// ---- reductions (kernels/reduce.h) --------------------------------------------------
Tensor sum(const Tensor& x);   // all elements -> shape ()
Tensor mean(const Tensor& x);  // all elements -> shape ()

// ---- convolution (kernels/conv2d.h) -----------------------------------------------
struct Conv2dParams {
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  int dilation_h = 1, dilation_w = 1;
  static Conv2dParams make(int stride, int pad, int dilation = 1) {
    return {stride, stride, pad, pad, dilation, dilation};
  }
};
// x (N, C, H, W), w (K, C, R, S), bias (K) or undefined -> (N, K, P, Q)
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p);

// A ResNet unit's end as one op on the tape: y = act(conv2d(x, w, bias) +
// residual), act = ReLU when `relu`, the residual (N, K, P, Q) added when it
// is defined. The same function and gradients as conv2d, add and relu one by
// one, in fewer passes over the activations (kernels/fold_batch_norm.h,
// bias_act and bias_act_backward): forward, the CPU applies the bias, the
// residual and the ReLU to each group's output while it is in cache, the GPU
// in one pass after the convolution (three reads and writes instead of
// seven); backward, one pass gives the convolution's dy and the residual's
// gradient (instead of a ReLU pass and a copy of its result per input of the
// add). Saved for backward: x, w and y. In bfloat16 (as conv2d) the residual
// must be bfloat16 too. conv_bn (framework/module.h) runs it when training
// with a folded, frozen batch norm.
Tensor conv2d_bias_act(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p, bool relu,
                       const Tensor& residual = Tensor());
// Whether conv2d_bias_act and batch_norm2d_act (below) fuse (the default) or record the conv2d
// or batch_norm2d, add and relu they stand for one by one: the same function either way, so
// that a benchmark can measure what the fusion gives on one machine in one run (bench_gpu's
// "+unfused"). The initial setting comes from SKINMTL_FUSE_CONV_EPILOGUE (1, the default, or
// 0), read once.
void set_conv_epilogue_fusion(bool on);
bool conv_epilogue_fusion();

// A batch norm with fixed statistics (running mean and variance, eps) folded
// into the convolution before it (kernels/fold_batch_norm.h): conv2d(x, f.w,
// f.b) equals conv2d(x, w, b) followed by that batch norm, up to rounding.
// Recorded on the tape, with gradients for w, b, gamma and beta (not the
// statistics): training with a frozen batch norm runs it (conv_bn,
// framework/module.h), which saves the batch norm's pass over the activations
// and its backward, and the memory of one activation per unit.
// w (K, ...), b (K) or undefined, gamma, beta, mean, var (K), all of w's
// dtype and device -> f.w of w's shape, f.b (K). weight_dtype: f.w's dtype,
// w's by default; bfloat16 for float32 w gives the folded weights as a
// bfloat16 convolution takes them (the float32 fold rounded once, the same
// bits as casting it), in one kernel instead of a fold and a cast, and reads
// their gradient in bfloat16 on the way back (f.b stays float32).
struct FoldedBatchNorm {
  Tensor w, b;
};
FoldedBatchNorm fold_batch_norm(const Tensor& w, const Tensor& b, const Tensor& gamma, const Tensor& beta,
                                const Tensor& mean, const Tensor& var, double eps, DType weight_dtype);
FoldedBatchNorm fold_batch_norm(const Tensor& w, const Tensor& b, const Tensor& gamma, const Tensor& beta,
                                const Tensor& mean, const Tensor& var, double eps);

// Inference only: conv2d, then a batch norm with fixed statistics (running
// mean and variance, eps), then + residual when it is defined, then a ReLU
// when `relu`, computed as ONE convolution with the batch norm folded into its
// weights and bias, and one pass over the output for the bias, the residual
// and the ReLU (kernels/fold_batch_norm.h). The same function up to float
// rounding. Nothing is recorded: it refuses to run where a gradient would be
// wanted (use the ops one by one to train). In bfloat16 (x bfloat16, or
// autocast on; w and the batch norm float32) it computes as conv2d does and
// returns bfloat16, and the residual must be bfloat16 too.
// w (K, C, R, S), bias (K) or undefined, gamma, beta, running_mean,
// running_var (K), residual (N, K, P, Q) or undefined.
Tensor conv2d_bn(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p, const Tensor& gamma,
                 const Tensor& beta, const Tensor& running_mean, const Tensor& running_var, double eps, bool relu,
                 const Tensor& residual = Tensor());

// Which CUDA implementation conv2d uses. Auto: cuDNN (legacy API). CuDNN:
// cuDNN's legacy API. CuDNNGraph: cuDNN 9's graph API, the same choices
// through the interface cuDNN keeps (kernels/conv2d.h). Im2col: im2col + cuBLAS.
enum class ConvBackend { Auto, CuDNN, CuDNNGraph, Im2col };
void set_conv_backend(ConvBackend b);
ConvBackend conv_backend();
// The CPU's images per GEMM (kernels/conv2d.h, Conv2dCpuGrouping): conv2d
// puts the columns of consecutive images side by side in one GEMM where the
// output has fewer than `small_output` pixels, up to `max_columns` columns.
// The defaults are measured; this is for benchmarks comparing other choices.
void set_conv_cpu_grouping(int64_t small_output, int64_t max_columns);
// Whether the CPU runs 3x3 stride-1 convolutions' forward and data gradient by
// Winograd's F(2x2, 3x3) (kernels/conv2d.h, Conv2dCpuWinograd), from how many
// input and output channels and output tiles. On by default, from 32 channels
// and 128 tiles (SKINMTL_WINOGRAD=0 turns it off); for benchmarks and tests
// comparing the two paths.
void set_conv_cpu_winograd(bool enabled, int min_channels = 32, int64_t min_tiles = 128);

// What runs the CPU GEMMs (kernels/gemm.h): skinmtl's AVX-512 kernel for
// float32 where the CPU has AVX-512, and OpenBLAS, named with the kernels it
// uses ("Haswell": AVX2, "SkylakeX" / "Cooperlake": AVX-512), chosen when the
// library loads, from the CPU or from the environment variable
// OPENBLAS_CORETYPE.
const char* blas_kernels_name();

// ---- batch normalization (kernels/batch_norm.h) -------------------------------------
class Communicator;  // framework/distributed.h

struct BatchNormParams {
  double eps = 1e-5;       // per layer: the Keras/Caffe ResNet-50 uses 1e-3
  double momentum = 0.1;   // running = (1 - momentum) * running + momentum * batch
  bool training = true;    // false: frozen, normalise with the running statistics
  // Synchronised batch norm (training only): the batch statistics, and the
  // two sums of the backward pass, are taken over the batches of every rank
  // of this communicator, as if one process held them all. Every rank must
  // call it for the same layers in the same order, with equal batch shapes
  // (the shards of data-parallel training are). nullptr: this process's
  // batch alone.
  Communicator* sync = nullptr;
};
// x (N, C, H, W), gamma/beta (C), running_mean/var (C).
// training: normalise with the batch statistics (biased variance) and update
// the running statistics in place (unbiased variance), outside the tape.
// frozen: normalise with the running statistics; gradients flow to x, gamma, beta.
Tensor batch_norm2d(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                    Tensor& running_mean, Tensor& running_var, const BatchNormParams& p);
// A unit's end after a batch norm as one op on the tape: y = act(batch_norm2d(x, ...) +
// residual), act = ReLU when `relu`, the residual (x's shape, dtype and device) added when it
// is defined. The same function and gradients as batch_norm2d, add and relu one by one, in
// fewer passes over the activations (kernels/batch_norm.h): forward, the normalisation, the
// shortcut and the ReLU in one pass (three reads and writes instead of the normalisation's
// two, the add's three and the ReLU's two); backward, one bias_act_backward pass takes dy
// through the ReLU and gives the shortcut's gradient (instead of a ReLU pass and a copy per
// input of the add), then batch norm's backward. Saved for backward: x, the statistics, and y
// when relu. In bfloat16 on the GPU the whole is formed in float32 and rounded once (the three
// ops round after each). conv_bn (framework/module.h) runs it where the batch norm does not
// fold: batch statistics (Yang et al.'s training), or a frozen one where folding costs more.
// set_conv_epilogue_fusion(false) makes it record the three ops, as conv2d_bias_act.
Tensor batch_norm2d_act(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                        Tensor& running_var, const BatchNormParams& p, bool relu, const Tensor& residual = Tensor());

// ---- pooling (kernels/pool2d.h) -----------------------------------------------------
struct Pool2dParams {
  int kernel_h = 2, kernel_w = 2;
  int stride_h = 2, stride_w = 2;
  int pad_h = 0, pad_w = 0;
  bool ceil_mode = false;          // Caffe rounds the output size up
  bool count_include_pad = true;   // average pool: divide by the full window
  static Pool2dParams make(int kernel, int stride, int pad = 0) {
    Pool2dParams p;
    p.kernel_h = p.kernel_w = kernel;
    p.stride_h = p.stride_w = stride;
    p.pad_h = p.pad_w = pad;
    return p;
  }
};
Tensor max_pool2d(const Tensor& x, const Pool2dParams& p);  // (N, C, H, W) -> (N, C, P, Q)
Tensor avg_pool2d(const Tensor& x, const Pool2dParams& p);  // (N, C, H, W) -> (N, C, P, Q)
Tensor global_avg_pool2d(const Tensor& x);                  // (N, C, H, W) -> (N, C)

// ---- fully connected (kernels/linear.h) ---------------------------------------------
// x (N, I), w (O, I), bias (O) or undefined -> (N, O): y = x w^T + b
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias);

// ---- losses and output activations (kernels/losses.h) -----------------------------
// Multi-label sigmoid cross-entropy with logits (Liao & Luo eq. 5), summed over
// the K classes of an image and averaged over the N images:
//   logits (N, K), targets (N, K) in [0, 1] -> shape ()
Tensor sigmoid_cross_entropy(const Tensor& logits, const Tensor& targets);
// Softmax cross-entropy (Liao & Luo eq. 7), averaged over the images whose
// label is not -1 (ignored): logits (N, K), labels (N) holding class indices
// as floats -> shape ()
Tensor softmax_cross_entropy(const Tensor& logits, const Tensor& labels);
Tensor sigmoid(const Tensor& x);         // 1 / (1 + exp(-x)), elementwise
Tensor softmax(const Tensor& logits);    // over the last dim of (N, K)

// =====================================================================================
// Ops of the detector of Song et al. 2019 ("An end-to-end multi-task deep learning
// framework for skin lesion analysis": FPN, RPN, mask head; its losses are eqs. 2, 3
// and 5) and of the segmentation model of Yang et al. 2017.
// Each op's formula, shapes, saved state and reference are in the header comment of
// its kernel (named in the section titles below).
// =====================================================================================

// ---- dense up-sampling and layout (kernels/upsample_nearest.h, permute.h, mul.h) ----
// Nearest-neighbour resize, PyTorch's 'nearest' rule: out[y][x] = in[floor(y*H/out_h)][floor(x*W/out_w)]
// (integer arithmetic). (N, C, H, W) -> (N, C, out_h, out_w). Backward sums the gradient of every
// output pixel into its source pixel (deterministic: on CUDA, one thread per INPUT pixel gathering its
// outputs, no atomics). An integer factor is the FPN top-down 2x and the mask head's 2x.
// Saved for backward: the sizes only.
Tensor upsample_nearest(const Tensor& x, int64_t out_h, int64_t out_w);
// Any permutation of the dims, output contiguous (e.g. RPN head (N, A*4, H, W) -> (N, H, W, A*4)).
// y.shape[i] = x.shape[dims[i]]; negative dims count from the end. Backward permutes dy back
// with the inverse permutation. Saved for backward: the permutation. (torch.permute)
Tensor permute(const Tensor& x, const std::vector<int>& dims);
// Elementwise product of two tensors of the same shape.
// Backward: da += dy * b, db += dy * a (kernels/mul.h). Saved for backward: a and b.
Tensor mul(const Tensor& a, const Tensor& b);

// ---- detection and segmentation losses (kernels/smooth_l1_loss.h, sigmoid_focal_loss.h,
//      soft_jaccard_distance.h) ----
// Smooth L1 (Song eq. 3; Fast R-CNN), summed:  sum_i w_i * s(x_i - t_i),
//   s(d) = 0.5 d^2 / beta if |d| < beta else |d| - 0.5 beta  (beta = 1 is eq. 3).
// pred, target, weights: same shape; gradient to pred only -> shape ()
// beta >= 0 (0: plain L1). Saved for backward: pred, target, weights.
Tensor smooth_l1_loss(const Tensor& pred, const Tensor& target, const Tensor& weights, double beta = 1.0);

// Focal loss of Song eq. 2 on logits, summed:  sum_i w_i * FL(p_i, y_i),  p = sigmoid(x),
//   FL = -alpha * [ (1-p)^gamma * y * log p + p^gamma * (1-y) * log(1-p) ]
// (alpha multiplies BOTH terms, as eq. 2 is written; RetinaNet and torchvision's
// sigmoid_focal_loss use alpha for the positive term and 1 - alpha for the negative one:
// for 0/1 targets, alpha = 1 with alpha_t = alpha y + (1 - alpha)(1 - y) as the weights gives theirs).
// Compute log p and log(1-p) stably from the logit (log p = -softplus(-x)). logits, targets (in [0,1]),
// weights: same shape (a weight of 0 drops an anchor: the RPN's sampled/ignored anchors); gradient to
// logits only -> shape (). Defaults alpha 0.25, gamma 2. gamma >= 0.
// Saved for backward: logits, targets, weights.
Tensor sigmoid_focal_loss(const Tensor& logits, const Tensor& targets, const Tensor& weights,
                          double alpha = 0.25, double gamma = 2.0);

// Focal loss over a softmax (the Classify subnet's L_cls, "the same as" eq. 2 with three classes;
// kernels/softmax_focal_loss.h), averaged over the rows:
//   (1/N) sum_n -alpha (1 - p_n)^gamma log p_n,  p_n = softmax(x_n)[label_n]
// logits (N, K), labels (N) class indices 0 .. K-1 stored as floats (no "ignore" value) -> shape ().
// gamma = 0, alpha = 1 is softmax_cross_entropy. gamma >= 0. Saved for backward: logits, labels, lse.
Tensor softmax_focal_loss(const Tensor& logits, const Tensor& labels, double alpha = 0.25, double gamma = 2.0);

// Soft Jaccard distance (Song eq. 5, second term; Keras-contrib's jaccard_distance): for each row n of
// (N, ...) probabilities p and targets t (same shape),
//   J_n = smooth * (1 - (sum_j p t + smooth) / (sum_j (p + t - p t) + smooth)),
// returns the mean over n -> shape (). Gradient to probs only. An all-zero target row is fine (no NaN).
// N >= 1, smooth > 0. Saved for backward: targets and the row sums (2, N).
Tensor soft_jaccard_distance(const Tensor& probs, const Tensor& targets, double smooth = 100.0);

// ---- RoIAlign (kernels/roi_align.h) ----
struct RoiAlignParams {
  int out_h = 7, out_w = 7;
  double spatial_scale = 1.0;  // feature pixels per input pixel (1/stride)
  int sampling_ratio = 2;      // samples per bin side; 0 = adaptive ceil(roi_size / out_size), as torchvision
  bool aligned = true;         // true: pixel-centre model, shift by -0.5 (Detectron2 / torchvision aligned=True)
};
// features (N, C, H, W); rois (R, 5) float rows [batch_index, x1, y1, x2, y2] in input-image pixels
// (continuous coordinates) -> (R, C, out_h, out_w). Each bin is the mean of its bilinear samples; samples
// outside [-1, H] x [-1, W] are 0, others clamped as in torchvision. Gradient to features only (rois are
// constants). R may be 0 (returns (0, C, out_h, out_w)). The rois are checked on the host: give
// them there (they are copied up, R x 5 floats) rather than on the GPU, whose copy back waits
// for everything queued before it.
Tensor roi_align(const Tensor& features, const Tensor& rois, const RoiAlignParams& p);
// FPN: levels[k] is P_{min_level + k} with stride 2^(min_level + k); RoI r is pooled from the level
// fpn_roi_levels gives it with canonical_size (P4's RoI side; spatial_scale of p is ignored; each
// level's own is used). Output in RoI order.
Tensor roi_align_fpn(const std::vector<Tensor>& levels, const Tensor& rois, const RoiAlignParams& p,
                     int min_level = 2, double canonical_size = 224);
// Lin et al. (FPN) eq. 1: k = floor(k0 + log2(sqrt(w h) / canonical_size)), clamped to
// [min_level, max_level]; rois on the CPU (R, 5). Returns the level per RoI.
std::vector<int> fpn_roi_levels(const Tensor& rois, int min_level = 2, int max_level = 5,
                                double canonical_size = 224, int canonical_level = 4);

// ---- boxes (kernels/boxes.h; framework/ops/boxes.cpp) ----
// The box arithmetic of the two-stage detector (Faster R-CNN's RPN, FPN, Mask R-CNN):
// boxes are (M, 4) rows (x1, y1, x2, y2) in continuous pixel coordinates, width x2 - x1
// with no "+ 1". None of these ops but take_rows is differentiable, and no other records on
// the tape: boxes, proposals and targets are constants for the losses (inputs that require
// gradients are read, never recorded). Each returns tensors on the device of its inputs (which must all be
// on one device; CUDA tensors are float32, CPU ones float32 or float64), runs the kernels of
// kernels/boxes.h there, and writes out every transfer between host and device. The
// detector's matching, sampling and proposals that use them are in nets/boxes.h.

// Anchors of one FPN level: for every feature cell (y, x) in row-major order and, inside it, every
// ratio r (h/w = r, area = size^2), a box centred at ((x + 0.5) * stride, (y + 0.5) * stride).
// -> (feat_h * feat_w * ratios.size(), 4) float32, order (y, x, ratio): it matches a head output
// permuted from (N, A*k, H, W) to (N, H, W, A*k). The cell anchors are formed on the host and
// copied to the device (A x 4 floats).
Tensor make_anchors(int64_t feat_h, int64_t feat_w, double stride, double size,
                    const std::vector<double>& ratios, Device device);

// (M, 4), (K, 4) -> (M, K): IoU of every pair (0 for boxes that do not overlap).
Tensor box_iou(const Tensor& a, const Tensor& b);

// Box regression weights and the decode clamp (kernels/boxes.h). RPN: the
// defaults. Second stage (Detectron): wx = wy = 10, ww = wh = 5.
struct BoxCoder {
  double wx = 1, wy = 1, ww = 1, wh = 1;
  double clamp = 4.135166556742356; /* log(1000/16) */
};
Tensor encode_boxes(const Tensor& anchors, const Tensor& targets, const BoxCoder& c = {});  // (M,4),(M,4) -> deltas (M,4)
Tensor decode_boxes(const Tensor& anchors, const Tensor& deltas, const BoxCoder& c = {});   // -> boxes (M,4)
// The regression targets of matched boxes: deltas (M, 4) = encode(ref[i], gt[match[i]]), and a
// ZERO row where match[i] < 0 (a non-positive anchor, a background RoI: the losses ignore it).
// ref (M, 4), gt (G, 4), match (M) with values in [-1, G), on the host; on the GPU the matches
// are copied to the device first (M int64 values).
Tensor encode_boxes_matched(const Tensor& ref, const Tensor& gt, const std::vector<int64_t>& match,
                            const BoxCoder& c = {});
// (M, 4) -> (M, 4): x to [0, width], y to [0, height].
Tensor clip_boxes(const Tensor& boxes, double height, double width);

// out (n, C) = x[index[i], :] for x (M, C) or (M), on x's device (index values in [0, M)). On
// the GPU the indices are copied to the device first (n int64 values).
Tensor gather_rows(const Tensor& x, const std::vector<int64_t>& index);
// The differentiable gather: out (n, ...) = x[index[i], ...] for x (M, ...) of any rank, the
// rows in the order of index, which must be DISTINCT (checked). Backward: dx[index[i]] += dy[i]
// (zero elsewhere), a plain scatter since no two rows land on one: no atomics, the same bits on
// every run. For a loss over a few sampled rows of a large output (the RPN's 256 sampled
// anchors of about 260,000 per 1024 x 1024 image). On the GPU the indices are copied to the
// device first (n int64 values).
Tensor take_rows(const Tensor& x, const std::vector<int64_t>& index);

// The indices 0..n-1 ordered by descending value, ties by the lower index
// (a stable sort on the host): the score order of NMS and of the proposals.
std::vector<int64_t> order_descending(const std::vector<double>& values);
// The first k of order_descending(values) (all of them when k >= n). Three passes (range,
// histogram of 4096 even buckets, the values of the k-th largest's bucket and above), then a
// sort of those: about k + n/4096 values for spread-out data such as logits, all n at worst.
// The proposals' per-level top-k: 2000 of about 196,000 logits on P2 at 1024 x 1024, where a
// partial sort (or nth_element) took about half of the host's time per image. Values must be
// finite: an error names the first that is not as "<what> <index> is not finite (<value>)",
// `what` in the caller's words. The float overload reads a model's logits where they lie,
// without a copy in double.
std::vector<int64_t> top_k_descending(const double* values, int64_t n, int64_t k,
                                      const char* what = "top_k_descending: value");
std::vector<int64_t> top_k_descending(const float* values, int64_t n, int64_t k,
                                      const char* what = "top_k_descending: value");
inline std::vector<int64_t> top_k_descending(const std::vector<double>& values, int64_t k) {
  return top_k_descending(values.data(), (int64_t)values.size(), k);
}

// Greedy NMS: indices of kept boxes, by descending score (ties: lower index first), IoU > iou
// suppresses. boxes (n, 4), scores (n), finite. Where the work runs: the scores are copied to the
// host and sorted there (stable); the boxes are gathered in that order on the device and handed
// to nms_sorted.
std::vector<int64_t> nms(const Tensor& boxes, const Tensor& scores, double iou);
// The same for boxes (n, 4) already SORTED by descending score: the kept positions, ascending.
// On the CPU the greedy walk itself; on the GPU the suppression masks and the sequential pass
// over their rows run on the device, and the kept positions are copied to the host (the copy
// waits for the project's stream: NMS's one synchronisation with the GPU).
// max_keep > 0: at most that many, the first of the whole walk (it stops there: proposals keep
// their top 2000 of about 10,000 candidates).
std::vector<int64_t> nms_sorted(const Tensor& boxes, double iou, int64_t max_keep = 0);

// The checks every box op makes, for code that takes boxes itself (nets/boxes.cpp):
// x is a defined (M, 4) tensor, float32 when on the GPU; a and b are on one device, of one dtype.
void check_boxes(const char* op, const Tensor& x, const char* name);
void check_same_kind(const char* op, const Tensor& a, const Tensor& b);

}  // namespace skinmtl
