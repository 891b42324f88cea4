// io/synthetic.h: the project's own synthetic skin-lesion data set.
//
// A deterministic generator of dermoscopy-like RGB images of skin with one
// lesion, each with every label the project's models need:
//
//   - lesion types: multi-label, 8 types (Liao & Luo's classifier);
//   - body location: one of 8 sites (its auxiliary task);
//   - a binary lesion mask and its bounding box (segmentation, detection:
//     Yang et al. 2017, Song et al. 2019);
//   - a diagnosis, nevus / melanoma / seborrheic keratosis, with the ISIC 2017
//     flags melanoma and seborrheic_keratosis and benign / malignant.
//
// It is the embedded default on a fresh machine: `skinmtl synth --out DIR`
// writes a folder in the manifest format of io/manifest.h.
//
// Realism matters less than learnability and honesty. Every label is rendered
// into the pixels by the cues listed below, and by nothing else; a label is
// never decided by a cue another label does not also allow (the site's skin
// tone range overlaps the others', for instance, so the mean colour alone does
// not give the site away).
//
// ---- determinism -----------------------------------------------------------------------------
//
// Sample i of seed s is drawn from its own skinmtl::Rng, seeded with a hash of
// (s, i) (Loader::sample_seed), and rendered by sequential code; so a sample
// is the same, bit for bit, whatever the thread count, the order in which the
// samples are made, or how many others are made with it. (Across compilers or
// C++ standard libraries it may differ: std::uniform_real_distribution and
// std::normal_distribution are not specified bit for bit.) The labels are
// drawn before anything that depends on the size, so sample i has the same
// labels at every size (synth_labels gives them without rendering). Scales are relative
// to the image size, with floors in pixels so that small renders (64x64) keep
// every cue visible; a 64x64 render is therefore not exactly a shrunk 256x256
// one.
//
// ---- how a sample is drawn ---------------------------------------------------------------------
//
// 1. The site q, with probability synth_site_probability(q).
// 2. The lesion types: each type k is present with probability
//    synth_lesion_probability(k, q) independently; an empty draw is redrawn
//    (every manifest row needs at least one lesion label), so the frequency of
//    type k at site q is p_kq / (1 - prod_j (1 - p_jq)). The table makes some
//    types prefer some sites (scale on the scalp, vascular on the face, erosion
//    on legs and feet, pigment network on trunk and limbs, ...), the R_ij of
//    Liao & Luo's Figure 1, but no type is certain or impossible anywhere.
// 3. The diagnosis d, with probability synth_diagnosis_probability(d, q), and
//    then rendered features consistent with it (below). The lesion types are
//    drawn independently of the diagnosis.
//
// ---- what makes each label visible ----------------------------------------------------------------
//
// Units: u = size / 256; "r" is the lesion's mean radius, uniform in
// [0.17, 0.29] x size (shrunk if needed so the lesion stays 2 px inside the
// image); the centre is within 0.07 x size of the image centre.
//
// Lesion body (every sample): a radial shape r(theta) = r0 (1 + e cos 2(theta -
// phi) + B(theta)), e an ellipticity in [0, 0.22], B a sum of Fourier
// components k = 3..16 whose amplitude grows with the border irregularity
// (below); soft edge 1-2.5 px. It is filled with pigment: one base colour,
// 0-3 further colour zones (smaller radial blobs, off-centre), a fine fBm
// mottling of +-10 %.
//
// Lesion types (names sorted, which is also their index order):
//   0 crust           honey-yellow to orange-brown blotches (thresholded fBm,
//                     20-35 % of the lesion) with a dark brown rim and grain.
//   1 erosion         a glossy red-pink patch (a sub-blob of 0.3-0.5 r, sharp
//                     edge) with 2-4 small white specular highlights.
//   2 erythema        a diffuse pink-red halo around the lesion, 0.35-0.8 r
//                     wide, blotchy; outside the mask (the mask holds the lesion
//                     only, as in ISIC's masks).
//   3 globules        8-20 round dark brown to black dots, radius
//                     max(2.8u, 1.6 px) to max(4.2u, 2.2 px), inside the lesion.
//   4 nodule          a raised dome: shading from a random light direction
//                     (lit side brighter, far side darker), a white specular
//                     highlight, a soft cast shadow on the skin beside it.
//                     Without it the lesion is flat (no shading).
//   5 pigment_network a dark brown honeycomb of lines (the edges of a jittered
//                     Voronoi tessellation, mesh max(9u, 4 px)), fading at the
//                     periphery.
//   6 scale           silvery-white flakes (thresholded fBm, 25-40 % of the
//                     lesion) with brighter edges.
//   7 vascular        red vessels: dotted (12-30 red dots) and/or linear
//                     branching (2-5 thin red curves), inside the lesion.
//
// Sites (names sorted, which is also their index order); the skin tone is
// drawn from one shared range (fair to medium), each site shifting it a little:
//   0 arm    25-45 fine mid-brown hairs, medium length (0.12-0.30 size), all
//            flowing in one direction (+-0.2 rad); faint cross-hatched skin lines.
//   1 face   dense follicle openings (pores: small dark dots on a jittered grid,
//            spacing max(7u, 3 px)); sometimes an oily sheen; a little redder.
//   2 foot   the sole's parallel ridge pattern: straight, high-contrast furrows,
//            period max(10u, 5 px); yellowish callus tint; no hair.
//   3 hand   the palm: fine dermatoglyphic ridges, arcs around a centre 0.5-1.2
//            sizes away (period max(5u, 3 px)),
//            and 2-3 long dark flexion creases; pinker and lighter; no hair.
//   4 leg    10-22 short coarse dark hairs (0.05-0.13 size, stubble-like), one
//            direction; dry skin: a polygonal crack network of whitish lines.
//   5 nail   a nail plate: a large pink translucent band with straight lateral
//            edges, longitudinal striations, a curved cuticle with a whitish
//            lunula; darker periungual skin outside it. The lesion lies on it.
//   6 scalp  50-100 long (0.3-0.8 size) thick dark hairs, mostly parallel,
//            with follicle dots at their roots.
//   7 trunk  smooth, hairless skin with 4-16 small light-brown freckles; in about
//            half of the images (when the lesion leaves room) a clothing edge (a
//            woven fabric band of a random colour) along one side.
//
// Diagnosis (what the ISIC 2017 flags mean here), from two rendered features:
//   border irregularity b in [0, 1]: the border's Fourier components k >= 3
//     have amplitudes proportional to b^1.5 (the radius swings by about +-35 %
//     at b = 1, +-18 % at b = 0.6, +-6 % at b = 0.3);
//   colours c, the number of distinct pigment colours in the lesion, from
//     {light brown, dark brown, black, blue-grey (veil)}: the base and zones.
// and one more, milia-like cysts: 4-10 milky white round dots of radius
// max(3.5u, 1.5 px) inside the lesion.
//   melanoma              <=>  b >= 0.5 and c >= 3   (malignant)
//   seborrheic_keratosis  <=>  milia-like cysts present  (benign)
//   nevus                 otherwise                       (benign)
// The generator draws d first and then features that satisfy these rules with
// a margin: b is never in (0.3, 0.6). Nevi and keratoses include hard cases
// (a regular border with 3 colours; an irregular border with <= 2 colours), so
// neither feature alone decides melanoma. benign / malignant = !melanoma /
// melanoma, as in the ISBI 2016 task of Song et al.
//
// Everything else is nuisance, independent of all labels: skin tone, lighting
// (gain, tint, a gradient), a dermoscope's dark circular vignette (35 % of
// images), the lesion's size, position, ellipticity and orientation, per-pixel
// noise (sigma 1.5 %), and (when written to a folder) JPEG at quality 95.
// Hair is drawn over the lesion (it occludes it, as in real images); the mask
// is the lesion's pixels under any hair.
//
// ---- the mask and the box -----------------------------------------------------------------------
//
// mask: 1 channel, 255 where the lesion body's soft coverage is >= 0.5, else 0.
// box:  the mask's bounding box, half-open: columns [x0, x1), rows [y0, y1),
//       so x1 = the rightmost mask column + 1 (the usual detection convention).
//
// ---- where the code is ------------------------------------------------------------------------
//
// One concern a file, each to be read on its own:
//
//   io/synthetic.h                     this file: the interface, and what makes each label visible
//   io/synthetic/labels.{h,cpp}        which labels a sample gets: the probability tables, the
//                                      draw of the labels and of the diagnosis features
//   io/synthetic/random_draws.h        the kinds of random draw (uniform, coin, categorical)
//   io/synthetic/drawing_kit.{h,cpp}   the drawing tools: a float RGB canvas, value noise / fBm,
//                                      radial shapes, strokes, Voronoi edges
//   io/synthetic/renderer.h            the Renderer of one image and mask
//   io/synthetic/renderer.cpp          the order it paints in, the lesion's place, the optics,
//                                      the 8-bit image, mask and box; synth_sample()
//   io/synthetic/renderer_skin.cpp     the skin, each site's cue, hair
//   io/synthetic/renderer_lesion.cpp   the lesion: body, colour zones, each lesion type's cue,
//                                      milia; erythema and a nodule's shadow around it
//   io/synthetic/dataset_writer.cpp    the folder: images, masks, manifest CSVs, README; splits
//   io/synthetic/contact_sheet.cpp     the contact sheet
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/image.h"

namespace skinmtl {

constexpr int kSynthLesionTypes = 8;
constexpr int kSynthSites = 8;
constexpr int kSynthDiagnoses = 3;
// Sorted by name (byte order): the default class order of io/manifest.h, so a
// manifest read back has the generator's indices.
extern const char* const kSynthLesionNames[kSynthLesionTypes];
extern const char* const kSynthSiteNames[kSynthSites];
// "nevus", "melanoma", "seborrheic_keratosis" (ISIC 2017's diagnosis3 names).
extern const char* const kSynthDiagnosisNames[kSynthDiagnoses];
enum SynthDiagnosis { kSynthNevus = 0, kSynthMelanoma = 1, kSynthSeborrheicKeratosis = 2 };

struct SynthOptions {
  int size = 256;  // image side in pixels, at least 32
};

struct SynthBox {
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;  // half-open: columns [x0, x1), rows [y0, y1)
};

struct SynthSample {
  Image image;                // size x size x 3, RGB
  Image mask;                 // size x size x 1, 0 or 255
  SynthBox box;               // the mask's bounding box
  std::vector<int> lesions;   // lesion type indices, sorted, at least one
  int location = 0;           // site index
  int diagnosis = kSynthNevus;
  // The rendered features the diagnosis follows from (see the header).
  double border_irregularity = 0;  // b in [0, 1]
  int colours = 1;                 // c in [1, 4]
  bool milia = false;              // milia-like cysts drawn

  bool melanoma() const { return diagnosis == kSynthMelanoma; }
  bool seborrheic_keratosis() const { return diagnosis == kSynthSeborrheicKeratosis; }
  bool malignant() const { return melanoma(); }
};

// Sample `index` of data set `seed` (deterministic; see the header).
SynthSample synth_sample(uint64_t seed, int64_t index, const SynthOptions& options = {});

// The labels and diagnosis features of sample `index` without rendering it
// (image and mask empty, box zero): the same as synth_sample() gives at every
// size (labels are drawn before anything size-dependent), and much faster, for
// statistics over large sets.
SynthSample synth_labels(uint64_t seed, int64_t index);

// Samples first .. first + count - 1, made in parallel on `threads` OpenMP
// threads (0: OpenMP's default); identical for every thread count.
std::vector<SynthSample> synth_samples(uint64_t seed, int64_t first, int64_t count,
                                       const SynthOptions& options = {}, int threads = 0);

// The generator's tables (see the header), for tests and documentation.
double synth_site_probability(int site);
double synth_lesion_probability(int type, int site);  // before redrawing empty sets
double synth_diagnosis_probability(int diagnosis, int site);

// ---- a data set folder --------------------------------------------------------------------------
//
// write_synth_dataset(dir, options) writes
//
//   DIR/images/000000.jpg ...   the images (JPEG, quality options.jpeg_quality)
//   DIR/masks/000000.png ...    the masks (PNG, 0/255, one channel)
//   DIR/manifest.csv            every sample, with a split column
//   DIR/train.csv, val.csv, test.csv   the same rows, one split each
//   DIR/contact_sheet.png       the first 16 samples with their labels drawn
//   DIR/README.txt              the generator's settings and class lists
//
// The CSV files are io/manifest.h manifests (read_manifest reads them; it
// ignores the extra columns). Their columns:
//
//   image,mask,lesions,location,id,split,diagnosis,melanoma,
//   seborrheic_keratosis,malignant,box_x0,box_y0,box_x1,box_y1,
//   border_irregularity,colours
//
// lesions is ';'-separated; melanoma, seborrheic_keratosis, malignant are 0/1;
// the box is half-open (see above). Split: sample i is "val" when i % 10 == 8,
// "test" when i % 10 == 9, else "train" (80/10/10), so a sample keeps its split
// when n grows. A manifest of one split may lack a rare class: read it with
// the class lists of kSynthLesionNames / kSynthSiteNames (ManifestOptions).

struct SynthWriteOptions {
  int64_t n = 2000;          // samples
  SynthOptions synth;        // image size
  uint64_t seed = 1;
  int threads = 0;           // 0: OpenMP's default
  int jpeg_quality = 95;
  int contact_sheet = 16;    // samples on the contact sheet (0: none)
  bool progress = true;      // a progress bar on stderr
};

struct SynthWriteResult {
  std::string manifest;      // DIR/manifest.csv
  int64_t train = 0, val = 0, test = 0;
  double seconds = 0;
};

SynthWriteResult write_synth_dataset(const std::string& dir, const SynthWriteOptions& options);

// The embedded default: when `manifest` (a path ending in manifest.csv) does
// not exist, writes a data set into its folder with `options` (by default
// those of `skinmtl synth`: 2000 images, 256 px, seed 1), saying so on stderr;
// when it exists, does nothing. Every `--data synthetic[:FILE]` reader calls
// this first, so a fresh machine needs no download.
void ensure_synth_dataset(const std::string& manifest, const SynthWriteOptions& options = {});

// "train", "val" or "test" for sample `index` (rule above).
const char* synth_split(int64_t index);

// A contact sheet: the samples in a grid of `columns`, each image scaled to
// tile x tile, with its mask contour (green), box (yellow), and below it its
// site, diagnosis and lesion types as text.
Image synth_contact_sheet(const std::vector<SynthSample>& samples, int columns = 4,
                          int tile = 256);

}  // namespace skinmtl
