// skinmtl classify: the ImageNet classes of one photograph, with a pretrained
// ResNet-50 checkpoint.
//
//   skinmtl classify --weights W --image I [--topk K] [--json]
//                    [--resize 256] [--crop 224] [--device auto|cpu|cuda]
//
// The checkpoint is loaded with nets/resnet50_weights.h (the network it
// describes, its input convention and class names); the image goes through
// nets/classify.h (shorter side to --resize, centre crop --crop, softmax).
// Exit status: 0 on success, 1 on any error (a missing weights file, an image
// that cannot be read, a bad option), reported by main.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "io/image.h"
#include "nets/classify.h"
#include "nets/resnet50_weights.h"
#include "app/args.h"
#include "tools/skinmtl/commands.h"

namespace skinmtl {

namespace {

const char* kDefaultWeights = "weights/resnet50_imagenet.safetensors";

const char* kClassifyHelp =
    "usage: skinmtl classify --image FILE [options]\n"
    "\n"
    "Classifies one JPEG or PNG into the ImageNet classes of a ResNet-50 checkpoint\n"
    "and prints the most probable ones. The image's shorter side is resized to\n"
    "--resize, the centre --crop x --crop square is kept, and the pixels are\n"
    "normalised as the checkpoint's metadata says (channel order, mean, std).\n"
    "\n"
    "options:\n"
    "  --weights FILE  checkpoint, safetensors (default weights/resnet50_imagenet.safetensors,\n"
    "                  which `make weights` downloads and converts); torchvision-layout\n"
    "                  ResNet-50 files load as well\n"
    "  --image FILE    the photograph (required)\n"
    "  --topk K        how many classes to print (default 5)\n"
    "  --resize N      shorter side before cropping (default 256)\n"
    "  --crop N        side of the centre crop (default 224; at most --resize)\n"
    "  --device D      auto | cpu | cuda (default auto: cuda when a GPU is visible)\n"
    "  --precision P   fp32 | tf32 | bf16 (default fp32; see train's --help)\n"
    "  --json          print one JSON object instead of the table\n";

}  // namespace

int cmd_classify(int argc, char** argv) {
  Args args(argc, argv, {"weights", "image", "topk", "resize", "crop", "device", "precision"}, {"json"});
  if (args.help()) {
    std::printf("%s", kClassifyHelp);
    return 0;
  }
  const std::string weights = args.get("weights", kDefaultWeights);
  const std::string image_path = args.get("image", "");
  const long long topk = args.get_int("topk", 5);
  const long long resize = args.get_int("resize", 256);
  const long long crop = args.get_int("crop", 224);
  const bool as_json = args.flag("json");
  SKINMTL_USAGE_CHECK(!image_path.empty(), "--image is required");
  SKINMTL_USAGE_CHECK(topk >= 1, "--topk must be at least 1, got " << topk);
  SKINMTL_USAGE_CHECK(resize >= 1 && resize <= 16384, "--resize must be in 1..16384, got " << resize);
  SKINMTL_USAGE_CHECK(crop >= 1 && crop <= resize,
                "--crop must be in 1..--resize (" << resize << "), got " << crop);
  const Device device = parse_device(args.get("device", "auto"));
  apply_precision(args, device, "fp32");

  // The image first: a bad file fails before the 100 MB checkpoint is read.
  const Image image = load_image(image_path, 3);
  SKINMTL_USER_CHECK(std::filesystem::exists(weights),
                     "weights file '" << weights << "' not found (run `make weights` to download the "
                     "ImageNet ResNet-50 and convert it into " << kDefaultWeights << ")");
  const auto t0 = std::chrono::steady_clock::now();
  LoadedResNet50 net = load_resnet50(weights);
  net.model->to(device);
  const auto t1 = std::chrono::steady_clock::now();
  const std::vector<double> prob =
      classify_probabilities(*net.model, net.info, image, (int)resize, (int)crop);
  const auto t2 = std::chrono::steady_clock::now();
  const std::vector<ClassScore> top = top_k(prob, net.info.classes, (int)topk);
  const double load_s = std::chrono::duration<double>(t1 - t0).count();
  const double run_s = std::chrono::duration<double>(t2 - t1).count();
  const char* dev = device == Device::CUDA ? "cuda" : "cpu";

  if (as_json) {
    nlohmann::ordered_json j;  // keys in the order written
    j["image"] = image_path;
    j["image_size"] = {{"width", image.width}, {"height", image.height}};
    j["weights"] = weights;
    j["device"] = dev;
    j["resize"] = resize;
    j["crop"] = crop;
    j["seconds"] = {{"load", load_s}, {"inference", run_s}};
    j["top"] = nlohmann::ordered_json::array();
    for (size_t r = 0; r < top.size(); ++r)
      j["top"].push_back({{"rank", r + 1},
                          {"index", top[r].index},
                          {"class", top[r].name},
                          {"probability", top[r].probability}});
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("%s (%dx%d): shorter side %lld, centre crop %lld, %s, %.2f s\n", image_path.c_str(),
              image.width, image.height, resize, crop, dev, run_s);
  std::printf("  rank  probability  class\n");
  for (size_t r = 0; r < top.size(); ++r)
    std::printf("  %4zu  %11.4f  %s (%d)\n", r + 1, top[r].probability, top[r].name.c_str(),
                top[r].index);
  return 0;
}

}  // namespace skinmtl
