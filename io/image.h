// io/image.h: images on the host, from file to network input.
//
// An Image is the decoded picture exactly as a file stores it: 8-bit samples,
// interleaved, row-major, "HWC":
//
//     pixel (y, x), channel c  is  data[(y * width + x) * channels + c]
//
// with 1 channel (grey) or 3 (R, G, B, in that order). This is the layout of
// stb_image, PIL and OpenCV (which keeps BGR; we keep RGB), so load and save are
// plain copies and an image costs one byte per sample. Geometric operations
// (resize, crop, flip) work on Images; only the very last step, to_tensor(),
// turns pixels into the float32 (N, 3, H, W) batch a network reads, subtracting
// the mean there.
//
// Resizing is PIL's bilinear resampling, Image.resize(size, Image.BILINEAR),
// which is what torchvision's Resize does to a PIL image. It is separable: each
// axis is resized on its own. On an axis of S source pixels resized to D,
// scale = S / D; source pixel i covers [i, i + 1) with its centre at i + 0.5,
// and output pixel d, centred at c = (d + 0.5) * scale, is a weighted mean of
// the source pixels:
//
//     out(d) = sum_i w_i src(i) / sum_i w_i,    w_i = tri((i + 0.5 - c) / f),
//     tri(t) = max(0, 1 - |t|),                 f = max(scale, 1),
//
// the sum running over the pixels inside the image (renormalising at a border
// is the same as repeating the edge pixel). When enlarging (f = 1) this is
// ordinary bilinear interpolation between the two pixel centres nearest to c.
// When shrinking, the triangle is stretched by the shrink factor to span
// 2 * scale source pixels, so every source pixel contributes (antialiasing):
// plain bilinear reads only the two pixels nearest c and skips the rest, which
// turns fine texture into patterns that are not in the picture.
//
// As in PIL, the horizontal pass runs first and its result is rounded to 8 bits,
// then the vertical pass; the weights are fixed-point numbers with 22 fractional
// bits and each sum is rounded half up. resize() therefore gives PIL's pixels
// exactly (tests/io/test_pil_reference.cpp compares photographs with python3-pil).
//
// Every failure throws skinmtl::Error naming the file or the sizes involved.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/tensor.h"

namespace skinmtl {

struct Image {
  int height = 0;
  int width = 0;
  int channels = 0;           // 1 (grey) or 3 (RGB)
  std::vector<uint8_t> data;  // height * width * channels samples, HWC

  Image() = default;
  // A zero-filled image. channels must be 1 or 3; sizes must be positive.
  Image(int height, int width, int channels);

  bool empty() const { return data.empty(); }
  uint8_t& at(int y, int x, int c) { return data[((size_t)y * width + x) * channels + c]; }
  uint8_t at(int y, int x, int c) const { return data[((size_t)y * width + x) * channels + c]; }
  std::string str() const;  // "224x224x3" (height x width x channels)
};

// ---- files -----------------------------------------------------------------

// Decodes a JPEG or PNG (anything stb_image reads). channels: 3 gives RGB (grey
// is replicated, alpha dropped), 1 gives grey (luma), 0 keeps the file's own
// colour type (1 for grey or grey+alpha, 3 for colour, alpha dropped).
// Errors name the file and say why: it cannot be opened (with the system's
// reason), it is empty, or stb_image cannot decode it (its reason; a truncated
// file reads "expected marker" for JPEG or "outofdata" for PNG).
//
// Limits, checked before anything large is allocated: only regular files (not
// a pipe or a device), at most 1 GiB, and at most max_image_pixels() pixels as
// the file's header states them (100 megapixels by default, far above any
// dermoscopy image; the environment variable SKINMTL_MAX_PIXELS changes it).
Image load_image(const std::string& path, int channels = 3);
inline constexpr int64_t kDefaultMaxImagePixels = 100'000'000;
int64_t max_image_pixels();

// What a quick look at an image file finds wrong, or "" when nothing: it is a
// regular file of at most 1 GiB, its header reads (JPEG, PNG, BMP, GIF, TGA,
// PSD, PNM) within max_image_pixels(), and a JPEG ends with its end-of-image
// marker, a PNG with its IEND chunk (a truncated download or copy fails
// here). Reads the header and the last bytes only: thousands of files a
// second, so training can check every file before its first step.
std::string image_file_problem(const std::string& path);

// The same from bytes in memory; `name` is used in error messages.
Image decode_image(const uint8_t* bytes, size_t size, const std::string& name, int channels = 3);

// Reads a segmentation mask as one grey channel in which lesion pixels are the
// values >= 128 (the threshold every reader of masks here applies). A grey file
// (8-bit, or 1-bit, which stb_image widens to 0/255; PNG, BMP, ...) is read as
// stored. A colour file (24-bit, or a palette, as a 1-bit BMP is) becomes the
// largest of its R, G and B values, so a pixel is lesion when ANY channel is
// >= 128: a white, red or green mask on black reads alike (the luma of pure
// red, 76, would miss it). Alpha is dropped. Errors as load_image's. Predicted
// probability maps (thresholded at a user's value) are read with this.
Image load_mask(const std::string& path);

// A ground-truth mask: load_mask, then a 0/1 mask (values 0 and 1 only, a
// common export) is scaled to 0/255, and a mask whose largest value is 2..127,
// which no pixel of would pass the 128 threshold (a label map, a dim export),
// is an error naming the file, never an empty mask. Training, evaluation and
// check-data read truth with this.
Image load_truth_mask(const std::string& path);

// Writes a PNG (lossless). Throws naming the file when it cannot be written.
void save_png(const std::string& path, const Image& image);
// Writes a baseline JPEG (stb_image_write: 4:2:0 chroma subsampling up to
// quality 90, none above), quality in [1, 100]. Lossy: reading it back
// gives pixels close to, not equal to, the image. Deterministic: the same image
// and quality give the same bytes.
void save_jpeg(const std::string& path, const Image& image, int quality = 95);

// ---- geometry --------------------------------------------------------------

// Resizes to out_height x out_width (see the header comment for the rule).
Image resize(const Image& image, int out_height, int out_width);

// resize(image, full_height, full_width) followed by crop(y, x, h, w), without
// computing the pixels the crop throws away. Bit-identical to the two steps; the
// training transform uses it because it crops 224x224 out of up to 480x480.
Image resize_crop(const Image& image, int full_height, int full_width, int y, int x, int h, int w);

// The size resize_shorter_side() produces: the shorter side becomes `shorter`,
// the longer one keeps the aspect ratio, truncated to an integer as torchvision's
// Resize(int) does: long * shorter / short, rounded down.
void shorter_side_size(int height, int width, int shorter, int* out_height, int* out_width);
Image resize_shorter_side(const Image& image, int shorter);

// The h x w window whose top-left pixel is (y, x); it must lie inside the image.
Image crop(const Image& image, int y, int x, int h, int w);
// The h x w window at the centre: top = (height - h) / 2, left = (width - w) / 2,
// rounded down (Caffe's and PIL's rule; torchvision rounds half to even).
Image center_crop(const Image& image, int h, int w);
// Mirror left-right: pixel (y, x) moves to (y, width - 1 - x).
Image hflip(const Image& image);

// ---- to the network --------------------------------------------------------

// Per-channel normalisation, in RGB order: value = pixel * scale - mean[c].
// The ResNet-50 import uses scale 1 and the ImageNet means of Caffe/Keras,
// {123.68, 116.779, 103.939} (R, G, B), i.e. 0-255 RGB minus the mean.
// value = (pixel * scale - mean[c]) / std[c], channels in RGB order. The
// default is the Caffe/Keras ResNet-50 convention (0-255 minus the ImageNet
// mean, std 1); torchvision's is mean (123.675, 116.28, 103.53), std (58.395,
// 57.12, 57.375) on the same 0-255 pixels.
struct Normalize {
  float mean[3] = {123.68f, 116.779f, 103.939f};
  float scale = 1.0f;
  float std[3] = {1.0f, 1.0f, 1.0f};
};

// Writes one image as planar (3, H, W) float32 at `out` (3 * H * W floats).
// A grey image is replicated into the three channels.
void image_to_chw(const Image& image, const Normalize& norm, float* out);

// Stacks images of one size into a float32 CPU tensor (N, 3, H, W), each value
// pixel * norm.scale - norm.mean[c], channels in RGB order.
Tensor to_tensor(const std::vector<Image>& images, const Normalize& norm = {});
Tensor to_tensor(const std::vector<Image>& images, const float mean[3], float scale);

}  // namespace skinmtl
