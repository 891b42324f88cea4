// tests/io_test_util.h: what the image, manifest, loader and CLI tests share:
// synthetic images, BMP files written by hand, and where the real data sets are
// (the temporary folder and the file helpers are tests/temp_dir.h's).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "framework/random.h"
#include "io/image.h"
#include "io/safetensors.h"
#include "tests/temp_dir.h"

namespace skinmtl::test {

// Copies the model file `from` to `to` with one value inside its JSON
// metadata entry `entry` ("segcls_config") replaced: `pointer` is a JSON
// pointer into it ("/input_std/0"). For the tests of hostile model files.
inline void write_model_with_edit(const std::string& from, const std::string& to, const std::string& entry,
                                  const std::string& pointer, const nlohmann::json& value) {
  TensorFile f = load_safetensors(from);
  nlohmann::json j = nlohmann::json::parse(f.meta(entry));
  j[nlohmann::json::json_pointer(pointer)] = value;
  f.metadata[entry] = j.dump();
  save_safetensors(to, f);
}

// An image of uniform random pixels.
inline Image random_image(int h, int w, int c, Rng& rng) {
  Image img(h, w, c);
  for (uint8_t& v : img.data) v = (uint8_t)rng.randint(0, 256);
  return img;
}

// A BMP file (BITMAPINFOHEADER, bottom-up rows padded to 4 bytes) of `pixels`
// (grey values 0-255, HxW): 1 bit per pixel with the palette {black, white}
// (a pixel is white when its value is >= 128), 8 bits with a palette of the 256
// greys, or 24 bits (B, G, R) with the value in the red channel only.
inline std::string bmp_file(const std::vector<std::vector<int>>& pixels, int bits) {
  const int H = (int)pixels.size(), W = (int)pixels[0].size();
  const int colors = bits == 1 ? 2 : bits == 8 ? 256 : 0;
  const int row_bytes = (bits * W + 31) / 32 * 4;
  const int offset = 14 + 40 + 4 * colors, size = offset + row_bytes * H;
  std::string f;
  auto u16 = [&](int v) { f += (char)(v & 255), f += (char)((v >> 8) & 255); };
  auto u32 = [&](int v) { u16(v & 0xffff), u16((v >> 16) & 0xffff); };
  f += "BM";
  u32(size), u32(0), u32(offset);
  u32(40), u32(W), u32(H), u16(1), u16(bits), u32(0), u32(row_bytes * H), u32(2835), u32(2835), u32(colors), u32(0);
  for (int c = 0; c < colors; ++c) {
    const int grey = bits == 1 ? 255 * c : c;
    f += (char)grey, f += (char)grey, f += (char)grey, f += (char)0;
  }
  for (int y = H - 1; y >= 0; --y) {
    std::string row((size_t)row_bytes, '\0');
    for (int x = 0; x < W; ++x) {
      const int v = pixels[y][x];
      if (bits == 1) row[x / 8] = (char)(row[x / 8] | (v >= 128 ? 0x80 >> (x % 8) : 0));
      if (bits == 8) row[x] = (char)v;
      if (bits == 24) row[3 * x + 2] = (char)v;  // B, G stay 0
    }
    f += row;
  }
  return f;
}

// The same for a 1-channel image.
inline std::string bmp_file(const Image& grey, int bits) {
  std::vector<std::vector<int>> pixels(grey.height, std::vector<int>(grey.width));
  for (int y = 0; y < grey.height; ++y)
    for (int x = 0; x < grey.width; ++x) pixels[y][x] = grey.at(y, x, 0);
  return bmp_file(pixels, bits);
}

// The folder holding ham10000/ and isic2017/: $SKINMTL_DATA_DIR, else
// ../shared/data (tests run from the repository root).
inline std::string real_data_dir() {
  const char* env = std::getenv("SKINMTL_DATA_DIR");
  return env && *env ? env : "../shared/data";
}

}  // namespace skinmtl::test
