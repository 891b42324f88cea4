// CPU loops for kernels/boxes.h. Each loop calls the header's element
// functions, the same ones the CUDA kernels call.
#include "kernels/boxes.h"

#include <algorithm>
#include <vector>

namespace skinmtl {

template <typename T>
void make_anchors_cpu(T* anchors, const T* cell, int64_t H, int64_t W, int64_t A, double stride) {
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x)
      for (int64_t a = 0; a < A; ++a) {
        const int64_t i = (y * W + x) * A + a;
        anchor_elem(anchors + 4 * i, cell + 4 * a, (x + 0.5) * stride, (y + 0.5) * stride);
      }
}

template <typename T>
void box_iou_cpu(T* iou, const T* a, const T* b, int64_t M, int64_t K) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t k = 0; k < K; ++k) iou[m * K + k] = box_iou_elem(a + 4 * m, b + 4 * k);
}

template <typename T>
void box_encode_cpu(T* deltas, const T* ref, const T* tgt, int64_t M, T wx, T wy, T ww, T wh) {
  for (int64_t i = 0; i < M; ++i)
    box_encode_elem(deltas + 4 * i, ref + 4 * i, tgt + 4 * i, wx, wy, ww, wh);
}

template <typename T>
void box_encode_matched_cpu(T* deltas, const T* ref, const T* gt, const int64_t* match, int64_t M,
                            T wx, T wy, T ww, T wh) {
  for (int64_t i = 0; i < M; ++i) {
    T* d = deltas + 4 * i;
    if (match[i] < 0) {
      d[0] = d[1] = d[2] = d[3] = T(0);
    } else {
      box_encode_elem(d, ref + 4 * i, gt + 4 * match[i], wx, wy, ww, wh);
    }
  }
}

template <typename T>
void box_decode_cpu(T* boxes, const T* ref, const T* deltas, int64_t M, T wx, T wy, T ww, T wh,
                    T clamp) {
  for (int64_t i = 0; i < M; ++i)
    box_decode_elem(boxes + 4 * i, ref + 4 * i, deltas + 4 * i, wx, wy, ww, wh, clamp);
}

template <typename T>
void box_clip_cpu(T* out, const T* boxes, int64_t M, T height, T width) {
  for (int64_t i = 0; i < M; ++i) box_clip_elem(out + 4 * i, boxes + 4 * i, height, width);
}

template <typename T>
void gather_rows_cpu(T* out, const T* x, const int64_t* index, int64_t n, int64_t C) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < C; ++c) out[i * C + c] = x[index[i] * C + c];
}

template <typename T>
void scatter_add_rows_cpu(T* x, const T* y, const int64_t* index, int64_t n, int64_t C) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < C; ++c) x[index[i] * C + c] += y[i * C + c];
}

// The greedy walk itself: each kept box removes the later boxes it overlaps.
template <typename T>
int64_t nms_cpu(int64_t* keep, const T* boxes, int64_t n, T threshold, int64_t max_keep) {
  std::vector<char> removed((size_t)n, 0);
  int64_t kept = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (removed[i]) continue;
    keep[kept++] = i;
    if (kept == max_keep) break;  // the rest cannot change the first max_keep
    for (int64_t j = i + 1; j < n; ++j)
      if (!removed[j] && box_iou_elem(boxes + 4 * i, boxes + 4 * j) > threshold) removed[j] = 1;
  }
  return kept;
}

// Row block r, column block c >= r: the loops the CUDA grid runs in parallel.
template <typename T>
void nms_mask_cpu(uint64_t* mask, const T* boxes, int64_t n, T threshold) {
  const int64_t words = nms_mask_words(n);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = i / kNmsBlock;
    for (int64_t c = 0; c < words; ++c) {
      if (c < r) {
        mask[i * words + c] = 0;
        continue;
      }
      const int64_t col_size = std::min<int64_t>(n - c * kNmsBlock, kNmsBlock);
      // Inside the diagonal block only the boxes after i (j > i % 64) count.
      const int start = c == r ? (int)(i % kNmsBlock) + 1 : 0;
      mask[i * words + c] =
          nms_mask_word(boxes + 4 * i, boxes + 4 * c * kNmsBlock, start, (int)col_size, threshold);
    }
  }
}

int64_t nms_reduce_mask(int64_t* keep, const uint64_t* mask, int64_t n, int64_t max_keep) {
  const int64_t words = nms_mask_words(n);
  std::vector<uint64_t> removed((size_t)words, 0);  // bit i: box i is suppressed
  int64_t kept = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t block = i / kNmsBlock, bit = i % kNmsBlock;
    if (removed[block] & (uint64_t(1) << bit)) continue;
    keep[kept++] = i;
    if (kept == max_keep) break;
    // Box i is kept: everything it overlaps is removed. Its words before its
    // own block are not needed (those boxes come earlier and are decided).
    const uint64_t* row = mask + i * words;
    for (int64_t c = block; c < words; ++c) removed[c] |= row[c];
  }
  return kept;
}

#define SKINMTL_BOXES_INSTANTIATE(T)                                                           \
  template void make_anchors_cpu<T>(T*, const T*, int64_t, int64_t, int64_t, double);          \
  template void box_iou_cpu<T>(T*, const T*, const T*, int64_t, int64_t);                      \
  template void box_encode_cpu<T>(T*, const T*, const T*, int64_t, T, T, T, T);                \
  template void box_encode_matched_cpu<T>(T*, const T*, const T*, const int64_t*, int64_t, T,  \
                                          T, T, T);                                            \
  template void box_decode_cpu<T>(T*, const T*, const T*, int64_t, T, T, T, T, T);             \
  template void box_clip_cpu<T>(T*, const T*, int64_t, T, T);                                  \
  template void gather_rows_cpu<T>(T*, const T*, const int64_t*, int64_t, int64_t);            \
  template void scatter_add_rows_cpu<T>(T*, const T*, const int64_t*, int64_t, int64_t);       \
  template int64_t nms_cpu<T>(int64_t*, const T*, int64_t, T, int64_t);                        \
  template void nms_mask_cpu<T>(uint64_t*, const T*, int64_t, T);

SKINMTL_BOXES_INSTANTIATE(float)
SKINMTL_BOXES_INSTANTIATE(double)
#undef SKINMTL_BOXES_INSTANTIATE

}  // namespace skinmtl
