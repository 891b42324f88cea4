// CUDA kernels for kernels/boxes.h. The pointwise ones (anchors, IoU, encode,
// decode, clip, gather) are grid-stride loops over the same element functions
// as the CPU loops. NMS is torchvision's bitmask kernel (see the header).
#include "kernels/boxes.h"
#include "kernels/cuda/check.cuh"

namespace skinmtl {

// ---- pointwise ------------------------------------------------------------------------

// One thread per anchor i = (y * W + x) * A + a. The centre is a rounded
// product (mul_rn, kernels/boxes.h): nvcc would otherwise fuse it with the
// addition inside anchor_elem into one FMA, rounding once where the CPU rounds
// twice, and the two devices' anchors would not be the same bits.
__global__ void make_anchors_kernel(float* anchors, const float* cell, int64_t H, int64_t W,
                                    int64_t A, double stride) {
  CUDA_KERNEL_LOOP(i, H * W * A) {
    const int64_t a = i % A, yx = i / A;
    const int64_t x = yx % W, y = yx / W;
    anchor_elem(anchors + 4 * i, cell + 4 * a, mul_rn(x + 0.5, stride), mul_rn(y + 0.5, stride));
  }
}

// One thread per pair i = m * K + k.
__global__ void box_iou_kernel(float* iou, const float* a, const float* b, int64_t M, int64_t K) {
  CUDA_KERNEL_LOOP(i, M * K) {
    const int64_t m = i / K, k = i % K;
    iou[i] = box_iou_elem(a + 4 * m, b + 4 * k);
  }
}

// One thread per box.
__global__ void box_encode_kernel(float* deltas, const float* ref, const float* tgt, int64_t M,
                                  float wx, float wy, float ww, float wh) {
  CUDA_KERNEL_LOOP(i, M) {
    box_encode_elem(deltas + 4 * i, ref + 4 * i, tgt + 4 * i, wx, wy, ww, wh);
  }
}

__global__ void box_encode_matched_kernel(float* deltas, const float* ref, const float* gt,
                                          const int64_t* match, int64_t M, float wx, float wy,
                                          float ww, float wh) {
  CUDA_KERNEL_LOOP(i, M) {
    float* d = deltas + 4 * i;
    if (match[i] < 0) {
      d[0] = d[1] = d[2] = d[3] = 0.f;
    } else {
      box_encode_elem(d, ref + 4 * i, gt + 4 * match[i], wx, wy, ww, wh);
    }
  }
}

__global__ void box_decode_kernel(float* boxes, const float* ref, const float* deltas, int64_t M,
                                  float wx, float wy, float ww, float wh, float clamp) {
  CUDA_KERNEL_LOOP(i, M) {
    box_decode_elem(boxes + 4 * i, ref + 4 * i, deltas + 4 * i, wx, wy, ww, wh, clamp);
  }
}

__global__ void box_clip_kernel(float* out, const float* boxes, int64_t M, float height,
                                float width) {
  CUDA_KERNEL_LOOP(i, M) { box_clip_elem(out + 4 * i, boxes + 4 * i, height, width); }
}

// One thread per output element i = row * C + c.
__global__ void gather_rows_kernel(float* out, const float* x, const int64_t* index, int64_t n,
                                   int64_t C) {
  CUDA_KERNEL_LOOP(i, n * C) {
    const int64_t row = i / C, c = i % C;
    out[i] = x[index[row] * C + c];
  }
}

// One thread per element of y: the indices are distinct, so each element of
// x is written by one thread at most.
__global__ void scatter_add_rows_kernel(float* x, const float* y, const int64_t* index, int64_t n,
                                        int64_t C) {
  CUDA_KERNEL_LOOP(i, n * C) {
    const int64_t row = i / C, c = i % C;
    x[index[row] * C + c] += y[i];
  }
}

void make_anchors_cuda(float* anchors, const float* cell, int64_t H, int64_t W, int64_t A,
                       double stride, cuda_stream_t s) {
  const int64_t n = H * W * A;
  if (n == 0) return;
  make_anchors_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, s>>>(anchors, cell, H, W, A,
                                                                      stride);
  SKINMTL_LAUNCH_CHECK();
}

void box_iou_cuda(float* iou, const float* a, const float* b, int64_t M, int64_t K,
                  cuda_stream_t s) {
  if (M * K == 0) return;
  box_iou_kernel<<<cuda::blocks_for(M * K), cuda::kThreads, 0, s>>>(iou, a, b, M, K);
  SKINMTL_LAUNCH_CHECK();
}

void box_encode_cuda(float* deltas, const float* ref, const float* tgt, int64_t M, float wx,
                     float wy, float ww, float wh, cuda_stream_t s) {
  if (M == 0) return;
  box_encode_kernel<<<cuda::blocks_for(M), cuda::kThreads, 0, s>>>(deltas, ref, tgt, M, wx, wy,
                                                                    ww, wh);
  SKINMTL_LAUNCH_CHECK();
}

void box_encode_matched_cuda(float* deltas, const float* ref, const float* gt,
                             const int64_t* match, int64_t M, float wx, float wy, float ww,
                             float wh, cuda_stream_t s) {
  if (M == 0) return;
  box_encode_matched_kernel<<<cuda::blocks_for(M), cuda::kThreads, 0, s>>>(deltas, ref, gt,
                                                                            match, M, wx, wy,
                                                                            ww, wh);
  SKINMTL_LAUNCH_CHECK();
}

void box_decode_cuda(float* boxes, const float* ref, const float* deltas, int64_t M, float wx,
                     float wy, float ww, float wh, float clamp, cuda_stream_t s) {
  if (M == 0) return;
  box_decode_kernel<<<cuda::blocks_for(M), cuda::kThreads, 0, s>>>(boxes, ref, deltas, M, wx, wy,
                                                                    ww, wh, clamp);
  SKINMTL_LAUNCH_CHECK();
}

void box_clip_cuda(float* out, const float* boxes, int64_t M, float height, float width,
                   cuda_stream_t s) {
  if (M == 0) return;
  box_clip_kernel<<<cuda::blocks_for(M), cuda::kThreads, 0, s>>>(out, boxes, M, height, width);
  SKINMTL_LAUNCH_CHECK();
}

void gather_rows_cuda(float* out, const float* x, const int64_t* index, int64_t n, int64_t C,
                      cuda_stream_t s) {
  if (n * C == 0) return;
  gather_rows_kernel<<<cuda::blocks_for(n * C), cuda::kThreads, 0, s>>>(out, x, index, n, C);
  SKINMTL_LAUNCH_CHECK();
}

void scatter_add_rows_cuda(float* x, const float* y, const int64_t* index, int64_t n, int64_t C,
                           cuda_stream_t s) {
  if (n * C == 0) return;
  scatter_add_rows_kernel<<<cuda::blocks_for(n * C), cuda::kThreads, 0, s>>>(x, y, index, n, C);
  SKINMTL_LAUNCH_CHECK();
}

// ---- NMS masks ------------------------------------------------------------------------

// Not a grid-stride loop: the work is laid out as torchvision's nms_kernel
// lays it out. Block (blockIdx.y = r, blockIdx.x = c) of kNmsBlock threads
// compares the boxes of row block r with those of column block c; blocks below
// the diagonal (c < r) return at once, since box i only ever suppresses later
// boxes. The column block's boxes are staged in shared memory, as every thread
// of the block reads all of them. Thread t handles box i = 64 r + t and writes
// the single word mask[i, c] (its CPU twin is nms_mask_cpu).
__global__ void nms_mask_kernel(uint64_t* mask, const float* boxes, int64_t n, int64_t words,
                                float threshold) {
  const int64_t r = blockIdx.y, c = blockIdx.x;
  if (c < r) return;  // the whole block leaves together, before the barrier
  const int row_size = (int)min((int64_t)kNmsBlock, n - r * kNmsBlock);
  const int col_size = (int)min((int64_t)kNmsBlock, n - c * kNmsBlock);

  __shared__ float block[kNmsBlock * 4];  // (col_size, 4): the boxes of column block c
  const int t = threadIdx.x;
  if (t < col_size) {
    const float* src = boxes + 4 * (c * kNmsBlock + t);
    for (int k = 0; k < 4; ++k) block[4 * t + k] = src[k];
  }
  __syncthreads();

  if (t < row_size) {
    const int64_t i = r * kNmsBlock + t;
    // Inside the diagonal block only the boxes after i (j > t) count.
    const int start = c == r ? t + 1 : 0;
    mask[i * words + c] = nms_mask_word(boxes + 4 * i, block, start, col_size, threshold);
  }
}

void nms_mask_cuda(uint64_t* mask, const float* boxes, int64_t n, float threshold,
                   cuda_stream_t s) {
  if (n == 0) return;
  const int64_t words = nms_mask_words(n);
  SKINMTL_CHECK(words <= 65535, "nms: " << n << " boxes exceed the grid's y limit (65535 blocks "
                                        << "of " << kNmsBlock << ")");
  const dim3 grid((unsigned)words, (unsigned)words);
  nms_mask_kernel<<<grid, kNmsBlock, 0, s>>>(mask, boxes, n, words, threshold);
  SKINMTL_LAUNCH_CHECK();
}

// The reduce of nms_reduce_mask on the device, in one block, one 64-box word
// of the walk at a time (word c: boxes 64 c .. 64 c + 63), in three steps
// with a barrier after each:
//   1. threads 0..63 load the word's "diagonal": box 64 c + j's mask word c,
//      which boxes of its own word it suppresses;
//   2. thread 0 walks the word's 64 boxes in order on those, in registers: box
//      i is kept unless removed (by an earlier word's kept box, bit set in
//      removed[c], or by a kept box of this word, OR-ed into its copy as it
//      goes); it writes the kept positions and the word's kept boxes as a bit
//      set;
//   3. every thread ORs the rows of the word's kept boxes into its share of
//      the later words of removed, loading up to eight rows at a time.
// The same decisions as the sequential walk (nms_reduce_mask), with 3
// barriers a word (157 words for 10,000 boxes) instead of one a box and
// another a kept box, and no load waited for by one thread at a time but
// the diagonal's, which comes from shared memory. Stops after max_keep kept
// boxes (0: no limit), as the walk does. Writes [count, keep_0, keep_1, ...]
// so that one copy of count + 1 values brings the result to the host (not
// the n x words mask).
__global__ void nms_reduce_mask_kernel(int64_t* out, const uint64_t* mask, int64_t n, int64_t words,
                                       int64_t max_keep) {
  extern __shared__ uint64_t removed[];  // (words): bit j of word c: box 64 c + j is suppressed
  __shared__ uint64_t diagonal[kNmsBlock];
  __shared__ int word_kept[kNmsBlock];   // the word's kept boxes, 0..63, in order
  __shared__ int word_kept_count;
  __shared__ int64_t kept;               // kept boxes so far
  for (int64_t c = threadIdx.x; c < words; c += blockDim.x) removed[c] = 0;
  if (threadIdx.x == 0) kept = 0;
  __syncthreads();
  for (int64_t c = 0; c < words; ++c) {
    const int64_t first = c * kNmsBlock;
    const int size = (int)min((int64_t)kNmsBlock, n - first);
    if (threadIdx.x < size) diagonal[threadIdx.x] = mask[(first + threadIdx.x) * words + c];
    __syncthreads();  // (1) the diagonal loaded
    if (threadIdx.x == 0) {
      uint64_t r = removed[c];
      int64_t k = kept;
      int count = 0;
      for (int j = 0; j < size && (max_keep <= 0 || k < max_keep); ++j) {
        if (r & (uint64_t(1) << j)) continue;
        out[1 + k++] = first + j;
        word_kept[count++] = j;
        r |= diagonal[j];
      }
      word_kept_count = count;
      kept = k;
    }
    __syncthreads();  // (2) the word's kept boxes known to all
    const int count = word_kept_count;
    const bool stop = max_keep > 0 && kept >= max_keep;
    if (!stop && count > 0) {  // a word without a kept box removes nothing
      for (int64_t w = c + 1 + threadIdx.x; w < words; w += blockDim.x) {
        uint64_t acc = removed[w];
#pragma unroll 8
        for (int t = 0; t < count; ++t) acc |= mask[(first + word_kept[t]) * words + w];
        removed[w] = acc;
      }
    }
    __syncthreads();  // (3) removed up to date, diagonal and word_kept free again
    if (stop) break;  // the same in every thread: no barrier is left waiting
  }
  if (threadIdx.x == 0) out[0] = kept;
}

// The removed bit set (dynamic shared memory) beside the kernel's own 1 KiB
// or less of static shared memory, within the 48 KiB a block gets by default.
bool nms_reduce_fits_device(int64_t n) { return nms_mask_words(n) * (int64_t)sizeof(uint64_t) <= 47 * 1024; }

void nms_reduce_mask_cuda(int64_t* out, const uint64_t* mask, int64_t n, int64_t max_keep, cuda_stream_t s) {
  SKINMTL_CHECK(nms_reduce_fits_device(n), "nms_reduce_mask_cuda: " << n << " boxes need more shared memory than 47 KiB");
  const int64_t words = nms_mask_words(n);
  nms_reduce_mask_kernel<<<1, 128, (size_t)words * sizeof(uint64_t), s>>>(out, mask, n, words, max_keep);
  SKINMTL_LAUNCH_CHECK();
}

}  // namespace skinmtl
