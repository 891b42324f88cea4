#include "io/seg_loader.h"

#include <sstream>

#include "io/loader.h"

namespace skinmtl {

SegItem load_seg_item(const SegSample& s, const SegTransform& t, Rng& rng) {
  SegItem item;
  item.image = load_image(s.image, 3);
  // A sample without a mask (ham10000: evaluation of the classifiers only)
  // gets an empty one, so that the batch keeps its shape; the training
  // commands refuse such data (io/seg_data.h require_training_data).
  item.mask = s.mask.empty() ? Image(item.image.height, item.image.width, 1) : load_truth_mask(s.mask);
  SKINMTL_USER_CHECK(item.image.height == item.mask.height && item.image.width == item.mask.width,
                "the mask '" << s.mask << "' is " << item.mask.height << "x" << item.mask.width
                             << " but the image '" << s.image << "' is " << item.image.height << "x"
                             << item.image.width);
  if (t.letterbox > 0) item.letterbox = letterbox_geometry(item.image.height, item.image.width, t.letterbox);
  t.apply(item.image, item.mask, rng);
  SKINMTL_CHECK(item.image.height == t.out_height && item.image.width == t.out_width &&
                    item.image.channels == 3 && item.mask.height == t.out_height &&
                    item.mask.width == t.out_width && item.mask.channels == 1,
                "the transform '" << t.name << "' gave a " << item.image.str() << " image and a "
                                  << item.mask.str() << " mask, not " << t.out_height << "x"
                                  << t.out_width << "x3 and x1");
  item.mask = binarize_mask(item.mask);
  return item;
}

namespace {

// The checks that name the data and the transform, made before any worker
// starts; returns the number of samples.
size_t checked_size(const std::vector<SegSample>& samples, const SegTransform& t) {
  SKINMTL_CHECK(!samples.empty(), "SegLoader: no samples");
  SKINMTL_CHECK(t.apply && t.out_height > 0 && t.out_width > 0,
                "SegLoader: the transform '" << t.name << "' is incomplete");
  return samples.size();
}

}  // namespace

SegLoader::SegLoader(std::vector<SegSample> samples, SegTransform transform, LoaderOptions options)
    : samples_(std::move(samples)),
      transform_(std::move(transform)),
      normalize_(options.normalize),
      pipeline_(checked_size(samples_, transform_), options,
                [this](const std::vector<size_t>& indices, int64_t epoch, int64_t number) {
                  return build_batch(indices, epoch, number);
                }) {}

SegBatch SegLoader::build_batch(const std::vector<size_t>& indices, int64_t epoch, int64_t number) const {
  SegBatch b;
  b.indices = indices;
  b.epoch = epoch;
  b.number = number;
  const int64_t B = (int64_t)indices.size(), H = transform_.out_height, W = transform_.out_width;
  const uint64_t seed = pipeline_.options().seed;
  b.images = Tensor::empty({B, 3, H, W});
  b.masks = Tensor::empty({B, 1, H, W});
  b.boxes = Tensor::empty({B, 4});
  b.melanoma = Tensor::empty({B});
  b.seborrheic_keratosis = Tensor::empty({B});
  float* images = b.images.data<float>();
  float* masks = b.masks.data<float>();
  float* boxes = b.boxes.data<float>();
  for (int64_t j = 0; j < B; ++j) {
    const size_t i = indices[j];
    const SegSample& s = samples_[i];
    try {
      Rng rng(Loader::sample_seed(seed, epoch, i));
      const SegItem item = load_seg_item(s, transform_, rng);
      image_to_chw(item.image, normalize_, images + j * 3 * H * W);
      for (int64_t p = 0; p < H * W; ++p) masks[j * H * W + p] = item.mask.data[p] ? 1.0f : 0.0f;
      const std::optional<Box> box = mask_box(item.mask);
      float* bj = boxes + j * 4;
      if (box) {
        bj[0] = (float)box->x1, bj[1] = (float)box->y1, bj[2] = (float)box->x2, bj[3] = (float)box->y2;
      } else {
        bj[0] = bj[1] = bj[2] = bj[3] = -1.0f;
      }
      if (transform_.letterbox > 0) b.letterbox.push_back(item.letterbox);
    } catch (const std::exception& e) {
      std::ostringstream os;
      os << "loader: sample " << i << " ('" << s.image << "', mask '" << s.mask << "', " << s.where
         << "): " << e.what();
      throw Error(os.str());
    }
    b.melanoma.data<float>()[j] = (float)s.melanoma;
    b.seborrheic_keratosis.data<float>()[j] = (float)s.seborrheic_keratosis;
  }
  return b;
}

}  // namespace skinmtl
