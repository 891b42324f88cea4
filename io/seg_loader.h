// io/seg_loader.h: a multi-threaded batch loader for images with lesion masks
// (the Song and Yang models), the twin of io/loader.h.
//
//     worker threads:   claim batch b -> for each sample: decode the image (RGB)
//                       and its mask (io/image.h load_mask) -> SegTransform (in
//                       place, the pair together) -> normalise the image,
//                       binarise the mask, take the mask's box
//     consumer (next):  takes batch 0, 1, 2, ... in order
//
// Scheduling, determinism, errors and shutdown are io/batch_pipeline.h's, as
// for io/loader.h: the epoch's order comes from (seed, epoch), each sample's
// transform draws from an Rng seeded with Loader::sample_seed(seed, epoch,
// sample index), so the same seed gives the same batches whatever the thread
// count. A sample that fails (a missing or corrupt file, a mask of another size
// than its image, a transform giving the wrong size) makes next() throw a
// skinmtl::Error naming the sample, its row and its files.
//
// The targets, per sample j of the batch, from the TRANSFORMED pair:
//   masks[j]   1 where the mask is >= 128 (lesion), else 0 (all 0 for a
//              sample without a mask file: ham10000, evaluation only);
//   boxes[j]   (x1, y1, x2, y2) = mask_box(mask): the lesion's tight box,
//              half-open, in the transformed image's pixels; (-1, -1, -1, -1)
//              when the mask has no lesion pixel (e.g. shifted out of view);
//   melanoma[j], seborrheic_keratosis[j]   the sample's 0/1 flags.
#pragma once

#include <cstdint>
#include <vector>

#include "framework/tensor.h"
#include "io/batch_pipeline.h"
#include "io/letterbox.h"
#include "io/seg_augment.h"
#include "io/seg_data.h"

namespace skinmtl {

struct SegBatch {
  Tensor images;                // (B, 3, H, W) float32 CPU, normalised (LoaderOptions::normalize)
  Tensor masks;                 // (B, 1, H, W) float32 CPU, 0/1
  Tensor boxes;                 // (B, 4) float32 CPU, x1 y1 x2 y2 of the mask; -1s when empty
  Tensor melanoma;              // (B) float32 CPU, 0/1
  Tensor seborrheic_keratosis;  // (B) float32 CPU, 0/1
  std::vector<size_t> indices;  // the B samples' indices in the sample list
  // One per sample when the transform letterboxes (SegTransform::letterbox >
  // 0): maps boxes and masks back to the source image; else empty.
  std::vector<Letterbox> letterbox;
  int64_t epoch = 0;
  int64_t number = 0;  // batch number within the epoch: 0, 1, 2, ...
  int size() const { return (int)indices.size(); }
};

class SegLoader {
 public:
  SegLoader(std::vector<SegSample> samples, SegTransform transform, LoaderOptions options = {});
  SegLoader(const SegLoader&) = delete;
  SegLoader& operator=(const SegLoader&) = delete;

  // Begins epoch `epoch` (it seeds the shuffle and the transforms); batches of
  // an unfinished previous epoch are discarded.
  void start_epoch(int64_t epoch) { pipeline_.start_epoch(epoch); }
  // The next batch of the current epoch; false when the epoch is over (or none
  // was started). Rethrows a worker's error.
  bool next(SegBatch& batch) { return pipeline_.next(batch); }

  int64_t batches_per_epoch() const { return pipeline_.batches_per_epoch(); }
  LoaderStats stats() const { return pipeline_.stats(); }
  const std::vector<SegSample>& samples() const { return samples_; }
  const SegTransform& transform() const { return transform_; }
  const LoaderOptions& options() const { return pipeline_.options(); }  // prefetch filled in

 private:
  SegBatch build_batch(const std::vector<size_t>& indices, int64_t epoch, int64_t number) const;

  const std::vector<SegSample> samples_;
  const SegTransform transform_;
  const Normalize normalize_;
  // Last: destroyed first, so its workers stop before the members their
  // build_batch() calls read.
  BatchPipeline<SegBatch> pipeline_;
};

// One sample as the loader prepares it, without threads (for tests, for
// drawing, for prediction one image at a time): the transformed image and
// mask (0/255), and the Letterbox when the transform letterboxes.
struct SegItem {
  Image image, mask;
  Letterbox letterbox;  // size 0 when the transform does not letterbox
};
SegItem load_seg_item(const SegSample& sample, const SegTransform& transform, Rng& rng);

}  // namespace skinmtl
