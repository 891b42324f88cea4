#include "io/loader.h"

#include <sstream>

#include "framework/random.h"

namespace skinmtl {

// SplitMix64's finaliser (Steele et al. 2014): a bijection on 64-bit integers
// whose output bits all depend on all input bits, so nearby inputs (epoch 3 and
// 4, sample 10 and 11) give unrelated seeds.
static uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t loader_sample_seed(uint64_t seed, int64_t epoch, uint64_t index) {
  return mix64(mix64(mix64(seed) ^ (uint64_t)epoch) ^ index);
}

namespace {

// The checks that name the manifest and the transform, made before any worker
// starts; returns the number of samples.
size_t checked_size(const Manifest& manifest, const Transform& transform) {
  SKINMTL_CHECK(manifest.size() > 0, "Loader: the manifest " << manifest.source << " is empty");
  SKINMTL_CHECK(transform.apply && transform.views > 0 && transform.out_height > 0 &&
                    transform.out_width > 0,
                "Loader: the transform '" << transform.name << "' is incomplete");
  return manifest.size();
}

}  // namespace

Loader::Loader(Manifest manifest, Transform transform, LoaderOptions options)
    : manifest_(std::move(manifest)),
      transform_(std::move(transform)),
      normalize_(options.normalize),
      pipeline_(checked_size(manifest_, transform_), options,
                [this](const std::vector<size_t>& indices, int64_t epoch, int64_t number) {
                  return build_batch(indices, epoch, number);
                }) {}

Batch Loader::build_batch(const std::vector<size_t>& indices, int64_t epoch, int64_t number) const {
  Batch b;
  b.indices = indices;
  b.epoch = epoch;
  b.number = number;
  const int64_t B = (int64_t)indices.size(), V = transform_.views;
  const int64_t H = transform_.out_height, W = transform_.out_width;
  const int64_t K = manifest_.num_lesion_classes();
  const uint64_t seed = pipeline_.options().seed;
  b.images = Tensor::empty({B * V, 3, H, W});
  b.lesions = Tensor::empty({B, K});
  b.locations = Tensor::empty({B});
  float* images = b.images.data<float>();
  for (int64_t j = 0; j < B; ++j) {
    const size_t i = indices[j];
    const Sample& s = manifest_.samples[i];
    try {
      Rng rng(sample_seed(seed, epoch, i));
      const Image img = load_image(s.image, 3);
      const std::vector<Image> views = transform_.apply(img, rng);
      SKINMTL_CHECK((int64_t)views.size() == V, "the transform '" << transform_.name << "' gave "
                                                                  << views.size() << " views, not "
                                                                  << V);
      for (int64_t v = 0; v < V; ++v) {
        SKINMTL_CHECK(views[v].height == H && views[v].width == W,
                      "the transform '" << transform_.name << "' gave a " << views[v].str()
                                        << " image, not " << H << "x" << W);
        image_to_chw(views[v], normalize_, images + (j * V + v) * 3 * H * W);
      }
    } catch (const std::exception& e) {
      std::ostringstream os;
      os << "loader: sample " << i << " ('" << s.image << "', " << s.where << "): " << e.what();
      throw Error(os.str());
    }
    manifest_.lesion_targets(i, b.lesions.data<float>() + j * K);
    b.locations.data<float>()[j] = (float)s.location;
  }
  return b;
}

}  // namespace skinmtl
