// skinmtl train mtl: fine-tune the Liao & Luo multi-task classifier
// (app/mtl_training.h) with the shared training run (app/training_run.h).
//
// Defaults are the paper's: SGD, batch 20, momentum 0.9, weight decay 1e-4,
// base lr 1e-3, the two new heads at 10x (weights) / 20x (biases), lr x0.1
// when the held-out loss plateaus; scale jitter (shorter side in [256, 480]),
// a random 224 crop, horizontal flips, mean subtraction.
//
// Files in --out: log.csv, curves.png, checkpoint.safetensors and
// model.safetensors (the final model, for `eval mtl`); see app/training_run.h
// for resume, checkpoints and data-parallel runs (mpirun -np N ...).
#include <cstdio>

#include "app/mtl_model.h"
#include "app/mtl_training.h"
#include "tools/skinmtl/commands.h"

namespace skinmtl {

namespace {

TrainingDefaults defaults() {
  return {"train mtl", /*iters=*/20000, /*batch=*/20, /*eval_every=*/1000, /*ckpt_every=*/500, "runs/mtl"};
}

std::string help() {
  return "usage: skinmtl train mtl [options]\n"
         "\n"
         "Fine-tunes ResNet-50 with two sibling heads (lesion types: sigmoid cross-entropy;\n"
         "body location: softmax cross-entropy), as Liao & Luo (2016).\n"
         "\n"
         "data:\n"
         "  --data SRC          synthetic (default: data/synthetic/manifest.csv, generated there\n"
         "                      when absent) | synthetic:FILE | ham10000[:labels.csv]\n"
         "                      | isic2017[:labels.csv] | a manifest CSV (image,lesions,location)\n"
         "  --data-dir DIR      where ham10000/ and isic2017/ live (default ../shared/data)\n"
         "  --folds K --fold k  held-out part: fold k of a group-aware K-fold split (default 5, 0)\n"
         "  --split-seed N      (default 2017)\n"
         "model:\n"
         "  --tasks T           both | lesion | location (default both)\n" +
         training_model_help() +
         "training (paper defaults):\n" + training_optimizer_help(defaults()) +
         "  --min-short N --max-short N --crop N   scale jitter and crop (default 256 480 224)\n" +
         training_run_help(defaults());
}

}  // namespace

int train_mtl(int argc, char** argv) {
  const TrainingDefaults d = defaults();
  std::vector<std::string> names = kMtlDataOptions;
  for (const std::string& n : training_option_names(d)) names.push_back(n);
  for (const char* n : {"tasks", "min-short", "max-short", "crop"}) names.push_back(n);
  const Args args(argc, argv, names, training_flag_names());
  if (args.help()) {
    std::fputs(help().c_str(), stdout);
    return 0;
  }
  const TrainingOptions o = read_training_options(args, d);
  MtlTrainingOptions m;
  m.tasks = parse_mtl_tasks(args.get("tasks", "both"));
  m.min_short = (int)args.get_int("min-short", 256);
  m.max_short = (int)args.get_int("max-short", 480);
  m.crop = (int)args.get_int("crop", 224);
  DataParallel dp(o.batch);
  const std::unique_ptr<TrainingModel> model = make_mtl_training(args, o, m);
  return run_training(o, *model, dp);
}

}  // namespace skinmtl
