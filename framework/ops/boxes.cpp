// framework/ops/boxes.cpp: the box ops of framework/ops.h (anchors, IoU, the
// box coder, clip, row gathers, NMS); the arithmetic is in kernels/boxes.h.
// Each op checks shapes, dispatches on the device and writes out every copy
// between host and device (nothing copies behind the reader's back).
//
// Where the work runs (the detector's own bookkeeping in nets/boxes.cpp adds
// its copies on top of these):
//   nms             scores to the host, stable sort; the boxes are gathered in
//                   that order on the device and passed to nms_sorted.
//   nms_sorted      on the GPU the suppression masks and the greedy pass over
//                   them run there; the kept positions come back to the host.
//   gather_rows,    on the GPU the int64 indices (matches) are copied to the
//   take_rows,      device first (take_rows, the one op here with a backward,
//   encode_boxes_matched  reuses its copy there).
//   make_anchors    the cell anchors (A x 4) formed on the host, copied over.
// The copies to the host wait for the project's stream (kernels/device.h).
#include <algorithm>
#include <cmath>
#include <numeric>

#include "framework/autograd.h"
#include "framework/dispatch.h"
#include "framework/ops.h"
#include "framework/precision.h"
#include "kernels/boxes.h"

namespace skinmtl {
namespace {

bool on_cuda(const Tensor& t) { return t.device() == Device::CUDA; }

// ---- int64 index arrays on the GPU -------------------------------------------------------
//
// Tensors hold float32/float64 only. An index array for a CUDA kernel (row
// indices for gather_rows, gt matches for the matched encode) therefore lives
// in the storage of a float32 tensor with two elements per index, used as raw
// bytes: the tensor owns the memory (from the caching allocator) and frees it
// when it goes. The upload is the explicit host-to-device copy below.
static_assert(sizeof(int64_t) == 2 * sizeof(float), "an int64 index takes two float32 slots");

#if SKINMTL_CUDA
Tensor upload_index(const std::vector<int64_t>& index) {
  Tensor buf = Tensor::empty({(int64_t)index.size() * 2}, DType::F32, Device::CUDA);
  // Host-to-device copy of the indices (queued on the project's stream).
  if (!index.empty()) cuda::memcpy_h2d(buf.raw_data(), index.data(), index.size() * sizeof(int64_t));
  return buf;
}
const int64_t* index_ptr(const Tensor& buf) { return static_cast<const int64_t*>(buf.raw_data()); }
#endif

// Positions 0..n-1 ordered by descending value; ties: the lower position first.
}  // namespace

void check_boxes(const char* op, const Tensor& x, const char* name) {
  SKINMTL_CHECK(x.defined(), op << ": " << name << " is undefined");
  SKINMTL_CHECK(x.ndim() == 2 && x.size(1) == 4,
                op << ": " << name << " must be boxes (M, 4), got " << x.str());
  if (on_cuda(x)) require_cuda_f32(op, {&x});
}

void check_same_kind(const char* op, const Tensor& a, const Tensor& b) {
  check_same_device(op, a, b);
  SKINMTL_CHECK(a.dtype() == b.dtype(),
                op << ": dtypes differ: " << a.str() << " and " << b.str());
}

// ---- anchors ------------------------------------------------------------------------------

Tensor make_anchors(int64_t feat_h, int64_t feat_w, double stride, double size,
                    const std::vector<double>& ratios, Device device) {
  SKINMTL_CHECK(feat_h >= 0 && feat_w >= 0,
                "make_anchors: feature size must be >= 0, got " << feat_h << " x " << feat_w);
  SKINMTL_CHECK(stride > 0 && size > 0,
                "make_anchors: stride and size must be > 0, got " << stride << ", " << size);
  SKINMTL_CHECK(!ratios.empty(), "make_anchors: needs at least one aspect ratio");
  const int64_t A = (int64_t)ratios.size();
  // Cell anchors (A, 4), centred on 0, in double, then float32 (Detectron2's
  // generate_cell_anchors): w = sqrt(size^2 / r), h = r w.
  std::vector<double> cell;
  for (double r : ratios) {
    SKINMTL_CHECK(r > 0 && std::isfinite(r), "make_anchors: aspect ratio must be > 0, got " << r);
    const double w = std::sqrt(size * size / r), h = r * w;
    cell.insert(cell.end(), {-0.5 * w, -0.5 * h, 0.5 * w, 0.5 * h});
  }
  const Tensor cell_h = Tensor::from_vector(cell, {A, 4}, DType::F32);
  Tensor out = Tensor::empty({feat_h * feat_w * A, 4}, DType::F32, device);
  if (device == Device::CPU) {
    make_anchors_cpu<float>(out.data<float>(), cell_h.data<float>(), feat_h, feat_w, A, stride);
  } else {
    const Tensor cell_d = cell_h.to(Device::CUDA);  // host-to-device copy of A x 4 floats
    SKINMTL_CUDA_ONLY(make_anchors_cuda(out.data<float>(), cell_d.data<float>(), feat_h, feat_w, A,
                                        stride, cuda::stream()));
  }
  return out;
}

// ---- IoU, encode, decode, clip, gather ----------------------------------------------------

Tensor box_iou(const Tensor& a_in, const Tensor& b_in) {
  // No bfloat16 kernel: bfloat16 inputs are widened (framework/precision.h).
  const Tensor a = as_f32(a_in);
  const Tensor b = as_f32(b_in);
  check_boxes("box_iou", a, "a");
  check_boxes("box_iou", b, "b");
  check_same_kind("box_iou", a, b);
  const int64_t M = a.size(0), K = b.size(0);
  Tensor iou = Tensor::empty({M, K}, a.dtype(), a.device());
  if (!on_cuda(a)) {
    dispatch_cpu(a.dtype(), [&](auto tag) {
      using T = decltype(tag);
      box_iou_cpu<T>(iou.data<T>(), a.data<T>(), b.data<T>(), M, K);
    });
  } else {
    SKINMTL_CUDA_ONLY(
        box_iou_cuda(iou.data<float>(), a.data<float>(), b.data<float>(), M, K, cuda::stream()));
  }
  return iou;
}

Tensor encode_boxes(const Tensor& anchors_in, const Tensor& targets_in, const BoxCoder& c) {
  // No bfloat16 kernel: bfloat16 inputs are widened (framework/precision.h).
  const Tensor anchors = as_f32(anchors_in);
  const Tensor targets = as_f32(targets_in);
  check_boxes("encode_boxes", anchors, "anchors");
  check_boxes("encode_boxes", targets, "targets");
  check_same_kind("encode_boxes", anchors, targets);
  SKINMTL_CHECK(anchors.size(0) == targets.size(0), "encode_boxes: " << anchors.size(0)
                                                        << " anchors but " << targets.size(0)
                                                        << " targets");
  const int64_t M = anchors.size(0);
  Tensor d = Tensor::empty({M, 4}, anchors.dtype(), anchors.device());
  if (!on_cuda(anchors)) {
    dispatch_cpu(anchors.dtype(), [&](auto tag) {
      using T = decltype(tag);
      box_encode_cpu<T>(d.data<T>(), anchors.data<T>(), targets.data<T>(), M, (T)c.wx, (T)c.wy,
                        (T)c.ww, (T)c.wh);
    });
  } else {
    SKINMTL_CUDA_ONLY(box_encode_cuda(d.data<float>(), anchors.data<float>(),
                                      targets.data<float>(), M, (float)c.wx, (float)c.wy,
                                      (float)c.ww, (float)c.wh, cuda::stream()));
  }
  return d;
}

Tensor decode_boxes(const Tensor& anchors_in, const Tensor& deltas_in, const BoxCoder& c) {
  // No bfloat16 kernel: bfloat16 inputs are widened (framework/precision.h).
  const Tensor anchors = as_f32(anchors_in);
  const Tensor deltas = as_f32(deltas_in);
  check_boxes("decode_boxes", anchors, "anchors");
  check_boxes("decode_boxes", deltas, "deltas");
  check_same_kind("decode_boxes", anchors, deltas);
  SKINMTL_CHECK(anchors.size(0) == deltas.size(0), "decode_boxes: " << anchors.size(0)
                                                        << " anchors but " << deltas.size(0)
                                                        << " deltas");
  const int64_t M = anchors.size(0);
  Tensor b = Tensor::empty({M, 4}, anchors.dtype(), anchors.device());
  if (!on_cuda(anchors)) {
    dispatch_cpu(anchors.dtype(), [&](auto tag) {
      using T = decltype(tag);
      box_decode_cpu<T>(b.data<T>(), anchors.data<T>(), deltas.data<T>(), M, (T)c.wx, (T)c.wy,
                        (T)c.ww, (T)c.wh, (T)c.clamp);
    });
  } else {
    SKINMTL_CUDA_ONLY(box_decode_cuda(b.data<float>(), anchors.data<float>(), deltas.data<float>(),
                                      M, (float)c.wx, (float)c.wy, (float)c.ww, (float)c.wh,
                                      (float)c.clamp, cuda::stream()));
  }
  return b;
}

Tensor encode_boxes_matched(const Tensor& ref_in, const Tensor& gt_in, const std::vector<int64_t>& match,
                            const BoxCoder& c) {
  // No bfloat16 kernel: bfloat16 inputs are widened (framework/precision.h).
  const Tensor ref = as_f32(ref_in);
  const Tensor gt = as_f32(gt_in);
  check_boxes("encode_boxes_matched", ref, "ref");
  check_boxes("encode_boxes_matched", gt, "gt");
  check_same_kind("encode_boxes_matched", ref, gt);
  const int64_t M = ref.size(0), G = gt.size(0);
  SKINMTL_CHECK((int64_t)match.size() == M, "encode_boxes_matched: " << match.size()
                                                << " matches for " << M << " boxes");
  for (int64_t m : match)
    SKINMTL_CHECK(m >= -1 && m < G, "encode_boxes_matched: match " << m << " out of range for "
                                                                   << G << " gt boxes");
  Tensor d = Tensor::empty({M, 4}, ref.dtype(), ref.device());
  if (!on_cuda(ref)) {
    dispatch_cpu(ref.dtype(), [&](auto tag) {
      using T = decltype(tag);
      box_encode_matched_cpu<T>(d.data<T>(), ref.data<T>(), gt.data<T>(), match.data(), M,
                                (T)c.wx, (T)c.wy, (T)c.ww, (T)c.wh);
    });
  } else {
#if SKINMTL_CUDA
    const Tensor match_d = upload_index(match);
    box_encode_matched_cuda(d.data<float>(), ref.data<float>(), gt.data<float>(),
                            index_ptr(match_d), M, (float)c.wx, (float)c.wy, (float)c.ww,
                            (float)c.wh, cuda::stream());
#else
    fail_no_cuda(__FILE__, __LINE__);
#endif
  }
  return d;
}

Tensor clip_boxes(const Tensor& boxes_in, double height, double width) {
  // No bfloat16 kernel: bfloat16 inputs are widened (framework/precision.h).
  const Tensor boxes = as_f32(boxes_in);
  check_boxes("clip_boxes", boxes, "boxes");
  SKINMTL_CHECK(height >= 0 && width >= 0,
                "clip_boxes: image size must be >= 0, got " << height << " x " << width);
  const int64_t M = boxes.size(0);
  Tensor out = Tensor::empty({M, 4}, boxes.dtype(), boxes.device());
  if (!on_cuda(boxes)) {
    dispatch_cpu(boxes.dtype(), [&](auto tag) {
      using T = decltype(tag);
      box_clip_cpu<T>(out.data<T>(), boxes.data<T>(), M, (T)height, (T)width);
    });
  } else {
    SKINMTL_CUDA_ONLY(box_clip_cuda(out.data<float>(), boxes.data<float>(), M, (float)height,
                                    (float)width, cuda::stream()));
  }
  return out;
}

Tensor gather_rows(const Tensor& x_in, const std::vector<int64_t>& index) {
  // No bfloat16 kernel: bfloat16 inputs are widened (framework/precision.h).
  const Tensor x = as_f32(x_in);
  SKINMTL_CHECK(x.defined() && (x.ndim() == 1 || x.ndim() == 2),
                "gather_rows: x must be (M) or (M, C), got " << (x.defined() ? x.str() : "undefined"));
  if (on_cuda(x)) require_cuda_f32("gather_rows", {&x});
  const int64_t M = x.size(0), C = x.ndim() == 2 ? x.size(1) : 1;
  const int64_t n = (int64_t)index.size();
  for (int64_t i : index)
    SKINMTL_CHECK(i >= 0 && i < M, "gather_rows: index " << i << " out of range for " << x.str());
  Shape shape = x.shape();
  shape[0] = n;
  Tensor out = Tensor::empty(shape, x.dtype(), x.device());
  if (!on_cuda(x)) {
    dispatch_cpu(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      gather_rows_cpu<T>(out.data<T>(), x.data<T>(), index.data(), n, C);
    });
  } else if (n > 0) {
#if SKINMTL_CUDA
    const Tensor index_d = upload_index(index);
    gather_rows_cuda(out.data<float>(), x.data<float>(), index_ptr(index_d), n, C, cuda::stream());
#else
    fail_no_cuda(__FILE__, __LINE__);
#endif
  }
  return out;
}

Tensor take_rows(const Tensor& x_in, const std::vector<int64_t>& index) {
  const Tensor x = as_f32(x_in);  // no bfloat16 kernel (framework/precision.h)
  SKINMTL_CHECK(x.defined() && x.ndim() >= 1,
                "take_rows: x must have at least one dimension, got " << (x.defined() ? x.str() : "undefined"));
  if (on_cuda(x)) require_cuda_f32("take_rows", {&x});
  const int64_t M = x.size(0), C = M > 0 ? x.numel() / M : 0, n = (int64_t)index.size();
  for (int64_t i : index)
    SKINMTL_CHECK(i >= 0 && i < M, "take_rows: index " << i << " out of range for " << x.str());
  // Distinct: checked on a sorted copy, O(n log n) in the n indices rather
  // than a flag per row of x (512 of about 520,000 for the RPN's loss).
  std::vector<int64_t> sorted(index);
  std::sort(sorted.begin(), sorted.end());
  const auto twice = std::adjacent_find(sorted.begin(), sorted.end());
  SKINMTL_CHECK(twice == sorted.end(), "take_rows: row " << (twice == sorted.end() ? 0 : *twice)
                                                        << " is taken twice (the indices must be distinct)");
  Shape shape = x.shape();
  shape[0] = n;
  Tensor out = Tensor::empty(shape, x.dtype(), x.device());
#if SKINMTL_CUDA
  // One upload, shared by the forward and the backward (kept alive by the lambda).
  const Tensor index_d = on_cuda(x) && n > 0 ? upload_index(index) : Tensor();
#else
  const Tensor index_d;
#endif
  if (!on_cuda(x)) {
    dispatch_cpu(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      gather_rows_cpu<T>(out.data<T>(), x.data<T>(), index.data(), n, C);
    });
  } else if (n > 0) {
    SKINMTL_CUDA_ONLY(gather_rows_cuda(out.data<float>(), x.data<float>(), index_ptr(index_d), n, C, cuda::stream()));
  }
  record(out, "take_rows", {x}, [index, index_d, n, C](const Tensor& dy, GradBuffers& d) {
    if (!d.needs(0) || n == 0) return;
    Tensor& dx = d[0];  // zeroed on first use: rows nobody took get 0
    if (dx.device() == Device::CPU) {
      dispatch_cpu(dx.dtype(), [&](auto tag) {
        using T = decltype(tag);
        scatter_add_rows_cpu<T>(dx.data<T>(), dy.data<T>(), index.data(), n, C);
      });
    } else {
      SKINMTL_CUDA_ONLY(
          scatter_add_rows_cuda(dx.data<float>(), dy.data<float>(), index_ptr(index_d), n, C, cuda::stream()));
    }
  });
  return out;
}

// ---- NMS ------------------------------------------------------------------------------------

namespace {

// The indices 0..n-1 by descending v, ties by the lower index.
template <typename T>
std::vector<int64_t> order_descending_of(const T* v, int64_t n) {
  std::vector<int64_t> order((size_t)n);
  std::iota(order.begin(), order.end(), int64_t(0));
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return v[a] > v[b]; });
  return order;
}

// The smallest and largest of v[0..n), and whether all are finite (lo = hi =
// 0 when n = 0): top_k_descending's first pass, a vectorised reduction with
// nothing else in the loop. Written inside top_k_descending, with the check
// of each value in the loop, it kept lo in memory and took two thirds of
// the whole selection's time.
template <typename T>
struct ValueRange {
  T lo = 0, hi = 0;
  bool finite = true;
};
template <typename T>
ValueRange<T> value_range(const T* v, int64_t n) {
  ValueRange<T> r;
  if (n == 0) return r;
  T lo = v[0], hi = v[0];
  int finite = 1;
#pragma omp simd reduction(min : lo) reduction(max : hi) reduction(& : finite)
  for (int64_t i = 0; i < n; ++i) {
    const T x = v[i];
    finite &= std::isfinite(x) ? 1 : 0;
    lo = x < lo ? x : lo;
    hi = x > hi ? x : hi;
  }
  r.lo = lo;
  r.hi = hi;
  r.finite = finite != 0;
  return r;
}

template <typename T>
std::vector<int64_t> top_k_of(const T* v, int64_t n, int64_t k, const char* what) {
  SKINMTL_CHECK(k >= 0, "top_k_descending: k must be >= 0, got " << k);
  // Pass 1: the range, and whether every value is finite (value_range); the
  // first value that is not is named after it, in the caller's words.
  const ValueRange<T> range = value_range(v, n);
  for (int64_t i = 0; !range.finite && i < n; ++i)
    SKINMTL_CHECK(std::isfinite(v[i]), what << " " << i << " is not finite (" << v[i] << ")");
  if (k >= n) return order_descending_of(v, n);
  std::vector<int64_t> top;
  if (k == 0) return top;
  // Pass 2: bucket the values evenly over [lo, hi] and count each bucket's.
  // bucket() never decreases as the value grows, so a value in a higher
  // bucket is larger: the top k are every value above the bucket b that
  // holds the k-th largest, and the largest of b's. Each value's bucket is
  // kept (two bytes a value, in a buffer this thread reuses), so that pass 3
  // reads it instead of computing it again.
  // A range wider than a double holds (past 1.8e308) or so narrow that its
  // reciprocal overflows puts every value in bucket 0 (scale 0): all are
  // sorted. The bucket of a value is clamped before the conversion to int, so
  // that a NaN product (an infinite difference times 0) gives bucket 0 too.
  constexpr int kBuckets = 4096;
  const double lo = range.lo, width = (double)range.hi - lo;
  const double scale = width > 0 && std::isfinite(width) && std::isfinite(kBuckets / width) ? kBuckets / width : 0.0;
  thread_local std::vector<uint16_t> bucket_of;
  bucket_of.resize((size_t)n);
  int64_t count[kBuckets] = {};
  for (int64_t i = 0; i < n; ++i) {
    const double t = ((double)v[i] - lo) * scale;
    const int b = t >= kBuckets - 1 ? kBuckets - 1 : t > 0 ? (int)t : 0;
    bucket_of[(size_t)i] = (uint16_t)b;
    ++count[b];
  }
  int b = kBuckets - 1;
  for (int64_t above = 0; above + count[b] < k; --b) above += count[b];
  // Pass 3: the values of buckets b and above with their indices, sorted by
  // descending value, ties by the lower index (a strict total order). Sorting
  // the pairs themselves reads each value once per comparison from where it
  // is compared, not through its index.
  struct Entry {
    T value;
    int64_t index;
  };
  std::vector<Entry> entries;
  entries.reserve((size_t)k);
  for (int64_t i = 0; i < n; ++i)
    if (bucket_of[(size_t)i] >= b) entries.push_back({v[i], i});
  std::sort(entries.begin(), entries.end(), [](const Entry& x, const Entry& y) {
    return x.value > y.value || (x.value == y.value && x.index < y.index);
  });
  top.resize((size_t)k);
  for (int64_t i = 0; i < k; ++i) top[(size_t)i] = entries[(size_t)i].index;
  return top;
}

}  // namespace

std::vector<int64_t> order_descending(const std::vector<double>& v) {
  return order_descending_of(v.data(), (int64_t)v.size());
}

std::vector<int64_t> top_k_descending(const double* values, int64_t n, int64_t k, const char* what) {
  return top_k_of(values, n, k, what);
}
std::vector<int64_t> top_k_descending(const float* values, int64_t n, int64_t k, const char* what) {
  return top_k_of(values, n, k, what);
}

std::vector<int64_t> nms(const Tensor& boxes_in, const Tensor& scores_in, double iou) {
  // No bfloat16 kernel: bfloat16 inputs are widened (framework/precision.h).
  const Tensor boxes = as_f32(boxes_in);
  const Tensor scores = as_f32(scores_in);
  check_boxes("nms", boxes, "boxes");
  SKINMTL_CHECK(scores.defined() && scores.ndim() == 1 && scores.size(0) == boxes.size(0),
                "nms: scores must be (n) for " << boxes.str() << ", got "
                                               << (scores.defined() ? scores.str() : "undefined"));
  check_same_kind("nms", boxes, scores);
  // Device-to-host copy of the scores (n values) for the sort.
  const std::vector<double> s = scores.to(Device::CPU).to_vector();
  for (size_t i = 0; i < s.size(); ++i)
    SKINMTL_CHECK(std::isfinite(s[i]), "nms: score " << i << " is not finite (" << s[i] << ")");
  const std::vector<int64_t> order = order_descending(s);
  const std::vector<int64_t> kept = nms_sorted(gather_rows(boxes, order), iou);
  std::vector<int64_t> out;
  out.reserve(kept.size());
  for (int64_t k : kept) out.push_back(order[(size_t)k]);
  return out;
}

std::vector<int64_t> nms_sorted(const Tensor& boxes_in, double iou, int64_t max_keep) {
  // No bfloat16 kernel: bfloat16 inputs are widened (framework/precision.h).
  const Tensor boxes = as_f32(boxes_in);
  check_boxes("nms_sorted", boxes, "boxes");
  SKINMTL_CHECK(max_keep >= 0, "nms_sorted: max_keep must be >= 0 (0: no limit), got " << max_keep);
  const int64_t n = boxes.size(0);
  std::vector<int64_t> keep((size_t)n);
  int64_t kept = 0;
  if (!on_cuda(boxes)) {
    dispatch_cpu(boxes.dtype(), [&](auto tag) {
      using T = decltype(tag);
      kept = nms_cpu<T>(keep.data(), boxes.data<T>(), n, (T)iou, max_keep);
    });
  } else if (n > 0) {
#if SKINMTL_CUDA
    // The suppression masks (n, words) of 64-bit words, in a float32 tensor's
    // storage used as raw bytes (as upload_index does).
    const int64_t words = nms_mask_words(n);
    Tensor mask = Tensor::empty({n * words * 2}, DType::F32, Device::CUDA);
    uint64_t* mask_d = static_cast<uint64_t*>(mask.raw_data());
    nms_mask_cuda(mask_d, boxes.data<float>(), n, (float)iou, cuda::stream());
    if (nms_reduce_fits_device(n)) {
      // The pass over the mask rows on the device too; then a device-to-host
      // copy of [count, kept positions] (n + 1 values; cuda::memcpy_d2h waits
      // for the stream first). This is NMS's one synchronisation.
      Tensor out = Tensor::empty({(n + 1) * 2}, DType::F32, Device::CUDA);  // int64 in float32 storage
      int64_t* out_d = static_cast<int64_t*>(out.raw_data());
      nms_reduce_mask_cuda(out_d, mask_d, n, max_keep, cuda::stream());
      std::vector<int64_t> out_h((size_t)(n + 1));
      cuda::memcpy_d2h(out_h.data(), out_d, out_h.size() * sizeof(int64_t));
      kept = out_h[0];
      std::copy(out_h.begin() + 1, out_h.begin() + 1 + kept, keep.begin());
    } else {
      // Device-to-host copy of the masks (waits for the stream), then the
      // short sequential pass over the mask rows on the host.
      std::vector<uint64_t> mask_h((size_t)(n * words));
      cuda::memcpy_d2h(mask_h.data(), mask_d, mask_h.size() * sizeof(uint64_t));
      kept = nms_reduce_mask(keep.data(), mask_h.data(), n, max_keep);
    }
#else
    fail_no_cuda(__FILE__, __LINE__);
#endif
  }
  keep.resize((size_t)kept);
  return keep;
}

}  // namespace skinmtl
