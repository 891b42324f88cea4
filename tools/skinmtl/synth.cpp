// skinmtl synth: write the synthetic skin-lesion data set (io/synthetic.h) to a
// folder: images, masks, manifests with train/val/test splits, a contact sheet.
#include <cstdio>
#include <string>

#include "io/synthetic.h"
#include "app/args.h"
#include "tools/skinmtl/commands.h"

namespace skinmtl {

namespace {

const char* kSynthHelp =
    "usage: skinmtl synth --out DIR [options]\n"
    "\n"
    "Writes the project's synthetic skin-lesion data set: dermoscopy-like images of\n"
    "skin with one lesion, each with lesion types (multi-label), a body location, a\n"
    "lesion mask and box, and a diagnosis (nevus / melanoma / seborrheic keratosis).\n"
    "io/synthetic.h documents what makes each label visible. The same seed gives the\n"
    "same files, whatever the thread count.\n"
    "\n"
    "  DIR/images/*.jpg  DIR/masks/*.png  DIR/manifest.csv (all, with a split column)\n"
    "  DIR/train.csv  DIR/val.csv  DIR/test.csv  DIR/contact_sheet.png  DIR/README.txt\n"
    "\n"
    "options:\n"
    "  --out DIR       the folder to write (created if needed)\n"
    "  --n N           samples (default 2000; split 80/10/10 train/val/test)\n"
    "  --size N        image side in pixels (default 256, at least 32)\n"
    "  --seed N        data set seed (default 1)\n"
    "  --threads N     worker threads (default: all cores)\n"
    "  --quality N     JPEG quality 1-100 (default 95)\n";

}  // namespace

int cmd_synth(int argc, char** argv) {
  Args args(argc, argv, {"out", "n", "size", "seed", "threads", "quality"});
  if (args.help()) {
    std::fputs(kSynthHelp, stdout);
    return 0;
  }
  SKINMTL_USAGE_CHECK(args.has("out"), "--out DIR is required");
  SynthWriteOptions o;
  o.n = args.get_int("n", 2000);
  o.synth.size = (int)args.get_int("size", 256);
  const long long seed = args.get_int("seed", 1);
  SKINMTL_USAGE_CHECK(seed >= 0, "--seed must be >= 0, got " << seed);
  o.seed = (uint64_t)seed;
  o.threads = (int)args.get_int("threads", 0);
  SKINMTL_USAGE_CHECK(o.threads >= 0, "--threads must be >= 0, got " << o.threads);
  o.jpeg_quality = (int)args.get_int("quality", 95);
  const std::string out = args.get("out", "");
  const SynthWriteResult r = write_synth_dataset(out, o);
  std::printf("wrote %lld synthetic images (%dx%d, seed %llu) in %.1f s: train %lld, val %lld, test %lld\n",
              (long long)o.n, o.synth.size, o.synth.size, (unsigned long long)o.seed, r.seconds,
              (long long)r.train, (long long)r.val, (long long)r.test);
  std::printf("manifest: %s\ncontact sheet: %s/contact_sheet.png\n", r.manifest.c_str(), out.c_str());
  return 0;
}

}  // namespace skinmtl
