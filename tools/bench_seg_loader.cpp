// tools/bench_seg_loader.cpp: how many image + mask pairs per second the
// segmentation loader (io/seg_loader.h) prepares.
//
// Loads a data set with io/seg_data.h (isic2017, synthetic or a CSV), runs
// --batches N batches (default: one epoch of the train split) with the
// consumer doing nothing, and prints the loader's images/s for the chosen
// transform. It also times one thread without the loader: decoding the pair
// alone, then decoding + the transform. Not part of `make`; build it after
// `make CUDA=0` with
//
//   g++ -std=c++17 -O2 -I. -I/usr/include/stb -DSKINMTL_CUDA=0 tools/bench_seg_loader.cpp
//       build/cpu/libskinmtl.a -o build/bench_seg_loader -fopenmp -lopenblas -lpthread
//
// (one command line), then e.g.
//   build/bench_seg_loader isic2017 --data-dir /work/shared/data --transform song-train --size 1024
//
// Options: --data-dir DIR (../shared/data), --transform song-train|song-test|
// yang-train|yang-test (song-train), --size S (letterbox side, 1024; Yang:
// S x S), --threads T (2), --batch B (4), --batches N (all), --prefetch P (2 T).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "io/seg_data.h"
#include "io/seg_loader.h"

using namespace skinmtl;

static double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_seg_loader DATA [--data-dir DIR] [--transform NAME] [--size S] "
                         "[--threads T] [--batch B] [--batches N] [--prefetch P]\n");
    return 2;
  }
  const std::string spec = argv[1];
  std::string data_dir = "../shared/data", transform = "song-train";
  int size = 1024;
  int64_t max_batches = -1;
  LoaderOptions opt;
  opt.batch_size = 4;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "%s needs a value\n", a.c_str());
      return 2;
    }
    const std::string v = argv[++i];
    if (a == "--data-dir") data_dir = v;
    else if (a == "--transform") transform = v;
    else if (a == "--size") size = std::atoi(v.c_str());
    else if (a == "--threads") opt.threads = std::atoi(v.c_str());
    else if (a == "--batch") opt.batch_size = std::atoi(v.c_str());
    else if (a == "--batches") max_batches = std::atoll(v.c_str());
    else if (a == "--prefetch") opt.prefetch = std::atoi(v.c_str());
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  try {
    const SegData d = load_seg_data(spec, data_dir);
    std::printf("%s\n", d.description.c_str());
    const SegTransform t = transform == "song-train" ? song_train_transform(size)
                           : transform == "song-test" ? song_test_transform(size)
                           : transform == "yang-train" ? yang_train_transform(size, size)
                           : transform == "yang-test" ? yang_test_transform(size, size)
                                                      : SegTransform{};
    if (!t.apply) {
      std::fprintf(stderr, "unknown transform %s\n", transform.c_str());
      return 2;
    }

    // One thread, no loader.
    const size_t n1 = std::min<size_t>(d.train.size(), 100);
    auto t0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < n1; ++i) {
      load_image(d.train[i].image, 3);
      load_image(d.train[i].mask, 1);
    }
    const double decode = seconds_since(t0) / n1;
    t0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < n1; ++i) {
      Rng rng(i);
      load_seg_item(d.train[i], t, rng);
    }
    const double full = seconds_since(t0) / n1;
    std::printf("one thread: decode image + mask %.2f ms, + %s %.2f ms per sample (%.0f samples/s)\n",
                decode * 1e3, t.name.c_str(), full * 1e3, 1.0 / full);

    SegLoader loader(d.train, t, opt);
    loader.start_epoch(0);
    SegBatch b;
    int64_t batches = 0;
    while ((max_batches < 0 || batches < max_batches) && loader.next(b)) ++batches;
    const LoaderStats s = loader.stats();
    std::printf("loader: %d threads, batch %d, prefetch %d: %lld batches, %lld images in %.2f s "
                "= %.1f images/s (consumer waited %.2f s)\n",
                opt.threads, opt.batch_size, loader.options().prefetch, (long long)s.batches,
                (long long)s.images, s.seconds, s.images_per_second(), s.wait_seconds);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_seg_loader: %s\n", e.what());
    return 1;
  }
  return 0;
}
