// skinmtl predict detseg: run a trained detect + classify + segment model
// (Song et al. 2019; `skinmtl train detseg`) on images and write, per image,
// the class probability, the box, the mask (PNG at the image's own size) and
// an overlay picture like the paper's Fig. 4. The shared machinery and the
// file formats are app/detseg_predict.h.
//
// Images come from one of
//   --image FILE [FILE ...]   files (the option may also be repeated); id = the file's stem
//   --images DIR              every image file in DIR (.jpg .jpeg .png .bmp .gif .tga), by name
//   --data SPEC [--split S]   a data set of io/seg_data.h (its val split by default;
//                             train, test or all): the ground-truth masks are
//                             known, so overlays show them
// With --image / --images, --truth DIR adds ground-truth masks: the file in DIR
// whose key (io/seg_folder.h: the name without the extension and a trailing
// "_segmentation" or "_lesion") is the image's id (ISIC's
// ISIC_0000000_segmentation.png for ISIC_0000000.jpg, PH2's IMD002_lesion.bmp
// for IMD002.bmp), the rule of `skinmtl metrics seg`. How many images found a
// mask is printed; none at all is an error (a wrong folder, or other names).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>

#include "io/csv.h"
#include "io/seg_data.h"
#include "io/seg_folder.h"
#include "app/args.h"
#include "tools/skinmtl/commands.h"
#include "app/detseg_predict.h"
#include "app/model_file.h"

namespace skinmtl {

namespace {

namespace fs = std::filesystem;

const char* kHelp =
    "usage: skinmtl predict detseg --model FILE (--image FILE ... | --images DIR | --data SPEC)\n"
    "                              [options]\n"
    "\n"
    "Runs a model of `skinmtl train detseg` (Song et al. 2019: detect, classify and segment\n"
    "the lesion) on whole images. Each image is letterboxed to the model's side, as in\n"
    "training; the results are mapped back to the image's own pixels.\n"
    "\n"
    "input (one of):\n"
    "  --image FILE ...    image files (several after one --image, or --image repeated);\n"
    "                      the id is the file name without folder and extension\n"
    "  --images DIR        every image file (.jpg .jpeg .png .bmp .gif .tga) in DIR\n"
    "  --data SRC          a data set as in `train detseg` (synthetic[:FILE], isic2017[:FILE],\n"
    "                      a CSV); its ground-truth masks are drawn on the overlays; or\n"
    "                      ham10000[:FILE] (no masks)\n"
    "  --split S           with --data: val (default; test for ham10000), train, test or all\n"
    "  --data-dir DIR      where isic2017/ and ham10000/ live (default ../shared/data)\n"
    "  --truth DIR         with --image/--images: ground-truth masks, matched by name as\n"
    "                      `skinmtl metrics seg` does (ID.png, ID_segmentation.png or\n"
    "                      ID_lesion.bmp, any image extension); at least one must match\n"
    "model:\n"
    "  --model FILE        model.safetensors (or a checkpoint) of `skinmtl train detseg`\n"
    "  --size N            letterbox side (default: the side the model was trained at)\n"
    "output:\n"
    "  --out DIR           (default runs/predict)\n"
    "                        masks/ID.png      the lesion mask at the image's size (0/255)\n"
    "                        overlays/ID.png   predicted contour (red), ground truth (black,\n"
    "                                          when known), box and label, as Song's Fig. 4\n"
    "                        predictions.csv   image_id,malignant,benign,detected,score,\n"
    "                                          x1,y1,x2,y2 (the box in the image's pixels)\n"
    "  --overlays N        overlays for the first N images only (default: all)\n"
    "  --batch N           images per network call (default 2)\n"
    "  --image-score S     how `malignant` is read from the RoIs: top (the top detection's\n"
    "                      p_mal / (p_ben + p_mal), the paper's; default) | vote (summed over\n"
    "                      the RoIs that overlap it by IoU >= 0.5: not the paper's)\n"
    "  --device D          auto | cpu | cuda (default auto)\n"
    "  --precision P       fp32 | tf32 | bf16 (default fp32; see train's --help)\n";

// Splits off the --image values (every argument after --image up to the next
// option; --image=FILE also works); the rest goes to Args.
std::vector<std::string> take_image_args(int argc, char** argv, std::vector<char*>& rest) {
  std::vector<std::string> files;
  rest.push_back(argv[0]);
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--image=", 0) == 0) {
      files.push_back(a.substr(8));
    } else if (a == "--image") {
      const size_t before = files.size();
      while (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) files.push_back(argv[++i]);
      SKINMTL_USER_CHECK(files.size() > before, "option --image needs at least one file");
    } else {
      rest.push_back(argv[i]);
    }
  }
  return files;
}

}  // namespace

int predict_detseg(int argc, char** argv) {
  std::vector<char*> rest;
  const std::vector<std::string> image_files = take_image_args(argc, argv, rest);
  Args args((int)rest.size(), rest.data(),
            {"model", "images", "data", "split", "data-dir", "truth", "size", "out", "overlays", "batch", "image-score",
             "device", "precision"});
  if (args.help()) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  SKINMTL_USAGE_CHECK(args.has("model"), "--model is required");
  const int sources = (int)!image_files.empty() + (int)args.has("images") + (int)args.has("data");
  SKINMTL_USAGE_CHECK(sources == 1, "give exactly one of --image, --images and --data");
  SKINMTL_USER_CHECK(!args.has("split") || args.has("data"), "--split applies to --data only");
  SKINMTL_USER_CHECK(!args.has("truth") || !args.has("data"),
                     "--truth applies to --image and --images (--data has its masks)");

  const ImageScore image_score = image_score_from_name(args.get("image-score", "top"));
  require_model_file(args.get("model", ""));  // a missing file before the inputs, which may take a while

  // The inputs.
  std::vector<DetSegInput> inputs;
  std::string what, truth_note;
  if (args.has("data")) {
    const SegData data = load_seg_data(args.get("data", ""), args.get("data-dir", "../shared/data"));
    const std::string split = args.get("split", data.default_split);  // val; test for ham10000
    for (const SegSample& s : select_split(data, split)) inputs.push_back({s.id, s.image, s.mask});
    what = data.description + ", " + (split == "all" ? std::string("every row") : split + " split");
  } else {
    std::vector<std::string> files = image_files;
    if (args.has("images")) {
      const std::string dir = args.get("images", "");
      SKINMTL_USER_CHECK(fs::is_directory(dir), "--images " << dir << ": not a folder");
      for (const auto& e : fs::directory_iterator(dir))
        if (e.is_regular_file() && is_image_file_name(e.path().string())) files.push_back(e.path().string());
      std::sort(files.begin(), files.end());
      SKINMTL_USER_CHECK(!files.empty(), "--images " << dir << ": no image files (.jpg, .png, ...) in it");
      what = dir;
    } else {
      what = std::to_string(files.size()) + " image file" + (files.size() == 1 ? "" : "s");
    }
    std::map<std::string, std::string> truth;  // key -> mask path
    if (args.has("truth")) truth = list_image_files(args.get("truth", ""), "--truth", true);
    std::vector<std::string> unmatched;
    for (const std::string& f : files) {
      SKINMTL_USER_CHECK(fs::is_regular_file(f), "no image file " << f);
      DetSegInput in;
      in.id = fs::path(f).stem().string();
      SKINMTL_USER_CHECK(find_invalid_utf8(in.id) == std::string::npos,
                         "the image file name '" << f << "' is not UTF-8; rename the file");
      in.image = f;
      const auto t = truth.find(in.id);
      if (t != truth.end()) in.mask = t->second;
      else unmatched.push_back(in.id);
      inputs.push_back(std::move(in));
    }
    if (args.has("truth")) {
      // Say how many found their mask: a silent zero would look like "no ground truth given".
      const std::string dir = args.get("truth", "");
      const size_t matched = inputs.size() - unmatched.size();
      std::vector<std::string> have;
      for (const auto& [key, path] : truth) have.push_back(fs::path(path).filename().string());
      const std::string held = have.empty() ? std::string("no image files") : name_list(have, 5);
      SKINMTL_USER_CHECK(matched > 0, "--truth " << dir << ": none of the " << inputs.size()
                                                 << " images has a mask there (the mask of image ID is ID.*, "
                                                    "ID_segmentation.* or ID_lesion.*); images: "
                                                 << name_list(unmatched, 5) << "; the folder holds " << held);
      truth_note = "ground truth: " + std::to_string(matched) + " of " + std::to_string(inputs.size()) +
                   " images matched a mask in " + dir;
      if (!unmatched.empty()) truth_note += " (none for " + name_list(unmatched, 10) + ")";
    }
  }

  DetSegModel model = load_detseg_model(args.get("model", ""));
  model.spec.size = (int)args.get_int("size", model.spec.size);
  SKINMTL_USER_CHECK(model.spec.size >= 32, "--size must be at least 32, got " << model.spec.size);
  DetSegRunOptions opt;
  opt.out = args.get("out", "runs/predict");
  opt.overlays = args.get_int("overlays", -1);
  opt.batch = (int)args.get_int("batch", 2);
  opt.image_score = image_score;
  opt.device = parse_device(args.get("device", "auto"));
  apply_precision(args, opt.device, "fp32");
  std::printf("skinmtl predict detseg: %s on %s\n  %zu images, letterboxed to %dx%d, on %s\n",
              args.get("model", "").c_str(), what.c_str(), inputs.size(), model.spec.size, model.spec.size,
              device_name(opt.device));
  if (!truth_note.empty()) std::printf("  %s\n", truth_note.c_str());

  const std::vector<DetSegResult> results = run_detseg(model, inputs, opt);
  int64_t detected = 0, malignant = 0;
  std::vector<SegCounts> counts;
  for (const DetSegResult& r : results) {
    detected += r.detected;
    malignant += r.malignant >= 0.5;
    if (r.has_truth) counts.push_back(r.counts);
  }
  std::printf("%zu images: %lld with a detection, %lld called malignant (probability >= 0.5)\n", results.size(),
              (long long)detected, (long long)malignant);
  if (!counts.empty()) {
    const SegMetrics m = seg_metrics(counts);
    std::printf("against the %zu ground-truth masks: mean JA %.4f, DI %.4f (`skinmtl eval detseg` for all "
                "metrics)\n",
                counts.size(), *m.ja, *m.di);
  }
  std::printf("masks: %s/masks/  overlays: %s/overlays/  table: %s/predictions.csv\n", opt.out.c_str(),
              opt.out.c_str(), opt.out.c_str());
  return 0;
}

}  // namespace skinmtl
