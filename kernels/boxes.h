// kernels/boxes.h: the box arithmetic of a two-stage detector (Faster R-CNN's
// RPN, FPN, Mask R-CNN), on raw buffers. The Tensor-level ops that run these
// are in framework/ops/boxes.cpp (declared in framework/ops.h); the detector's
// matching and sampling that use them are in nets/boxes.h.
//
// Boxes. A box is four numbers (x1, y1, x2, y2) in input-image pixels, in
// CONTINUOUS coordinates: the image spans [0, W] x [0, H], pixel (i, j) covers
// [j, j + 1] x [i, i + 1], and a box's width is x2 - x1, its height y2 - y1,
// with no "+ 1" (the convention of Detectron2 and torchvision; Caffe's Faster
// R-CNN and Detectron v1 used inclusive pixel indices and width x2 - x1 + 1).
// Every box buffer is (M, 4), row-major, one box per row.
//
// ---- anchors (Ren et al. 2015, sec. 3.1.1; Lin et al. 2017 (FPN), sec. 4.1) ----
//   An FPN level with stride s (pixels per feature cell) and anchor size S
//   (sqrt of the area) puts A = |ratios| anchors on every feature cell (y, x).
//   Ratio r = h / w with w * h = S^2:
//       w = sqrt(S^2 / r),  h = r w                 (Detectron2's generate_cell_anchors)
//   "Cell anchors" are these A boxes centred on 0: (-w/2, -h/2, w/2, h/2). The
//   anchor of cell (y, x), ratio a, is the cell anchor shifted to the cell's centre
//       cx = (x + 0.5) s,  cy = (y + 0.5) s      (Detectron2 with ANCHOR_GENERATOR.OFFSET = 0.5)
//   Order: (y, x, a), row-major: anchor (y * W + x) * A + a. That is the order of
//   an RPN head output (N, A * k, H, W) permuted to (N, H, W, A * k).
//   The shift is formed in double and the sum rounded once to T, on both
//   devices, so CPU and CUDA anchors are the same bits.
//
// ---- IoU (intersection over union; Jaccard index) ----
//   inter = max(0, min(x2, x2') - max(x1, x1')) * max(0, min(y2, y2') - max(y1, y1'))
//   iou   = inter / (area + area' - inter),  and 0 when inter == 0
//   (Detectron2's pairwise_iou: boxes that only touch, or a zero-area box, give
//   0, never 0 / 0.) torchvision.ops.box_iou is the same formula.
//
// ---- box coder (Girshick et al. 2014, R-CNN, appendix C; Ren et al. 2015, eq. 2) ----
//   For a reference box (anchor or proposal) with width w_a, height h_a,
//   centre (x_a, y_a), and a target box (w, h, x, y) likewise (centre = x1 + w/2):
//       encode:  dx = wx (x - x_a) / w_a     dy = wy (y - y_a) / h_a
//                dw = ww log(w / w_a)         dh = wh log(h / h_a)
//       decode:  x = dx / wx * w_a + x_a     w = exp(min(dw / ww, clamp)) * w_a   (y, h alike)
//                box = (x - w/2, y - h/2, x + w/2, y + h/2)
//   The weights (wx, wy, ww, wh) are 1 for the RPN and (10, 10, 5, 5) for the
//   second stage in Detectron; clamp = log(1000 / 16) bounds exp() so a wild
//   prediction cannot overflow (Detectron2's Box2BoxTransform.scale_clamp).
//   encode needs boxes of positive width and height (log of 0 is -inf).
//
// ---- clip ----
//   x1, x2 to [0, width], y1, y2 to [0, height] (continuous coordinates: the
//   right edge of the image is x = width, not width - 1).
//
// ---- non-maximum suppression (greedy) ----
//   Given boxes already SORTED by descending score: walk them in order; a box is
//   kept unless a box kept before it overlaps it with IoU > iou_threshold.
//   Returns the kept positions (in the sorted order). The sorting and the
//   mapping back to the caller's indices are done by nms() in
//   framework/ops/boxes.cpp.
//   CPU (nms_cpu): that walk, directly (torchvision's nms_cpu_kernel).
//   CUDA: torchvision's bitmask algorithm (ops/cuda/nms_kernel.cu). The boxes are
//   cut into blocks of 64; GPU block (row block r, column block c), c >= r, has
//   64 threads, one per box i of row block r, and thread i writes one 64-bit
//   word: bit j is set when box i overlaps box 64 c + j (j > i when r == c) by
//   IoU > threshold. So mask (n, words), words = ceil(n / 64), row i, word c
//   holds "which boxes of block c box i would suppress". Only the words with
//   c >= i / 64 are written (and read). Then nms_reduce_mask, a short
//   sequential pass over the masks, keeps box i unless a kept box's mask has
//   bit i set, OR-ing each kept box's row into a "removed" bit set. It gives
//   exactly the walk of nms_cpu. It runs on the DEVICE (nms_reduce_mask_cuda,
//   one block, the bit set in shared memory; torchvision's
//   gather_keep_from_mask), so that only the kept positions come back to the
//   host, not the n x words mask (12.5 MB for the 10,000 candidates of a 1024
//   x 1024 image). nms_reduce_mask on the host is its CPU twin, and
//   nms_mask_cpu the mask kernel's: the tests run mask + reduce on the CPU
//   too, so the pass is tested on a machine without a GPU.
//
// ---- gather and matched encode (bookkeeping kernels for the detector's targets) ----
//   gather_rows:  out[i, :] = x[index[i], :]                     x (M, C), out (n, C)
//   box_encode_matched: deltas[i] = encode(anchors[i], gt[match[i]]), or a zero
//   row where match[i] < 0 (the regression target of a non-positive anchor or a
//   background RoI, which the losses ignore).
//
//   scatter_add_rows: x[index[i], :] += y[i, :]                 y (n, C), x (M, C)
//   (the backward of take_rows, framework/ops.h: the rows of a tensor picked
//   by distinct indices. Distinct, so no two threads add into one row: no
//   atomics, and the same bits on every run.)
//
// Apart from take_rows none of these ops is differentiable: boxes, proposals
// and targets are constants for the losses (as in Faster R-CNN's approximate
// joint training and Detectron), so nothing else here has a backward.
//
// CPU functions are templates over float and double (explicitly instantiated
// in kernels/cpu/boxes.cpp); CUDA functions are float32 and run on the stream
// passed in. Index buffers (int64_t) given to a CUDA function live on the GPU.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/common.h"

namespace skinmtl {

// ---- element functions, shared by the CPU loops and the CUDA kernels ---------------

// Anchor box (4) = cell anchor (4) + (cx, cy, cx, cy), rounded once to T.
template <typename T>
SKINMTL_HD void anchor_elem(T* box, const T* cell, double cx, double cy) {
  box[0] = (T)(cx + (double)cell[0]);
  box[1] = (T)(cy + (double)cell[1]);
  box[2] = (T)(cx + (double)cell[2]);
  box[3] = (T)(cy + (double)cell[3]);
}

// a * b rounded by itself. nvcc contracts a product and a following add or
// subtract into one FMA (one rounding, where the CPU build rounds twice);
// __fmul_rn / __dmul_rn are never contracted, so the GPU gets the CPU's bits.
template <typename T>
SKINMTL_HD T mul_rn(T a, T b) {
#ifdef __CUDA_ARCH__
  if constexpr (std::is_same_v<T, double>)
    return __dmul_rn(a, b);
  else
    return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

// IoU of two boxes (4 each); 0 when they do not overlap (see the header comment).
// The products are rounded by themselves (mul_rn): NMS compares the IoU with
// a threshold, and the GPU's and the CPU's decisions must not differ by an FMA.
template <typename T>
SKINMTL_HD T box_iou_elem(const T* a, const T* b) {
  const T ix1 = a[0] > b[0] ? a[0] : b[0];
  const T iy1 = a[1] > b[1] ? a[1] : b[1];
  const T ix2 = a[2] < b[2] ? a[2] : b[2];
  const T iy2 = a[3] < b[3] ? a[3] : b[3];
  const T iw = ix2 - ix1, ih = iy2 - iy1;
  if (!(iw > T(0) && ih > T(0))) return T(0);
  const T inter = mul_rn(iw, ih);
  const T area_a = mul_rn(a[2] - a[0], a[3] - a[1]);
  const T area_b = mul_rn(b[2] - b[0], b[3] - b[1]);
  return inter / (area_a + area_b - inter);
}

// Deltas (4) that take the reference box `ref` (4) to the target box `tgt` (4).
template <typename T>
SKINMTL_HD void box_encode_elem(T* d, const T* ref, const T* tgt, T wx, T wy, T ww, T wh) {
  const T rw = ref[2] - ref[0], rh = ref[3] - ref[1];
  const T rx = ref[0] + T(0.5) * rw, ry = ref[1] + T(0.5) * rh;
  const T tw = tgt[2] - tgt[0], th = tgt[3] - tgt[1];
  const T tx = tgt[0] + T(0.5) * tw, ty = tgt[1] + T(0.5) * th;
  d[0] = wx * (tx - rx) / rw;
  d[1] = wy * (ty - ry) / rh;
  d[2] = ww * std::log(tw / rw);
  d[3] = wh * std::log(th / rh);
}

// The box (4) that deltas `d` (4) make of the reference box `ref` (4); dw, dh
// (after dividing by their weights) are capped at `clamp` before exp().
template <typename T>
SKINMTL_HD void box_decode_elem(T* box, const T* ref, const T* d, T wx, T wy, T ww, T wh,
                                T clamp) {
  const T rw = ref[2] - ref[0], rh = ref[3] - ref[1];
  const T rx = ref[0] + T(0.5) * rw, ry = ref[1] + T(0.5) * rh;
  const T dx = d[0] / wx, dy = d[1] / wy;
  T dw = d[2] / ww, dh = d[3] / wh;
  dw = dw > clamp ? clamp : dw;  // min(dw, clamp); a NaN stays NaN
  dh = dh > clamp ? clamp : dh;
  const T cx = dx * rw + rx, cy = dy * rh + ry;
  const T w = std::exp(dw) * rw, h = std::exp(dh) * rh;
  box[0] = cx - T(0.5) * w;
  box[1] = cy - T(0.5) * h;
  box[2] = cx + T(0.5) * w;
  box[3] = cy + T(0.5) * h;
}

// v clamped to [0, hi].
template <typename T>
SKINMTL_HD T clamp_to(T v, T hi) {
  return v < T(0) ? T(0) : (v > hi ? hi : v);
}

// The box (4) clipped to the image [0, width] x [0, height].
template <typename T>
SKINMTL_HD void box_clip_elem(T* out, const T* box, T height, T width) {
  out[0] = clamp_to(box[0], width);
  out[1] = clamp_to(box[1], height);
  out[2] = clamp_to(box[2], width);
  out[3] = clamp_to(box[3], height);
}

// NMS blocks hold 64 boxes: one bit each in a 64-bit mask word.
constexpr int kNmsBlock = 64;
inline int64_t nms_mask_words(int64_t n) { return (n + kNmsBlock - 1) / kNmsBlock; }

// One mask word: bit j (start <= j < count) is set when box `cur` (4) overlaps
// box j of `block` (count boxes, (count, 4)) with IoU > threshold.
template <typename T>
SKINMTL_HD uint64_t nms_mask_word(const T* cur, const T* block, int start, int count,
                                  T threshold) {
  uint64_t bits = 0;
  for (int j = start; j < count; ++j)
    if (box_iou_elem(cur, block + 4 * j) > threshold) bits |= uint64_t(1) << j;
  return bits;
}

// ---- CPU -----------------------------------------------------------------------------

// anchors (H * W * A, 4), cell (A, 4) centred on 0; order (y, x, a).
template <typename T>
void make_anchors_cpu(T* anchors, const T* cell, int64_t H, int64_t W, int64_t A, double stride);

// iou (M, K) = IoU of every a (M, 4) with every b (K, 4).
template <typename T>
void box_iou_cpu(T* iou, const T* a, const T* b, int64_t M, int64_t K);

// deltas (M, 4) = encode(ref[i], tgt[i]); ref, tgt (M, 4).
template <typename T>
void box_encode_cpu(T* deltas, const T* ref, const T* tgt, int64_t M, T wx, T wy, T ww, T wh);

// deltas (M, 4) = encode(ref[i], gt[match[i]]), zero rows where match[i] < 0;
// ref (M, 4), gt (G, 4), match (M) with values in [-1, G).
template <typename T>
void box_encode_matched_cpu(T* deltas, const T* ref, const T* gt, const int64_t* match, int64_t M,
                            T wx, T wy, T ww, T wh);

// boxes (M, 4) = decode(ref[i], deltas[i]); ref, deltas (M, 4).
template <typename T>
void box_decode_cpu(T* boxes, const T* ref, const T* deltas, int64_t M, T wx, T wy, T ww, T wh,
                    T clamp);

// out (M, 4) = boxes (M, 4) clipped to [0, width] x [0, height]. out may be boxes.
template <typename T>
void box_clip_cpu(T* out, const T* boxes, int64_t M, T height, T width);

// out (n, C) = x[index[i], :]; x (M, C), index (n) in [0, M).
template <typename T>
void gather_rows_cpu(T* out, const T* x, const int64_t* index, int64_t n, int64_t C);

// x (M, C) += at rows index[i] y[i, :]; y (n, C), index (n) distinct, in [0, M).
template <typename T>
void scatter_add_rows_cpu(T* x, const T* y, const int64_t* index, int64_t n, int64_t C);

// Greedy NMS over boxes (n, 4) sorted by descending score. Writes the kept
// positions, ascending, to keep (n) and returns how many there are.
// max_keep > 0 stops the walk once that many are kept: the first max_keep of
// the whole walk, since a box is decided by the boxes before it alone.
template <typename T>
int64_t nms_cpu(int64_t* keep, const T* boxes, int64_t n, T threshold, int64_t max_keep = 0);

// The CPU twin of nms_mask_cuda: mask (n, nms_mask_words(n)), words c < i / 64
// of row i set to 0 (the CUDA kernel leaves them unwritten; nobody reads them).
template <typename T>
void nms_mask_cpu(uint64_t* mask, const T* boxes, int64_t n, T threshold);

// The host pass of the bitmask NMS: from mask (n, nms_mask_words(n)) (a host
// copy), writes the kept positions, ascending, to keep (n); returns the count.
// max_keep as nms_cpu's.
int64_t nms_reduce_mask(int64_t* keep, const uint64_t* mask, int64_t n, int64_t max_keep = 0);

// ---- CUDA (float32, on stream s; every pointer is device memory) -----------------------
// Shapes as the CPU twins above. The results agree with the CPU's to rounding,
// not always bit for bit: nvcc fuses a multiply and an add into one FMA (one
// rounding instead of two), g++ for x86-64 does not. So an IoU that lies
// exactly on a threshold, or two IoUs that tie exactly, can be decided
// differently on the two devices; anchors are the same bits (see the kernel).

void make_anchors_cuda(float* anchors, const float* cell, int64_t H, int64_t W, int64_t A,
                       double stride, cuda_stream_t s);
void box_iou_cuda(float* iou, const float* a, const float* b, int64_t M, int64_t K,
                  cuda_stream_t s);
void box_encode_cuda(float* deltas, const float* ref, const float* tgt, int64_t M, float wx,
                     float wy, float ww, float wh, cuda_stream_t s);
void box_encode_matched_cuda(float* deltas, const float* ref, const float* gt,
                             const int64_t* match, int64_t M, float wx, float wy, float ww,
                             float wh, cuda_stream_t s);
void box_decode_cuda(float* boxes, const float* ref, const float* deltas, int64_t M, float wx,
                     float wy, float ww, float wh, float clamp, cuda_stream_t s);
void box_clip_cuda(float* out, const float* boxes, int64_t M, float height, float width,
                   cuda_stream_t s);
void gather_rows_cuda(float* out, const float* x, const int64_t* index, int64_t n, int64_t C,
                      cuda_stream_t s);
void scatter_add_rows_cuda(float* x, const float* y, const int64_t* index, int64_t n, int64_t C,
                           cuda_stream_t s);
// mask (n, nms_mask_words(n)) from boxes (n, 4) sorted by descending score; only
// the words c >= i / 64 of row i are written. Asynchronous: the caller runs
// nms_reduce_mask_cuda on it (or, past nms_reduce_fits_device, copies it to
// the host and runs nms_reduce_mask).
void nms_mask_cuda(uint64_t* mask, const float* boxes, int64_t n, float threshold,
                   cuda_stream_t s);
// out (1 + n): out[0] = the number kept, out[1 ..] the kept positions,
// ascending, from mask (n, nms_mask_words(n)) on the device: nms_reduce_mask's
// pass (max_keep as its) in one block, one 64-box word at a time, its
// "removed" bit set in shared memory, which holds it while
// nms_reduce_fits_device(n) (n up to 385,024 boxes).
bool nms_reduce_fits_device(int64_t n);
void nms_reduce_mask_cuda(int64_t* out, const uint64_t* mask, int64_t n, int64_t max_keep, cuda_stream_t s);

}  // namespace skinmtl
