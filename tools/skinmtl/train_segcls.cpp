// skinmtl train segcls: train the Yang et al. (2017) model, lesion
// segmentation and two binary classifications (melanoma vs the rest,
// seborrheic keratosis vs the rest) on a shared ResNet-50
// (app/segcls_training.h), with the shared training run (app/training_run.h).
//
// Defaults: images resized to 192x256 (the ISIC 2017 images here are 256 wide,
// 192 high), random horizontal and vertical flips; SGD, batch 8, lr 1e-3,
// momentum 0.9, weight decay 1e-4; lr x0.1 when the held-out loss plateaus (as
// `train mtl`); loss = per-pixel BCE + melanoma BCE + seborrheic keratosis
// BCE, each weight an option, and an optional soft Jaccard term. The paper's
// own optimiser settings are not in its abstract; these follow `train mtl`
// (Caffe-style fine-tuning).
//
// Files in --out: log.csv, curves.png (losses), metrics.png (held-out Jaccard
// and AUCs), checkpoint.safetensors, model.safetensors (for `eval segcls`).
#include <cstdio>
#include <sstream>

#include "app/segcls_training.h"
#include "tools/skinmtl/commands.h"

namespace skinmtl {

namespace {

TrainingDefaults defaults() {
  return {"train segcls", /*iters=*/10000, /*batch=*/8, /*eval_every=*/500, /*ckpt_every=*/250, "runs/segcls"};
}

std::string help() {
  return "usage: skinmtl train segcls [options]\n"
         "\n"
         "Trains Yang et al.'s (2017) multi-task model: a ResNet-50 encoder shared by a\n"
         "U-Net lesion segmentation decoder and two binary classifiers (melanoma vs the rest,\n"
         "seborrheic keratosis vs the rest), the tasks of ISIC 2017 Parts 1 and 3.\n"
         "\n"
         "data:\n"
         "  --data SRC          synthetic (default: data/synthetic/manifest.csv, generated there\n"
         "                      when absent) | synthetic:FILE | isic2017[:labels.csv]\n"
         "                      | a CSV (image,mask,melanoma,seborrheic_keratosis[,id,split])\n"
         "                      train rows train; val rows are the held-out set\n"
         "  --data-dir DIR      where isic2017/ lives (default ../shared/data)\n"
         "model:\n"
         "  --tasks T           both | seg | cls (default both; seg and cls are the single-task\n"
         "                      variants, for comparison)\n" +
         training_model_help() +
         "                      (the decoder's batch norms always use batch statistics)\n"
         "  --decoder W4,W3,W2,W1  decoder block widths (default 256,128,64,32)\n"
         "  --new-lr-mult X     lr multiplier of the new layers' weights; biases 2X (default 1:\n"
         "                      at 10, as the MTL heads, the two classifiers diverged on ISIC 2017\n"
         "                      within 50 iterations of batch 8)\n"
         "  --head-lr-mult X    the same for the two classifiers alone (default: --new-lr-mult)\n"
         "loss:\n"
         "  --w-seg X           per-pixel mask BCE (default 1)\n"
         "  --w-jaccard X       soft Jaccard distance, smooth * (1 - soft Jaccard) (default 0: off)\n"
         "  --jaccard-smooth X  its smoothing term (default 100)\n"
         "  --w-mel X --w-sk X  the two binary cross-entropies (default 1, 1)\n"
         "training:\n"
         "  --size HxW          input size (default 192x256)\n"
         "  --augment A         flips (random horizontal and vertical flips, default) | full\n"
         "                      (the flips, then a rotation within +-45 degrees, a zoom of 1-1.2,\n"
         "                      a shift within 5%, a brightness factor of 0.8-1.2) | none\n" +
         training_optimizer_help(defaults()) + training_run_help(defaults());
}

// "256,128,64,32" -> the four decoder widths.
std::vector<int> parse_widths(const std::string& text) {
  std::vector<int> w;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      w.push_back(std::stoi(item));
    } catch (const std::exception&) {
      SKINMTL_USAGE_CHECK(false, "--decoder takes four comma-separated widths, e.g. 256,128,64,32; got '" << text << "'");
    }
  }
  SKINMTL_USAGE_CHECK(w.size() == 4 && w[0] > 0 && w[1] > 0 && w[2] > 0 && w[3] > 0,
                      "--decoder takes four positive widths, e.g. 256,128,64,32; got '" << text << "'");
  return w;
}

}  // namespace

int train_segcls(int argc, char** argv) {
  const TrainingDefaults d = defaults();
  std::vector<std::string> names = training_option_names(d);
  for (const char* n : {"data", "data-dir", "tasks", "decoder", "new-lr-mult", "head-lr-mult", "w-seg", "w-jaccard",
                        "jaccard-smooth", "w-mel", "w-sk", "size", "augment"})
    names.push_back(n);
  const Args args(argc, argv, names, training_flag_names());
  if (args.help()) {
    std::fputs(help().c_str(), stdout);
    return 0;
  }
  const TrainingOptions o = read_training_options(args, d);
  SegClsTrainingOptions s;
  s.data = args.get("data", "synthetic");
  s.data_dir = args.get("data-dir", "../shared/data");
  SegClsConfig& c = s.spec.config;
  c.tasks = parse_segcls_tasks(args.get("tasks", "both"));
  c.decoder_widths = parse_widths(args.get("decoder", "256,128,64,32"));
  c.new_weight_lr_mult = (float)args.get_double("new-lr-mult", 1);
  c.new_bias_lr_mult = 2 * c.new_weight_lr_mult;
  c.head_weight_lr_mult = (float)args.get_double("head-lr-mult", c.new_weight_lr_mult);
  c.head_bias_lr_mult = 2 * c.head_weight_lr_mult;
  parse_size(args.get("size", "192x256"), &s.spec.input_h, &s.spec.input_w);
  s.loss.seg = args.get_double("w-seg", 1);
  s.loss.jaccard = args.get_double("w-jaccard", 0);
  s.loss.jaccard_smooth = args.get_double("jaccard-smooth", 100);
  s.loss.melanoma = args.get_double("w-mel", 1);
  s.loss.sk = args.get_double("w-sk", 1);
  const std::string augment = args.get("augment", "flips");
  SKINMTL_USAGE_CHECK(parse_yang_augment(augment, &s.augment),
                      "--augment must be flips, full or none, got '" << augment << "'");
  DataParallel dp(o.batch);
  const std::unique_ptr<TrainingModel> model = make_segcls_training(o, s);
  return run_training(o, *model, dp);
}

}  // namespace skinmtl
