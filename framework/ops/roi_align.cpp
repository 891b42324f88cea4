// roi_align, roi_align_fpn, fpn_roi_levels: see kernels/roi_align.h.
//
// The RoIs are read on the host before pooling: their batch indices must be
// integers in [0, N) and their coordinates finite (a bad row would otherwise
// read another image's features, or outside memory), and roi_align_fpn picks
// every RoI's pyramid level there. RoIs given on the host (the detector makes
// them there) are checked there and copied up (R x 5 floats, no wait). CUDA
// rois are copied to the host first, which waits for the stream: everything
// queued before must finish, paid for a clear error instead of a silent wrong
// read.
#include <cmath>
#include <limits>

#include "framework/autograd.h"
#include "framework/dispatch.h"
#include "framework/ops.h"
#include "framework/precision.h"
#include "kernels/roi_align.h"

namespace skinmtl {

namespace {

std::string describe(const Tensor& t) { return t.defined() ? t.str() : std::string("undefined"); }

void check_features(const char* op, const Tensor& x, const char* what) {
  SKINMTL_CHECK(x.defined() && x.ndim() == 4,
                op << ": " << what << " must be (N, C, H, W), got " << describe(x));
  SKINMTL_CHECK(x.size(2) > 0 && x.size(3) > 0,
                op << ": " << what << " has an empty spatial plane: " << x.str());
}

void check_params(const char* op, const RoiAlignParams& p) {
  SKINMTL_CHECK(p.out_h > 0 && p.out_w > 0,
                op << ": the output size must be positive, got " << p.out_h << "x" << p.out_w);
  SKINMTL_CHECK(p.sampling_ratio >= 0,
                op << ": sampling_ratio must be >= 0 (0: adaptive), got " << p.sampling_ratio);
}

// The RoIs twice: on the host, checked, and on the features' device, for the
// kernels (the same tensor on the CPU).
struct CheckedRois {
  Tensor host, on_device;
};

// Checks rois against the features (shape, device, dtype): on the features'
// device or on the host.
CheckedRois checked_rois(const char* op, const Tensor& rois, const Tensor& features) {
  SKINMTL_CHECK(rois.defined() && rois.ndim() == 2 && rois.size(1) == 5,
                op << ": rois must be (R, 5) rows [batch_index, x1, y1, x2, y2], got "
                   << describe(rois));
  SKINMTL_CHECK(rois.device() == features.device() || rois.device() == Device::CPU,
                op << ": rois must be on the features' device or on the host, got rois " << rois.str()
                   << " and features " << features.str());
  SKINMTL_CHECK(rois.dtype() == features.dtype(),
                op << ": rois must have the features' dtype, got rois " << rois.str()
                   << " and features " << features.str());
  SKINMTL_CHECK(rois.size(0) <= std::numeric_limits<int32_t>::max(),
                op << ": too many RoIs: " << rois.str());
  // Device-to-host copy (which waits for the stream) of CUDA rois.
  const Tensor host = rois.to(Device::CPU);
  const std::vector<double> v = host.to_vector();
  const int64_t N = features.size(0);
  for (int64_t r = 0; r < rois.size(0); ++r) {
    const double* row = v.data() + r * 5;
    SKINMTL_CHECK(row[0] == std::floor(row[0]) && row[0] >= 0 && row[0] < (double)N,
                  op << ": RoI " << r << " has batch index " << row[0]
                     << ", which is not an integer in [0, " << N << ")");
    for (int k = 1; k < 5; ++k)
      SKINMTL_CHECK(std::isfinite(row[k]),
                    op << ": RoI " << r << " has a non-finite coordinate " << row[k]);
  }
  // Host-to-device copy of host rois for CUDA features.
  return {host, rois.to(features.device())};
}

RoiAlignGeom geometry(const Tensor& x, const RoiAlignParams& p, double spatial_scale) {
  RoiAlignGeom g;
  g.N = x.size(0);
  g.C = x.size(1);
  g.H = x.size(2);
  g.W = x.size(3);
  g.out_h = p.out_h;
  g.out_w = p.out_w;
  g.spatial_scale = spatial_scale;
  g.sampling_ratio = p.sampling_ratio;
  g.aligned = p.aligned;
  return g;
}

// Pools the n RoIs of `index` (nullptr: rows 0..n-1) from x into their rows of y.
// `index` is a host pointer for CPU tensors, a device pointer for CUDA ones.
void forward_rois(Tensor& y, const Tensor& x, const Tensor& rois, const int32_t* index, int64_t n,
                  const RoiAlignGeom& g) {
  if (x.device() == Device::CPU) {
    dispatch_cpu(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      roi_align_forward_cpu<T>(y.data<T>(), x.data<T>(), rois.data<T>(), index, n, g);
    });
  } else {
    require_cuda_f32("roi_align", {&x, &rois});
    SKINMTL_CUDA_ONLY(roi_align_forward_cuda(y.data<float>(), x.data<float>(), rois.data<float>(),
                                             index, n, g, cuda::stream()));
  }
}

// dx += the gradient of those n RoIs' pooling, from their rows of dy.
void backward_rois(Tensor& dx, const Tensor& dy, const Tensor& rois, const int32_t* index,
                   int64_t n, const RoiAlignGeom& g) {
  if (n == 0) return;
  if (dx.device() == Device::CPU) {
    dispatch_cpu(dx.dtype(), [&](auto tag) {
      using T = decltype(tag);
      roi_align_backward_cpu<T>(dx.data<T>(), dy.data<T>(), rois.data<T>(), index, n, g);
    });
  } else {
    // The gather's tables (kernels/roi_align.h), freed when this returns (the
    // allocator hands the block out again only to work queued after this).
    Tensor workspace =
        Tensor::empty({roi_align_backward_cuda_workspace(n, g)}, DType::F32, Device::CUDA);
    SKINMTL_CUDA_ONLY(roi_align_backward_cuda(dx.data<float>(), workspace.data<float>(),
                                              dy.data<float>(), rois.data<float>(), index, n, g,
                                              cuda::stream()));
  }
}

}  // namespace

Tensor roi_align(const Tensor& features_in, const Tensor& rois_in, const RoiAlignParams& p) {
  // No bfloat16 kernel: bfloat16 inputs are widened (framework/precision.h).
  const Tensor features = as_f32(features_in);
  const Tensor rois = as_f32(rois_in);
  check_features("roi_align", features, "features");
  check_params("roi_align", p);
  SKINMTL_CHECK(std::isfinite(p.spatial_scale) && p.spatial_scale > 0,
                "roi_align: spatial_scale must be positive, got " << p.spatial_scale);
  const Tensor rois_dev = checked_rois("roi_align", rois, features).on_device;
  const RoiAlignGeom g = geometry(features, p, p.spatial_scale);
  const int64_t R = rois.size(0);
  Tensor y = Tensor::empty({R, g.C, p.out_h, p.out_w}, features.dtype(), features.device());
  forward_rois(y, features, rois_dev, nullptr, R, g);
  // Saved for backward: the rois (detached: they are constants here, and their
  // own graph, if any, must not be kept alive by this node).
  record(y, "roi_align", {features},
         [rois = rois_dev.detach(), g, R](const Tensor& dy, GradBuffers& d) {
           if (d[0].defined()) backward_rois(d[0], dy, rois, nullptr, R, g);
         });
  return y;
}

std::vector<int> fpn_roi_levels(const Tensor& rois, int min_level, int max_level,
                                double canonical_size, int canonical_level) {
  SKINMTL_CHECK(rois.defined() && rois.ndim() == 2 && rois.size(1) == 5,
                "fpn_roi_levels: rois must be (R, 5) rows [batch_index, x1, y1, x2, y2], got "
                    << describe(rois));
  SKINMTL_CHECK(rois.device() == Device::CPU,
                "fpn_roi_levels: rois must be on the CPU, got " << rois.str());
  SKINMTL_CHECK(min_level <= max_level,
                "fpn_roi_levels: min_level " << min_level << " > max_level " << max_level);
  SKINMTL_CHECK(canonical_size > 0,
                "fpn_roi_levels: canonical_size must be positive, got " << canonical_size);
  const std::vector<double> v = rois.to_vector();
  std::vector<int> levels((size_t)rois.size(0));
  for (size_t r = 0; r < levels.size(); ++r) {
    const double* row = v.data() + r * 5;
    for (int k = 1; k < 5; ++k)
      SKINMTL_CHECK(std::isfinite(row[k]),
                    "fpn_roi_levels: RoI " << r << " has a non-finite coordinate " << row[k]);
    const double w = row[3] - row[1], h = row[4] - row[2];
    double k = min_level;  // an empty or inverted box: log2(0) = -inf, the finest level
    if (w > 0 && h > 0)
      k = std::floor(canonical_level + std::log2(std::sqrt(w * h) / canonical_size));
    levels[r] = (int)std::min<double>(std::max<double>(k, min_level), max_level);
  }
  return levels;
}

Tensor roi_align_fpn(const std::vector<Tensor>& levels_in, const Tensor& rois_in,
                     const RoiAlignParams& p, int min_level, double canonical_size) {
  // No bfloat16 kernel: bfloat16 inputs are widened (framework/precision.h).
  const Tensor rois = as_f32(rois_in);
  std::vector<Tensor> levels;
  for (const Tensor& t : levels_in) levels.push_back(as_f32(t));
  const char* op = "roi_align_fpn";
  SKINMTL_CHECK(!levels.empty(), op << ": no pyramid levels");
  const int L = (int)levels.size();
  SKINMTL_CHECK(min_level >= 0 && min_level + L - 1 <= 30,
                op << ": levels P" << min_level << "..P" << min_level + L - 1
                   << " are out of range (strides 2^0 .. 2^30)");
  for (int k = 0; k < L; ++k) {
    const std::string what = "level P" + std::to_string(min_level + k);
    check_features(op, levels[k], what.c_str());
    SKINMTL_CHECK(levels[k].size(0) == levels[0].size(0) && levels[k].size(1) == levels[0].size(1) &&
                      levels[k].dtype() == levels[0].dtype() &&
                      levels[k].device() == levels[0].device(),
                  op << ": every level must have the same N, C, dtype and device; P" << min_level
                     << " is " << levels[0].str() << ", " << what << " " << levels[k].str());
  }
  check_params(op, p);
  const CheckedRois checked = checked_rois(op, rois, levels[0]);
  const Tensor& host_rois = checked.host;
  const int64_t R = rois.size(0);

  // The RoIs of each level, as one list grouped by level: level k's are
  // index[begin[k] .. begin[k + 1]), in RoI order.
  const std::vector<int> level_of = fpn_roi_levels(host_rois, min_level, min_level + L - 1, canonical_size);
  std::vector<int64_t> begin(L + 1, 0);
  for (int lv : level_of) ++begin[lv - min_level + 1];
  for (int k = 0; k < L; ++k) begin[k + 1] += begin[k];
  std::vector<int32_t> index((size_t)R);
  {
    std::vector<int64_t> next(begin.begin(), begin.end() - 1);
    for (int64_t r = 0; r < R; ++r) index[(size_t)next[level_of[r] - min_level]++] = (int32_t)r;
  }
  // On CUDA the kernels read the list from device memory. Tensors hold floats,
  // so it travels in the bytes of a float32 tensor of R elements (4 bytes each,
  // like int32): a workspace, never read as floats.
  Tensor device_index;
  const Device dev = levels[0].device();
  if (dev == Device::CUDA && R > 0) {
    device_index = Tensor::empty({R}, DType::F32, Device::CUDA);
    SKINMTL_CUDA_ONLY(
        cuda::memcpy_h2d(device_index.raw_data(), index.data(), (size_t)R * sizeof(int32_t)));
  }
  std::vector<RoiAlignGeom> geoms;
  for (int k = 0; k < L; ++k)  // P_l has stride 2^l: scale 2^-l
    geoms.push_back(geometry(levels[k], p, std::ldexp(1.0, -(min_level + k))));

  Tensor y = Tensor::empty({R, levels[0].size(1), p.out_h, p.out_w}, levels[0].dtype(), dev);
  // Level k's slice of the index list, on the device the kernels run on.
  auto slice_of = [](const std::vector<int32_t>& host, const Tensor& device, int64_t offset) {
    if (!device.defined()) return host.data() + offset;
    return static_cast<const int32_t*>(device.raw_data()) + offset;
  };
  for (int k = 0; k < L; ++k) {
    const int64_t n = begin[k + 1] - begin[k];
    if (n > 0) forward_rois(y, levels[k], checked.on_device, slice_of(index, device_index, begin[k]), n, geoms[k]);
  }
  record(y, op, levels,
         [rois = checked.on_device.detach(), index, device_index, begin, geoms, slice_of](
             const Tensor& dy, GradBuffers& d) {
           for (size_t k = 0; k < d.size(); ++k) {
             if (!d[k].defined()) continue;
             backward_rois(d[k], dy, rois, slice_of(index, device_index, begin[k]),
                           begin[k + 1] - begin[k], geoms[k]);
           }
         });
  return y;
}

}  // namespace skinmtl
