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
// The scheduling (prefetch window, deterministic order, errors, shutdown) is
// io/batch_pipeline.h's, shared with io/seg_loader.h; this file says what a
// batch holds and how one is built.
//
// Determinism. Every sample's transform draws from its own Rng seeded from
// (seed, epoch, sample index), and the epoch's order depends on (seed, epoch)
// alone. A batch's contents therefore do not depend on which thread built it,
// on the number of threads, or on timing: the same seed gives the same batches
// with 1 thread or 16.
//
// Errors. An exception while building a sample (a missing or corrupt file, an
// image too small for the crop) is rethrown by next() when the consumer
// reaches that batch, as a skinmtl::Error naming the sample, its manifest row
// and the file. That epoch then ends; start_epoch() may begin another.
//
// Threads. One thread, the consumer, calls start_epoch() and next(); the
// workers are the loader's own. The destructor stops them (each finishes at
// most the batch it is building) and joins them.
//
// Host memory: batches live in ordinary CPU tensors (framework/allocator.h has
// no page-locked allocator yet). Once it has one, Batch::images should come from
// it, so that the copy to the GPU can overlap with computation.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/tensor.h"
#include "io/augment.h"
#include "io/batch_pipeline.h"
#include "io/image.h"
#include "io/manifest.h"

namespace skinmtl {

// LoaderOptions and LoaderStats: io/batch_pipeline.h.

struct Batch {
  Tensor images;     // (B * views, 3, H, W) float32 CPU; views of sample j at rows j*views ...
  Tensor lesions;    // (B, K) float32 CPU, multi-hot lesion targets
  Tensor locations;  // (B,) float32 CPU, location index or -1 when unknown
  std::vector<size_t> indices;  // the B samples' indices in the manifest
  int64_t epoch = 0;
  int64_t number = 0;  // batch number within the epoch: 0, 1, 2, ...
  int size() const { return (int)indices.size(); }
};

class Loader {
 public:
  Loader(Manifest manifest, Transform transform, LoaderOptions options = {});
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Begins epoch `epoch` (any number: it seeds the shuffle and the transforms).
  // Batches of an unfinished previous epoch are discarded.
  void start_epoch(int64_t epoch) { pipeline_.start_epoch(epoch); }
  // The next batch of the current epoch; false when the epoch is over (or none
  // was started). Rethrows a worker's error (see above).
  bool next(Batch& batch) { return pipeline_.next(batch); }

  int64_t batches_per_epoch() const { return pipeline_.batches_per_epoch(); }
  LoaderStats stats() const { return pipeline_.stats(); }
  const Manifest& manifest() const { return manifest_; }
  const Transform& transform() const { return transform_; }
  const LoaderOptions& options() const { return pipeline_.options(); }  // prefetch filled in

  // The seed of sample `index`'s Rng in `epoch` (a SplitMix64 hash of the
  // three): loader_sample_seed of io/batch_pipeline.h.
  static uint64_t sample_seed(uint64_t seed, int64_t epoch, uint64_t index) {
    return loader_sample_seed(seed, epoch, index);
  }

 private:
  Batch build_batch(const std::vector<size_t>& indices, int64_t epoch, int64_t number) const;

  const Manifest manifest_;
  const Transform transform_;
  const Normalize normalize_;
  // Last: destroyed first, so its workers stop before the members their
  // build_batch() calls read.
  BatchPipeline<Batch> pipeline_;
};

}  // namespace skinmtl
