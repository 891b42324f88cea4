// tools/bench_loader.cpp: how many images per second the batch loader prepares.
//
// Reads a HAM10000 labels.csv (or a manifest CSV), runs one epoch (or
// --batches N batches) of the Liao & Luo training transform (shorter side
// uniform in [256, 480], random 224 crop, random flip, mean subtraction) with
// the consumer doing nothing, and prints the loader's images/s. It also times
// decoding alone and decoding + transform on one thread, to show where the time
// goes. Not part of `make`; build it after `make CUDA=0` with
//
//   g++ -std=c++17 -O2 -I. -I/usr/include/stb -DSKINMTL_CUDA=0 tools/bench_loader.cpp
//       build/cpu/libskinmtl.a -o build/bench_loader -fopenmp -lopenblas -lpthread
//
// (one command line; a CUDA build's library is build/cuda/libskinmtl.a, linked
// with -DSKINMTL_CUDA=1 and the CUDA libraries of the Makefile's LDLIBS.)
//   build/bench_loader ../shared/data/ham10000/labels.csv --threads 2
//
// Options: --manifest (the file is a manifest CSV, not HAM10000's labels.csv),
// --threads T (2), --batch B (20), --batches N (all), --prefetch P (2 T).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "io/augment.h"
#include "io/loader.h"
#include "io/manifest.h"

using namespace skinmtl;

static double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_loader LABELS.csv [--manifest] [--threads T] [--batch B] "
                         "[--batches N] [--prefetch P]\n");
    return 2;
  }
  std::string path = argv[1];
  bool manifest_csv = false;
  LoaderOptions opt;
  int64_t max_batches = -1;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&] {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return std::atoi(argv[++i]);
    };
    if (a == "--manifest") manifest_csv = true;
    else if (a == "--threads") opt.threads = value();
    else if (a == "--batch") opt.batch_size = value();
    else if (a == "--batches") max_batches = value();
    else if (a == "--prefetch") opt.prefetch = value();
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  try {
    const Manifest m = manifest_csv ? read_manifest(path) : load_ham10000(path);
    std::printf("%zu images, %d lesion classes, %d locations\n", m.size(),
                m.num_lesion_classes(), m.num_location_classes());

    // One thread, no loader: decoding alone, then decoding + the training transform.
    const size_t n1 = std::min<size_t>(m.size(), 200);
    auto t0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < n1; ++i) load_image(m.samples[i].image);
    const double decode = seconds_since(t0) / n1;
    t0 = std::chrono::steady_clock::now();
    Normalize norm;
    std::vector<float> chw(3 * 224 * 224);
    for (size_t i = 0; i < n1; ++i) {
      Rng rng(i);
      image_to_chw(train_augment(load_image(m.samples[i].image), rng), norm, chw.data());
    }
    const double full = seconds_since(t0) / n1;
    std::printf("one thread: decode %.2f ms/image, decode + augment + normalise %.2f ms/image "
                "(%.0f images/s)\n",
                decode * 1e3, full * 1e3, 1.0 / full);

    Loader loader(m, train_transform(), opt);
    loader.start_epoch(0);
    Batch b;
    int64_t batches = 0;
    while ((max_batches < 0 || batches < max_batches) && loader.next(b)) ++batches;
    const LoaderStats s = loader.stats();
    std::printf("loader: %d threads, batch %d, prefetch %d: %lld batches, %lld images in %.2f s "
                "= %.1f images/s (consumer waited %.2f s)\n",
                opt.threads, opt.batch_size, loader.options().prefetch, (long long)s.batches,
                (long long)s.images, s.seconds, s.images_per_second(), s.wait_seconds);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_loader: %s\n", e.what());
    return 1;
  }
  return 0;
}
