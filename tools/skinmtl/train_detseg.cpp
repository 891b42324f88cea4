// skinmtl train detseg: train the detect + classify + segment network of Song
// et al. (2019) with their three-phase schedule (app/detseg_training.h), with
// the shared training run (app/training_run.h).
//
// Defaults are the paper's (section III-B): SGD with lr 0.001, momentum 0.9,
// weight decay 1e-4, 2 images per batch, the gradient clipped to a global norm
// of 5; 40000, 80000 and 40000 iterations of phases 1, 2 and 3; letterbox
// 1024 (256 suits the ISIC 2017 copy here).
//
// Files in --out: log.csv, curves.png, loss_terms.png, checkpoint.safetensors
// (also at the end of each phase) and model.safetensors (for `eval detseg`,
// `predict detseg`).
#include <cstdio>

#include "app/detseg_training.h"
#include "app/iterations.h"
#include "tools/skinmtl/commands.h"

namespace skinmtl {

namespace {

// The paper's: 40000 + 80000 + 40000 iterations (the phases'), batch 2; the
// phases set the lr (no --lr-schedule).
TrainingDefaults defaults() {
  TrainingDefaults d{"train detseg", /*iters=*/160000, /*batch=*/2, /*eval_every=*/1000, /*ckpt_every=*/500, "runs/detseg"};
  d.lr_schedules = false;
  d.iters_help =
      "N iterations in all, shared by the phases in the proportions of\n"
      "                      --phase1/2/3 (the paper's 1:2:1 by default)";
  return d;
}

std::string help() {
  return "usage: skinmtl train detseg [options]\n"
         "\n"
         "Trains the detect + classify + segment network of Song et al. (2019): ResNet-50 + FPN,\n"
         "a focal-loss RPN, and Mask R-CNN heads (benign / malignant, box, lesion mask).\n"
         "\n"
         "data:\n"
         "  --data SRC          synthetic (default: data/synthetic/manifest.csv, generated there\n"
         "                      when absent) | synthetic:FILE | isic2017[:labels.csv]\n"
         "                      | a CSV (image,mask,melanoma,seborrheic_keratosis[,id,split])\n"
         "  --data-dir DIR      where isic2017/ lives (default ../shared/data)\n"
         "  --size N            letterbox side (default 1024, the paper's; 256 suits ISIC 2017 here)\n"
         "  --augment A         song (the paper's six versions, default) | none\n"
         "model:\n" +
         training_model_help() +
         "  --channels N        FPN width (default 256)\n"
         "  --rois N            sampled RoIs per image (default 128)\n"
         "  --cls-loss L        the Classify subnet's loss: focal (eq. 2 over the softmax, as the\n"
         "                      paper; default) | ce (softmax cross-entropy, Mask R-CNN's)\n"
         "  --cls-weight X      the Classify subnet's weight in the total loss (default 1, the\n"
         "                      paper's; the log's `cls` column stays unweighted)\n"
         "  --box-canonical S   the RoI side the Classify and Detect subnets pool from P4 (FPN's\n"
         "                      level rule, Lin et al. eq. 1: default 224). An input downscaled\n"
         "                      by f pools every lesion log2(f) levels lower unless S is scaled by\n"
         "                      f too: 56 at --size 256 keeps the levels of the paper's 1024\n"
         "                      (the Segment subnet keeps its own, --mask-canonical, default 224)\n"
         "training (paper defaults):\n"
         "  --phase1 N          iterations of phase 1: the RoI heads (default 40000)\n"
         "  --phase2 N          iterations of phase 2: FPN, RPN and heads (default 80000)\n"
         "  --phase3 N          iterations of phase 3: all layers at lr / 10 (default 40000)\n" +
         training_optimizer_help(defaults()) +
         "  --clip-norm X       scale the gradient down to this global norm when longer (default 5,\n"
         "                      Matterport's Mask R-CNN, whose settings the paper uses; 0: off)\n"
         "  --box-lr-mult X     lr multiplier of the Classify and Detect subnets' own layers (fc6,\n"
         "                      fc7, cls_score, bbox_pred): their steps are X times the phase's lr\n"
         "                      (default 1, the paper's; the clip applies to the gradient before)\n" +
         training_run_help(defaults());
}

}  // namespace

int train_detseg(int argc, char** argv) {
  const TrainingDefaults d = defaults();
  std::vector<std::string> names = training_option_names(d);
  for (const char* n : {"data", "data-dir", "size", "augment", "channels", "rois", "phase1", "phase2", "phase3",
                        "clip-norm", "box-lr-mult", "cls-loss", "cls-weight", "box-canonical", "mask-canonical"})
    names.push_back(n);
  const Args args(argc, argv, names, training_flag_names());
  if (args.help()) {
    std::fputs(help().c_str(), stdout);
    return 0;
  }
  DetSegTrainingOptions s;
  s.phase1 = args.get_int("phase1", 40000);
  s.phase2 = args.get_int("phase2", 80000);
  s.phase3 = args.get_int("phase3", 40000);
  SKINMTL_USAGE_CHECK(s.phase1 >= 0 && s.phase2 >= 0 && s.phase3 >= 0 && s.phase1 + s.phase2 + s.phase3 > 0,
                      "--phase1/2/3 must be >= 0, and not all 0");
  if (args.has("iters")) {  // the phases share N in their proportions
    const std::vector<int64_t> shares = split_iterations(args.get_int("iters", 0), {s.phase1, s.phase2, s.phase3});
    s.phase1 = shares[0], s.phase2 = shares[1], s.phase3 = shares[2];
  }
  TrainingDefaults with_phases = d;
  with_phases.iters = s.phase1 + s.phase2 + s.phase3;
  const TrainingOptions o = read_training_options(args, with_phases);
  s.data = args.get("data", "synthetic");
  s.data_dir = args.get("data-dir", "../shared/data");
  s.spec.size = (int)args.get_int("size", 1024);
  s.spec.config.channels = (int)args.get_int("channels", 256);
  s.spec.config.roi_sample.batch_size = (int)args.get_int("rois", 128);
  const std::string augment = args.get("augment", "song");
  SKINMTL_USAGE_CHECK(augment == "song" || augment == "none", "--augment must be song or none, got '" << augment << "'");
  s.augment = augment == "song";
  s.clip_norm = args.get_double("clip-norm", 5.0);
  s.box_lr_mult = args.get_double("box-lr-mult", 1.0);
  const std::string cls_loss = args.get("cls-loss", "focal");
  SKINMTL_USAGE_CHECK(parse_detseg_cls_loss(cls_loss, &s.spec.config.cls_loss),
                      "--cls-loss must be focal or ce, got '" << cls_loss << "'");
  s.spec.config.cls_weight = args.get_double("cls-weight", 1.0);
  SKINMTL_USAGE_CHECK(s.spec.config.cls_weight > 0 && s.spec.config.cls_weight <= 1e4,
                      "--cls-weight must be in (0, 10000], got " << s.spec.config.cls_weight);
  const auto canonical = [&](const char* name) {
    const double v = args.get_double(name, 224);
    SKINMTL_USAGE_CHECK(v >= 1 && v <= 1e5, "--" << name << " must be in [1, 100000], got " << v);
    return v;
  };
  s.spec.config.heads.box_canonical = canonical("box-canonical");
  s.spec.config.heads.mask_canonical = canonical("mask-canonical");
  DataParallel dp(o.batch);
  const std::unique_ptr<TrainingModel> model = make_detseg_training(o, s, dp);
  return run_training(o, *model, dp);
}

}  // namespace skinmtl
