// io/synthetic/labels.h: the label model of the synthetic data set, which
// labels a sample gets and how they are drawn (io/synthetic.h, "how a sample
// is drawn" and "Diagnosis"):
//
//   1. the body site, from its table;
//   2. the lesion types, each from its table given the site;
//   3. the diagnosis (nevus, melanoma, seborrheic keratosis) given the site,
//      then the features it is rendered with: a border irregularity, the
//      pigment colours, and milia-like cysts.
//
// These are the first draws from a sample's Rng, before anything that depends
// on the image size; so sample i has the same labels at every size, and
// synth_labels() gets them without rendering. The renderer
// (io/synthetic/renderer.h) then paints what was drawn here.
#pragma once

#include <cstdint>
#include <vector>

#include "framework/random.h"
#include "io/synthetic.h"

namespace skinmtl {
namespace synthetic {

// The index order of kSynthLesionNames and kSynthSiteNames (names sorted).
enum LesionType {
  kCrust, kErosion, kErythema, kGlobules, kNodule, kPigmentNetwork, kScale, kVascular
};
enum Site { kArm, kFace, kFoot, kHand, kLeg, kNail, kScalp, kTrunk };
// The pigment colours of a lesion, whose number of distinct ones is the
// header's "colours c". Their RGB values: kPigment in renderer_lesion.cpp.
enum Pigment { kLightBrown, kDarkBrown, kBlack, kBlueGrey };

// The labels of one sample and the rendered features its diagnosis follows from.
struct SampleLabels {
  int site = 0;
  unsigned types = 0;  // bit k: lesion type k present
  int diagnosis = kSynthNevus;
  double irregularity = 0;    // border irregularity b in [0, 1]
  std::vector<int> pigments;  // distinct Pigment values; the first is the lesion's base colour
  bool milia = false;         // milia-like cysts drawn

  bool has(int type) const { return (types >> type) & 1u; }
};

// The Rng that sample `index` of data set `seed` is drawn from: its own,
// seeded with a hash of (seed, index) (Loader::sample_seed).
Rng sample_rng(uint64_t seed, int64_t index);

// The labels and diagnosis features, drawn from `rng` (a sample's first draws).
SampleLabels draw_sample_labels(Rng& rng);

// Sets the label fields of `sample` (location, lesions, diagnosis and its
// features) from `labels`; the image, mask and box are left as they are.
void fill_labels(const SampleLabels& labels, SynthSample& sample);

}  // namespace synthetic
}  // namespace skinmtl
