// CPU loops for kernels/grad_clip.h.
#include "kernels/grad_clip.h"

#include <vector>

#include "kernels/cpu/simd.h"

namespace skinmtl {

namespace {

// The sum of squares of g[0..n) in double, over 8 lanes added in order.
template <typename T>
double chunk_sum_squares(const T* g, int64_t n) {
  double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) lane[k] += (double)g[i + k] * (double)g[i + k];
  for (int k = 0; i < n; ++i, ++k) lane[k] += (double)g[i] * (double)g[i];
  double s = 0;
  for (int k = 0; k < 8; ++k) s += lane[k];
  return s;
}

}  // namespace

template <typename T>
double grad_sum_squares_cpu(const T* const* chunks, const int64_t* sizes, int64_t C) {
  std::vector<double> partial((size_t)C);
  // Each chunk is kGradClipChunk elements or fewer: split the chunks over the
  // threads when there are enough elements in all (kParallelMinElements).
  SKINMTL_PARALLEL(C * kGradClipChunk)
  for (int64_t c = 0; c < C; ++c) partial[(size_t)c] = chunk_sum_squares(chunks[c], sizes[c]);
  double total = 0;
  for (double p : partial) total += p;
  return total;
}

template <typename T>
void grad_scale_cpu(T* const* chunks, const int64_t* sizes, int64_t C, T factor) {
  SKINMTL_PARALLEL(C * kGradClipChunk)
  for (int64_t c = 0; c < C; ++c) {
    T* g = chunks[c];
    const int64_t n = sizes[c];
    SKINMTL_SIMD
    for (int64_t i = 0; i < n; ++i) g[i] *= factor;
  }
}

template double grad_sum_squares_cpu<float>(const float* const*, const int64_t*, int64_t);
template double grad_sum_squares_cpu<double>(const double* const*, const int64_t*, int64_t);
template void grad_scale_cpu<float>(float* const*, const int64_t*, int64_t, float);
template void grad_scale_cpu<double>(double* const*, const int64_t*, int64_t, double);

}  // namespace skinmtl
