// The label model of the synthetic data set: see io/synthetic/labels.h, and
// io/synthetic.h for what each label means in the pixels.
#include "io/synthetic/labels.h"

#include <algorithm>

#include "io/loader.h"
#include "io/synthetic/random_draws.h"

namespace skinmtl {

const char* const kSynthLesionNames[kSynthLesionTypes] = {
    "crust", "erosion", "erythema", "globules", "nodule", "pigment_network", "scale", "vascular"};
const char* const kSynthSiteNames[kSynthSites] = {"arm",  "face", "foot",  "hand",
                                                  "leg",  "nail", "scalp", "trunk"};
const char* const kSynthDiagnosisNames[kSynthDiagnoses] = {"nevus", "melanoma",
                                                           "seborrheic_keratosis"};

namespace synthetic {
namespace {

// ---- tables --------------------------------------------------------------------------------------

// p(site). Sums to 1.
const double kSiteProb[kSynthSites] = {
    /*arm*/ 0.14, /*face*/ 0.14, /*foot*/ 0.09, /*hand*/ 0.09,
    /*leg*/ 0.15, /*nail*/ 0.09, /*scalp*/ 0.10, /*trunk*/ 0.20};

// p(type present | site), before redrawing empty sets.
const double kTypeProb[kSynthLesionTypes][kSynthSites] = {
    //  arm   face  foot  hand  leg   nail  scalp trunk
    {0.20, 0.45, 0.20, 0.15, 0.25, 0.10, 0.45, 0.15},  // crust
    {0.15, 0.20, 0.45, 0.25, 0.40, 0.20, 0.15, 0.10},  // erosion
    {0.25, 0.50, 0.30, 0.20, 0.45, 0.25, 0.30, 0.20},  // erythema
    {0.40, 0.20, 0.25, 0.25, 0.35, 0.15, 0.20, 0.45},  // globules
    {0.25, 0.45, 0.15, 0.15, 0.20, 0.10, 0.20, 0.35},  // nodule
    {0.50, 0.20, 0.10, 0.10, 0.45, 0.10, 0.25, 0.55},  // pigment_network
    {0.25, 0.40, 0.40, 0.35, 0.40, 0.15, 0.65, 0.20},  // scale
    {0.20, 0.60, 0.10, 0.10, 0.20, 0.15, 0.20, 0.30},  // vascular
};

// p(melanoma | site) and p(seborrheic keratosis | site); nevus is the rest.
const double kMelanomaProb[kSynthSites] = {0.20, 0.15, 0.25, 0.20, 0.25, 0.25, 0.15, 0.22};
const double kKeratosisProb[kSynthSites] = {0.20, 0.30, 0.08, 0.10, 0.15, 0.06, 0.25, 0.28};

void draw_labels(Rng& rng, SampleLabels& labels) {
  labels.site = categorical(rng, kSiteProb, kSynthSites);
  // Each type independently; an empty set is drawn again (see the header).
  while (labels.types == 0)
    for (int k = 0; k < kSynthLesionTypes; ++k)
      if (coin(rng, kTypeProb[k][labels.site])) labels.types |= 1u << k;
  const int q = labels.site;
  const double p[3] = {1 - kMelanomaProb[q] - kKeratosisProb[q], kMelanomaProb[q],
                       kKeratosisProb[q]};
  labels.diagnosis = categorical(rng, p, 3);
}

// Border irregularity, pigment colours and milia, consistent with the
// diagnosis by the rules of the header (with a margin around b = 0.5).
void draw_features(Rng& rng, SampleLabels& labels) {
  auto regular = [&] { return uni(rng, 0.0, 0.3); };
  auto irregular = [&] { return uni(rng, 0.6, 1.0); };
  int ncol;
  if (labels.diagnosis == kSynthMelanoma) {
    labels.irregularity = irregular();
    ncol = coin(rng, 0.6) ? 3 : 4;
  } else {
    // Benign: a typical lesion, or a hard case with only one of the two
    // melanoma features (3+ colours with a regular border, or an irregular
    // border with at most 2 colours).
    const double typical = labels.diagnosis == kSynthNevus ? 0.6 : 0.7;
    const double m = rng.uniform();
    if (m < typical) {
      labels.irregularity = regular();
      ncol = int_in(rng, 1, 2);
    } else if (m < typical + (1 - typical) / 2) {
      labels.irregularity = regular();
      ncol = 3;
    } else {
      labels.irregularity = irregular();
      ncol = int_in(rng, 1, 2);
    }
  }
  labels.milia = labels.diagnosis == kSynthSeborrheicKeratosis;
  // Which colours: 1 or 2 are mostly browns (any colour sometimes); 3 are all
  // four but one; 4 are all. The first is the lesion's base colour.
  labels.pigments.clear();
  if (ncol == 1) {
    labels.pigments.push_back(coin(rng, 0.8) ? int_in(rng, kLightBrown, kDarkBrown)
                                             : int_in(rng, kLightBrown, kBlueGrey));
  } else if (ncol == 2) {
    if (coin(rng, 0.7)) {
      labels.pigments = {kLightBrown, kDarkBrown};
    } else {
      const int a = int_in(rng, 0, 3);
      labels.pigments = {a, (a + int_in(rng, 1, 3)) % 4};
    }
  } else {
    const int drop = ncol == 4 ? -1 : int_in(rng, 0, 3);
    for (int c = 0; c < 4; ++c)
      if (c != drop) labels.pigments.push_back(c);
  }
  std::shuffle(labels.pigments.begin(), labels.pigments.end(), rng.engine());
  // Melanomas and other lesions with dark zones: the base is never black or
  // blue-grey when browns are present, so the zones read as zones.
  std::vector<int>& pig = labels.pigments;
  for (size_t i = 1; i < pig.size(); ++i)
    if (pig[0] >= kBlack && pig[i] < kBlack) std::swap(pig[0], pig[i]);
}

}  // namespace

Rng sample_rng(uint64_t seed, int64_t index) {
  return Rng(Loader::sample_seed(seed, 0, (uint64_t)index));
}

// The labels first, then the features (the order of the draws is part of the
// data set: changing it changes every sample).
SampleLabels draw_sample_labels(Rng& rng) {
  SampleLabels labels;
  draw_labels(rng, labels);
  draw_features(rng, labels);
  return labels;
}

void fill_labels(const SampleLabels& labels, SynthSample& s) {
  s.location = labels.site;
  for (int k = 0; k < kSynthLesionTypes; ++k)
    if (labels.has(k)) s.lesions.push_back(k);
  s.diagnosis = labels.diagnosis;
  s.border_irregularity = labels.irregularity;
  s.colours = (int)labels.pigments.size();
  s.milia = labels.milia;
}

}  // namespace synthetic

// ---- public entry points ---------------------------------------------------------------------------

using synthetic::kKeratosisProb;
using synthetic::kMelanomaProb;
using synthetic::kSiteProb;
using synthetic::kTypeProb;

double synth_site_probability(int site) {
  SKINMTL_CHECK(site >= 0 && site < kSynthSites, "synth: site " << site << " out of range");
  return kSiteProb[site];
}

double synth_lesion_probability(int type, int site) {
  SKINMTL_CHECK(type >= 0 && type < kSynthLesionTypes && site >= 0 && site < kSynthSites,
                "synth: lesion type " << type << " / site " << site << " out of range");
  return kTypeProb[type][site];
}

double synth_diagnosis_probability(int diagnosis, int site) {
  SKINMTL_CHECK(diagnosis >= 0 && diagnosis < kSynthDiagnoses && site >= 0 && site < kSynthSites,
                "synth: diagnosis " << diagnosis << " / site " << site << " out of range");
  if (diagnosis == kSynthMelanoma) return kMelanomaProb[site];
  if (diagnosis == kSynthSeborrheicKeratosis) return kKeratosisProb[site];
  return 1 - kMelanomaProb[site] - kKeratosisProb[site];
}

// The same draws as synth_sample() makes first, without rendering.
SynthSample synth_labels(uint64_t seed, int64_t index) {
  SKINMTL_CHECK(index >= 0, "synth: sample index must be >= 0, got " << index);
  Rng rng = synthetic::sample_rng(seed, index);
  SynthSample s;
  synthetic::fill_labels(synthetic::draw_sample_labels(rng), s);
  return s;
}

}  // namespace skinmtl
