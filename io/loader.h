// io/loader.h: a multi-threaded batch loader.
//
// Decoding a JPEG and augmenting it takes a few milliseconds of CPU time per
// image; a GPU step on a batch of 20 takes less than that per image. So images
// are prepared ahead, in parallel, while the network works on the batch before:
//
//     worker threads:   claim batch b -> decode + transform its samples ->
//                       normalise into a (B * views, 3, H, W) float tensor
//     consumer (next):  takes batch 0, 1, 2, ... in order
//
// At most `prefetch` batches are being built or waiting at any time (a bounded
// queue: a worker does not claim batch b before the consumer has taken batch
// b - prefetch), so memory stays bounded however slow the consumer is.
//
// Determinism. Each epoch's sample order is a shuffle seeded from (seed, epoch),
// and every sample's transform draws from its own Rng seeded from (seed, epoch,
// sample index). A batch's contents therefore do not depend on which thread
// built it, on the number of threads, or on timing: the same seed gives the
// same batches with 1 thread or 16.
//
// Errors. An exception in a worker (a missing or corrupt file, an image too
// small for the crop) is caught, stored with the batch, and rethrown by next()
// when the consumer reaches that batch, as a skinmtl::Error naming the sample,
// its manifest row and the file. That epoch then ends; start_epoch() may begin
// another.
//
// Threads. One thread, the consumer, calls start_epoch() and next(); the
// workers are the loader's own.
//
// Shutdown. The destructor stops the workers (each finishes at most the batch
// it is building) and joins them.
//
// Host memory: batches live in ordinary CPU tensors (framework/allocator.h has
// no page-locked allocator yet). Once it has one, Batch::images should come from
// it, so that the copy to the GPU can overlap with computation.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "framework/tensor.h"
#include "io/augment.h"
#include "io/image.h"
#include "io/manifest.h"

namespace skinmtl {

struct LoaderOptions {
  int batch_size = 20;     // samples per batch (Liao & Luo: 20)
  int threads = 2;         // worker threads
  int prefetch = 0;        // batches built or ready at once; 0 means 2 * threads
  bool shuffle = true;     // a new order every epoch (else manifest order)
  bool drop_last = false;  // drop a last batch smaller than batch_size
  uint64_t seed = 0;
  Normalize normalize;     // pixel * scale - mean, RGB (io/image.h)
};

struct Batch {
  Tensor images;     // (B * views, 3, H, W) float32 CPU; views of sample j at rows j*views ...
  Tensor lesions;    // (B, K) float32 CPU, multi-hot lesion targets
  Tensor locations;  // (B,) float32 CPU, location index or -1 when unknown
  std::vector<size_t> indices;  // the B samples' indices in the manifest
  int64_t epoch = 0;
  int64_t number = 0;  // batch number within the epoch: 0, 1, 2, ...
  int size() const { return (int)indices.size(); }
};

struct LoaderStats {
  int64_t batches = 0;        // delivered by next() since start_epoch()
  int64_t images = 0;         // samples in them (source images, not views)
  double seconds = 0;         // from start_epoch() to the latest batch next() returned
  double wait_seconds = 0;    // of which next() spent waiting for a batch
  double images_per_second() const { return seconds > 0 ? images / seconds : 0.0; }
};

class Loader {
 public:
  Loader(Manifest manifest, Transform transform, LoaderOptions options = {});
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Begins epoch `epoch` (any number: it seeds the shuffle and the transforms).
  // Batches of an unfinished previous epoch are discarded.
  void start_epoch(int64_t epoch);
  // The next batch of the current epoch; false when the epoch is over (or none
  // was started). Rethrows a worker's error (see above).
  bool next(Batch& batch);

  int64_t batches_per_epoch() const;
  LoaderStats stats() const;
  const Manifest& manifest() const { return manifest_; }
  const Transform& transform() const { return transform_; }
  const LoaderOptions& options() const { return options_; }

  // The seed of sample `index`'s Rng in `epoch` (a SplitMix64 hash of the three).
  static uint64_t sample_seed(uint64_t seed, int64_t epoch, uint64_t index);

 private:
  struct Slot {
    Batch batch;
    std::string error;  // non-empty: building the batch failed
  };

  void worker_loop();
  Slot build_batch(const std::vector<size_t>& indices, int64_t epoch, int64_t number) const;

  const Manifest manifest_;
  const Transform transform_;
  LoaderOptions options_;
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
