// io/batch_pipeline.h: the scheduling machinery of the batch loaders, shared by
// io/loader.h (classification: Batch) and io/seg_loader.h (segmentation:
// SegBatch). It knows nothing about images: it hands out the sample indices
// of each batch to worker threads, which call a build function, and delivers
// the built batches in order.
//
//     worker threads:   claim batch b -> build(indices of b, epoch, b)
//     consumer (next):  takes batch 0, 1, 2, ... in order
//
// At most `prefetch` batches are being built or waiting at any time (a bounded
// queue: a worker does not claim batch b before the consumer has taken batch
// b - prefetch), so memory stays bounded however slow the consumer is.
//
// Determinism. Each epoch's sample order is a Fisher-Yates shuffle seeded
// from (seed, epoch) alone (or 0, 1, 2, ... without shuffling), and batch b is
// always order[b * batch_size ...]. A build function that draws its random
// numbers from an Rng seeded by loader_sample_seed(seed, epoch, sample index)
// therefore makes the same batches whatever the thread count and timing.
//
// Shards (data-parallel training, framework/distributed.h). With
// shard_count = N > 1, batch_size is the GLOBAL batch B, and the pipeline of
// shard r builds only part r of each global batch: the B/N samples
// order[b * B + r * B/N ...]. The N shards of batch b together are exactly
// batch b of one unsharded pipeline, sample for sample and, since each
// sample's randomness is its own, augmentation for augmentation. So N
// processes see the images one process would. It needs drop_last (every
// global batch full) and B divisible by N.
//
// Errors. An exception thrown by build() is caught, stored with the batch and
// rethrown by next() when the consumer reaches that batch, as a
// skinmtl::Error: a skinmtl::Error's message is kept as it is (the build
// function names the failing sample there), any other exception's message is
// prefixed with "loader: batch N: ". That epoch then ends; start_epoch() may
// begin another.
//
// Threads. One thread, the consumer, calls start_epoch() and next(); the
// workers are the pipeline's own, started by the constructor and joined by the
// destructor (each finishes at most the batch it is building). build() runs on
// several workers at once, so it must only read shared state. An owner whose
// build function uses the owner's members must declare the pipeline AFTER
// those members, so that it is destroyed (its threads joined) first.
//
// BatchT needs a default constructor, move assignment and `int size() const`
// (the number of samples, for the statistics).
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/check.h"
#include "framework/random.h"
#include "io/image.h"

namespace skinmtl {

struct LoaderOptions {
  int batch_size = 20;     // samples per batch (Liao & Luo: 20)
  int threads = 2;         // worker threads
  int prefetch = 0;        // batches built or ready at once; 0 means 2 * threads
  bool shuffle = true;     // a new order every epoch (else the samples' order)
  bool drop_last = false;  // drop a last batch smaller than batch_size
  uint64_t seed = 0;
  Normalize normalize;     // pixel * scale - mean, RGB (io/image.h); used by the build functions
  int shard_index = 0;     // this process's part of every batch (see "Shards" above)
  int shard_count = 1;     // parts per batch: the number of data-parallel processes

  // For evaluation and prediction: every sample once, in order, the last
  // batch as it comes.
  static LoaderOptions in_order(int batch_size, int threads, const Normalize& normalize) {
    LoaderOptions o;
    o.batch_size = batch_size;
    o.threads = threads;
    o.shuffle = false;
    o.normalize = normalize;
    return o;
  }
};

struct LoaderStats {
  int64_t batches = 0;        // delivered by next() since start_epoch()
  int64_t images = 0;         // samples in them (source images, not views)
  double seconds = 0;         // from start_epoch() to the latest batch next() returned
  double wait_seconds = 0;    // of which next() spent waiting for a batch
  double images_per_second() const { return seconds > 0 ? images / seconds : 0.0; }
};

// The seed of sample `index`'s Rng in `epoch` (a SplitMix64 hash of the three;
// io/loader.cpp).
uint64_t loader_sample_seed(uint64_t seed, int64_t epoch, uint64_t index);

template <class BatchT>
class BatchPipeline {
 public:
  using BuildFn = std::function<BatchT(const std::vector<size_t>& indices, int64_t epoch, int64_t number)>;

  // Checks the options (batch_size > 0, threads > 0, drop_last leaving a
  // batch), then starts the workers. num_samples > 0 (the owner checks it, to
  // name its data in the message).
  BatchPipeline(size_t num_samples, LoaderOptions options, BuildFn build)
      : num_samples_(num_samples), options_(options), build_(std::move(build)) {
    SKINMTL_CHECK(options_.batch_size > 0, "Loader: batch_size must be positive, got " << options_.batch_size);
    SKINMTL_CHECK(options_.threads > 0, "Loader: threads must be positive, got " << options_.threads);
    SKINMTL_CHECK(!options_.drop_last || (int64_t)num_samples_ >= options_.batch_size,
                  "Loader: drop_last with " << num_samples_ << " samples and batch size "
                                            << options_.batch_size << " leaves no batch");
    SKINMTL_CHECK(options_.shard_count > 0 && options_.shard_index >= 0 &&
                      options_.shard_index < options_.shard_count,
                  "Loader: shard " << options_.shard_index << " of " << options_.shard_count << " does not exist");
    SKINMTL_CHECK(options_.shard_count == 1 || (options_.drop_last && options_.batch_size % options_.shard_count == 0),
                  "Loader: a batch of " << options_.batch_size << " cannot be split into " << options_.shard_count
                                        << " equal parts (the batch must be a multiple of the number of processes)");
    if (options_.prefetch <= 0) options_.prefetch = 2 * options_.threads;
    epoch_start_ = last_delivery_ = std::chrono::steady_clock::now();
    for (int t = 0; t < options_.threads; ++t) workers_.emplace_back([this] { worker_loop(); });
  }

  ~BatchPipeline() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    work_cv_.notify_all();
    for (std::thread& t : workers_) t.join();
  }
  BatchPipeline(const BatchPipeline&) = delete;
  BatchPipeline& operator=(const BatchPipeline&) = delete;

  // Begins epoch `epoch` (any number: it seeds the shuffle). Batches of an
  // unfinished previous epoch are discarded.
  void start_epoch(int64_t epoch) {
    std::vector<size_t> order(num_samples_);
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    if (options_.shuffle) {
      // Fisher-Yates, seeded from (seed, epoch) alone (index ~0: no sample's own seed).
      Rng rng(loader_sample_seed(options_.seed, epoch, ~0ull));
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

  // The next batch of the current epoch; false when the epoch is over (or none
  // was started). Rethrows a worker's error (see above).
  bool next(BatchT& batch) {
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

  int64_t batches_per_epoch() const {
    const int64_t n = (int64_t)num_samples_, b = options_.batch_size;
    return options_.drop_last ? n / b : (n + b - 1) / b;
  }

  LoaderStats stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    LoaderStats s;
    s.batches = delivered_batches_;
    s.images = delivered_images_;
    s.seconds = std::chrono::duration<double>(last_delivery_ - epoch_start_).count();
    s.wait_seconds = wait_seconds_;
    return s;
  }

  // The options, with prefetch filled in.
  const LoaderOptions& options() const { return options_; }

 private:
  struct Slot {
    BatchT batch;
    std::string error;  // non-empty: building the batch failed
  };

  void worker_loop() {
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
      const size_t part = (size_t)(options_.batch_size / options_.shard_count);  // all of it when unsharded
      const size_t first = (size_t)number * options_.batch_size + (size_t)options_.shard_index * part;
      const size_t last = std::min(first + part, order_.size());
      const std::vector<size_t> indices(order_.begin() + first, order_.begin() + last);

      lock.unlock();
      Slot slot;
      try {
        slot.batch = build_(indices, epoch, number);
      } catch (const Error& e) {  // the build function's own message, naming the sample
        slot.error = e.what();
      } catch (const std::exception& e) {  // e.g. out of memory for the batch
        slot.error = "loader: batch " + std::to_string(number) + ": " + e.what();
      }
      lock.lock();

      if (generation == generation_) {  // else start_epoch() or an error ended that epoch
        ready_[number] = std::move(slot);
        ready_cv_.notify_all();
      }
    }
  }

  const size_t num_samples_;
  LoaderOptions options_;
  const BuildFn build_;
  std::vector<std::thread> workers_;

  // Everything below is guarded by mu_.
  mutable std::mutex mu_;
  std::condition_variable work_cv_;   // workers wait here for a batch to claim
  std::condition_variable ready_cv_;  // next() waits here for its batch
  bool stop_ = false;
  bool active_ = false;               // an epoch is running
  uint64_t generation_ = 0;           // bumped by start_epoch(): stale results are dropped
  int64_t epoch_ = 0;
  std::vector<size_t> order_;         // this epoch's sample order
  int64_t num_batches_ = 0;
  int64_t next_claim_ = 0;            // the next batch a worker will build
  int64_t next_deliver_ = 0;          // the next batch next() returns
  std::map<int64_t, Slot> ready_;     // built batches waiting for next()
  // statistics
  std::chrono::steady_clock::time_point epoch_start_, last_delivery_;
  int64_t delivered_batches_ = 0, delivered_images_ = 0;
  double wait_seconds_ = 0;
};

}  // namespace skinmtl
