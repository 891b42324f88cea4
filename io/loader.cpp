#include "io/loader.h"

#include <algorithm>
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

uint64_t Loader::sample_seed(uint64_t seed, int64_t epoch, uint64_t index) {
  return mix64(mix64(mix64(seed) ^ (uint64_t)epoch) ^ index);
}

Loader::Loader(Manifest manifest, Transform transform, LoaderOptions options)
    : manifest_(std::move(manifest)), transform_(std::move(transform)), options_(options) {
  SKINMTL_CHECK(manifest_.size() > 0, "Loader: the manifest " << manifest_.source << " is empty");
  SKINMTL_CHECK(options_.batch_size > 0, "Loader: batch_size must be positive, got "
                                             << options_.batch_size);
  SKINMTL_CHECK(options_.threads > 0, "Loader: threads must be positive, got "
                                          << options_.threads);
  SKINMTL_CHECK(transform_.apply && transform_.views > 0 && transform_.out_height > 0 &&
                    transform_.out_width > 0,
                "Loader: the transform '" << transform_.name << "' is incomplete");
  if (options_.prefetch <= 0) options_.prefetch = 2 * options_.threads;
  epoch_start_ = last_delivery_ = std::chrono::steady_clock::now();
  SKINMTL_CHECK(!options_.drop_last || (int64_t)manifest_.size() >= options_.batch_size,
                "Loader: drop_last with " << manifest_.size() << " samples and batch size "
                                          << options_.batch_size << " leaves no batch");
  for (int t = 0; t < options_.threads; ++t) workers_.emplace_back([this] { worker_loop(); });
}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

int64_t Loader::batches_per_epoch() const {
  const int64_t n = (int64_t)manifest_.size(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

void Loader::start_epoch(int64_t epoch) {
  std::vector<size_t> order(manifest_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  if (options_.shuffle) {
    // Fisher-Yates, seeded from (seed, epoch) alone (index ~0: no sample's own seed).
    Rng rng(sample_seed(options_.seed, epoch, ~0ull));
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.randint(0, i)]);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++generation_;  // batches still being built for the old epoch are dropped
    ready_.clear();
    order_ = std::move(order);
    epoch_ = epoch;
    num_batches_ = batches_per_epoch();
    next_claim_ = next_deliver_ = 0;
    active_ = true;
    epoch_start_ = last_delivery_ = std::chrono::steady_clock::now();
    delivered_batches_ = delivered_images_ = 0;
    wait_seconds_ = 0;
  }
  work_cv_.notify_all();
}

bool Loader::next(Batch& batch) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!active_ || next_deliver_ >= num_batches_) {
    active_ = false;
    return false;
  }
  const auto t0 = std::chrono::steady_clock::now();
  ready_cv_.wait(lock, [&] { return ready_.count(next_deliver_) > 0; });
  wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  Slot slot = std::move(ready_[next_deliver_]);
  ready_.erase(next_deliver_);
  ++next_deliver_;
  if (!slot.error.empty()) {
    // End the epoch: drop what is built, and what is being built, for it.
    active_ = false;
    ++generation_;
    ready_.clear();
    lock.unlock();
    work_cv_.notify_all();
    throw Error(slot.error);
  }
  batch = std::move(slot.batch);
  last_delivery_ = std::chrono::steady_clock::now();
  ++delivered_batches_;
  delivered_images_ += batch.size();
  lock.unlock();
  work_cv_.notify_all();  // a prefetch slot is free
  return true;
}

LoaderStats Loader::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  LoaderStats s;
  s.batches = delivered_batches_;
  s.images = delivered_images_;
  s.seconds = std::chrono::duration<double>(last_delivery_ - epoch_start_).count();
  s.wait_seconds = wait_seconds_;
  return s;
}

void Loader::worker_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    // A batch may be claimed when one is left and the prefetch window has room.
    work_cv_.wait(lock, [&] {
      return stop_ || (active_ && next_claim_ < num_batches_ &&
                       next_claim_ < next_deliver_ + options_.prefetch);
    });
    if (stop_) return;
    const int64_t number = next_claim_++;
    const uint64_t generation = generation_;
    const int64_t epoch = epoch_;
    const size_t first = (size_t)number * options_.batch_size;
    const size_t last = std::min(first + options_.batch_size, order_.size());
    const std::vector<size_t> indices(order_.begin() + first, order_.begin() + last);

    lock.unlock();
    Slot slot;
    try {
      slot = build_batch(indices, epoch, number);  // names the sample when one fails
    } catch (const std::exception& e) {              // e.g. out of memory for the batch
      slot.error = "loader: batch " + std::to_string(number) + ": " + e.what();
    }
    lock.lock();

    if (generation == generation_) {  // else start_epoch() or an error ended that epoch
      ready_[number] = std::move(slot);
      ready_cv_.notify_all();
    }
  }
}

Loader::Slot Loader::build_batch(const std::vector<size_t>& indices, int64_t epoch,
                                 int64_t number) const {
  Slot slot;
  Batch& b = slot.batch;
  b.indices = indices;
  b.epoch = epoch;
  b.number = number;
  const int64_t B = (int64_t)indices.size(), V = transform_.views;
  const int64_t H = transform_.out_height, W = transform_.out_width;
  const int64_t K = manifest_.num_lesion_classes();
  b.images = Tensor::empty({B * V, 3, H, W});
  b.lesions = Tensor::empty({B, K});
  b.locations = Tensor::empty({B});
  float* images = b.images.data<float>();
  for (int64_t j = 0; j < B; ++j) {
    const size_t i = indices[j];
    const Sample& s = manifest_.samples[i];
    try {
      Rng rng(sample_seed(options_.seed, epoch, i));
      const Image img = load_image(s.image, 3);
      const std::vector<Image> views = transform_.apply(img, rng);
      SKINMTL_CHECK((int64_t)views.size() == V, "the transform '" << transform_.name << "' gave "
                                                                  << views.size() << " views, not "
                                                                  << V);
      for (int64_t v = 0; v < V; ++v) {
        SKINMTL_CHECK(views[v].height == H && views[v].width == W,
                      "the transform '" << transform_.name << "' gave a " << views[v].str()
                                        << " image, not " << H << "x" << W);
        image_to_chw(views[v], options_.normalize, images + (j * V + v) * 3 * H * W);
      }
    } catch (const std::exception& e) {
      std::ostringstream os;
      os << "loader: sample " << i << " ('" << s.image << "', " << s.where << "): " << e.what();
      slot.error = os.str();
      return slot;
    }
    manifest_.lesion_targets(i, b.lesions.data<float>() + j * K);
    b.locations.data<float>()[j] = (float)s.location;
  }
  return slot;
}

}  // namespace skinmtl
