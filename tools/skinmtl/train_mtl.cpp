// skinmtl train mtl: fine-tune the Liao & Luo multi-task classifier.
//
// Defaults are the paper's: SGD, batch 20, momentum 0.9, weight decay 1e-4,
// base lr 1e-3, the two new heads at 10x (weights) / 20x (biases), lr x0.1
// when the held-out loss plateaus; scale jitter (shorter side in [256, 480]),
// a random 224 crop, horizontal flips, mean subtraction.
//
// Files in --out: log.csv (one row per iteration; held-out columns filled at
// each evaluation), curves.png (redrawn at each evaluation), checkpoint.safetensors
// (the training state, every --ckpt-every iterations, at each evaluation and on
// SIGINT/SIGTERM), model.safetensors (the final model, for `eval mtl`).
//
// Resume (--resume) continues from checkpoint.safetensors exactly: the model,
// the momentum, the learning rate and plateau state, and the data order (the
// loader is deterministic in (seed, epoch, sample), so the run skips the
// batches of the current epoch it had already used). Continuing a run gives the
// same weights as never stopping it (on the CPU bit for bit; tested).
//
// Several processes (mpirun -np N ...): each trains on its 1/N of every batch
// and the gradients are averaged (app/data_parallel.h); rank 0 evaluates and
// writes the files. The result is the one-process run's, to float rounding.
#include <cmath>
#include <cstdio>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "app/data_parallel.h"
#include "app/run_clock.h"
#include "app/stop_signal.h"
#include "figures/plot.h"
#include "framework/lr_schedule.h"
#include "framework/optimizer.h"
#include "io/checkpoint.h"
#include "io/csv_log.h"
#include "io/loader.h"
#include "io/progress.h"
#include "tools/skinmtl/commands.h"
#include "tools/skinmtl/mtl_common.h"
#include "tools/skinmtl/segcls_common.h"

namespace skinmtl {

namespace {

const char* kHelp =
    "usage: skinmtl train mtl [options]\n"
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
    "  --tasks T           both | lesion | location (default both)\n"
    "  --weights FILE      ImageNet ResNet-50 (default weights/resnet50_imagenet.safetensors;\n"
    "                      `make weights` makes it); none: random initialisation\n"
    "  --bn MODE           frozen: normalise with the pretrained running statistics, as Caffe\n"
    "                      fine-tuning does | batch: batch statistics (default: frozen with\n"
    "                      pretrained weights, batch with --weights none, which has no statistics)\n"
    "training (paper defaults):\n"
    "  --iters N           iterations (default 20000)\n"
    "  --batch N           images per iteration, over all processes (default 20)\n"
    "  --lr X              base learning rate (default 0.001; heads x10 / x20)\n"
    "  --momentum X        (default 0.9)\n"
    "  --wd X              weight decay (default 0.0001)\n"
    "  --patience N        evaluations without improvement before lr x0.1 (default 3)\n"
    "  --min-short N --max-short N --crop N   scale jitter and crop (default 256 480 224)\n"
    "  --eval-every N      held-out evaluation (centre crop) every N iterations (default 1000)\n"
    "  --ckpt-every N      checkpoint every N iterations (default 500)\n"
    "  --out DIR           (default runs/mtl)\n"
    "  --resume            continue from DIR/checkpoint.safetensors\n"
    SKINMTL_SKIP_BAD_ROWS_HELP
    "  --threads N         loader threads (default 2)\n"
    "  --device D          auto | cpu | cuda (default auto)\n"
    SKINMTL_PRECISION_HELP
    SKINMTL_SYNC_BN_HELP
    "  --seed N            initialisation and data-order seed (default 1)\n";

// The options that must not change when a run is resumed.
std::string fingerprint(const Args& a, const MtlData& d) {
  nlohmann::json j;
  for (const char* k : {"tasks", "weights", "bn", "batch", "momentum", "wd", "min-short", "max-short",
                        "crop", "seed", "patience", "eval-every"})
    j[k] = a.get(k, "");
  j["data"] = d.description;
  j["bn_mode"] = a.get("bn", a.get("weights", "") == "none" ? "batch" : "frozen");
  return j.dump();
}

}  // namespace

int train_mtl(int argc, char** argv) {
  std::vector<std::string> opts = kMtlDataOptions;
  for (const char* o : {"tasks", "weights", "bn", "iters", "batch", "lr", "momentum", "wd", "patience",
                        "min-short", "max-short", "crop", "eval-every", "ckpt-every", "out", "threads",
                        "device", "seed", "precision", "sync-bn"})
    opts.push_back(o);
  Args args(argc, argv, opts, {"resume", "skip-bad-rows"});
  if (args.help()) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  const int iters = (int)args.get_int("iters", 20000);
  const int batch = (int)args.get_int("batch", 20);
  const int eval_every = (int)args.get_int("eval-every", 1000);
  const int ckpt_every = (int)args.get_int("ckpt-every", 500);
  const int threads = (int)args.get_int("threads", 2);
  const int min_short = (int)args.get_int("min-short", 256), max_short = (int)args.get_int("max-short", 480);
  const int crop = (int)args.get_int("crop", 224);
  const uint64_t seed = (uint64_t)args.get_int("seed", 1);
  const std::string out = args.get("out", "runs/mtl");
  const std::string weights = args.get("weights", "weights/resnet50_imagenet.safetensors");
  const std::string bn = args.get("bn", weights == "none" ? "batch" : "frozen");
  SKINMTL_USAGE_CHECK(bn == "frozen" || bn == "batch", "--bn must be frozen or batch, got '" << bn << "'");
  SKINMTL_USAGE_CHECK(iters > 0 && batch > 0 && eval_every > 0 && ckpt_every > 0 && threads > 0,
                "iters, batch, eval-every, ckpt-every and threads must be positive");
  const Device device = parse_device(args.get("device", "auto"));
  const std::string precision = apply_precision(args, device);
  const MtlTasks tasks = parse_mtl_tasks(args.get("tasks", "both"));
  DataParallel dp(batch);

  MtlData data = load_mtl_data(args);
  std::vector<ImageProblem> skipped;
  for (Manifest* part : {&data.train, &data.val})
    for (ImageProblem& p : require_or_drop_bad_samples(*part, args.flag("skip-bad-rows"))) skipped.push_back(std::move(p));
  SKINMTL_USER_CHECK(!data.train.samples.empty(), "no training images left in " << data.description);
  std::filesystem::create_directories(out);
  if (dp.is_root()) report_skipped_rows(skipped, out);
  const std::string ckpt_path = out + "/checkpoint.safetensors";
  const bool resume = args.flag("resume");
  if (dp.is_root())
    std::printf("skinmtl train mtl: %s\n  tasks %s on %s, %d iterations of %d\n", data.description.c_str(),
                mtl_tasks_name(tasks), (device_name(device) + precision).c_str(), iters, batch);

  MtlModel model = new_mtl_model(data, tasks, weights, seed);
  MtlClassifier& net = *model.net;
  net.trunk->set_bn_frozen(bn == "frozen");
  dp.print_plan(batch, apply_sync_bn(args, net, dp));
  net.to(device);
  net.train();
  SGDOptions so;
  so.lr = args.get_double("lr", 1e-3);
  so.momentum = args.get_double("momentum", 0.9);
  so.weight_decay = args.get_double("wd", 1e-4);
  SGD sgd(net.parameters(), so);
  PlateauOptions po;
  po.patience = (int)args.get_int("patience", 3);
  ReduceOnPlateau plateau(so.lr, po);

  int64_t iteration = 0, epoch = 0, batch_in_epoch = 0;
  RunClock clock;  // wall time of the whole run: the checkpoint's, plus this process's
  const std::string fp = fingerprint(args, data);
  if (resume) {
    SKINMTL_USER_CHECK(std::filesystem::exists(ckpt_path), "--resume: no checkpoint at " << ckpt_path);
    auto meta = load_checkpoint(ckpt_path, net, &sgd);
    SKINMTL_USER_CHECK(meta.count("train_fingerprint") && meta.at("train_fingerprint") == fp,
                  ckpt_path << " was written with other options or data; resume with the same ones.\n  "
                            << "checkpoint: " << (meta.count("train_fingerprint") ? meta.at("train_fingerprint") : "?")
                            << "\n  now:        " << fp);
    iteration = std::stoll(meta.at("iteration"));
    epoch = std::stoll(meta.at("epoch"));
    batch_in_epoch = std::stoll(meta.at("batch_in_epoch"));
    if (meta.count("wall_s")) clock.resume_from(std::stod(meta.at("wall_s")));
    PlateauState ps;
    ps.lr = std::stod(meta.at("plateau_lr"));
    ps.best = std::stod(meta.at("plateau_best"));
    ps.num_bad_epochs = std::stoi(meta.at("plateau_bad"));
    ps.cooldown_counter = std::stoi(meta.at("plateau_cooldown"));
    plateau.load_state(ps);
    sgd.set_lr(std::stod(meta.at("lr")));
    sgd.set_steps(iteration);
    if (dp.is_root())
      std::printf("  resumed from %s at iteration %lld (epoch %lld, lr %g)\n", ckpt_path.c_str(),
                  (long long)iteration, (long long)epoch, sgd.lr());
  }
  dp.start(net, sgd.params());

  LoaderOptions lo;
  lo.batch_size = batch;
  lo.threads = threads;
  lo.shuffle = true;
  lo.drop_last = true;
  lo.seed = seed;
  lo.normalize = model.spec.normalize;
  dp.shard(lo);
  Loader loader(data.train, train_transform(min_short, max_short, crop), lo);
  SKINMTL_CHECK(loader.batches_per_epoch() > 0,
                "the training set (" << data.train.size() << " images) is smaller than one batch of " << batch);
  loader.start_epoch(epoch);
  for (int64_t k = 0; k < batch_in_epoch; ++k) {  // the batches this epoch already used
    Batch skip;
    SKINMTL_CHECK(loader.next(skip), "resume: epoch " << epoch << " has fewer batches than the checkpoint used");
  }

  const std::vector<std::string> columns = {"iter", "epoch", "lr", "loss", "lesion_loss", "location_loss",
                                            "heldout_loss", "heldout_map_class", "heldout_map_image",
                                            "heldout_top1", "heldout_top3", "images_per_s", "wall_s", "allreduce_s"};
  const std::unique_ptr<CsvLog> log = dp.open_log(out + "/log.csv", columns, resume, iteration);  // rank 0's

  auto save = [&](const std::string& why) {
    auto meta = mtl_model_metadata(model.spec);
    meta["iteration"] = std::to_string(iteration);
    meta["epoch"] = std::to_string(epoch);
    meta["batch_in_epoch"] = std::to_string(batch_in_epoch);
    meta["lr"] = format_csv_number(sgd.lr());
    const PlateauState& ps = plateau.state();
    meta["plateau_lr"] = format_csv_number(ps.lr);
    meta["plateau_best"] = format_csv_number(ps.best);
    meta["plateau_bad"] = std::to_string(ps.num_bad_epochs);
    meta["plateau_cooldown"] = std::to_string(ps.cooldown_counter);
    meta["train_fingerprint"] = fp;
    meta["saved_because"] = why;
    meta["wall_s"] = format_csv_number(clock.seconds());
    save_checkpoint(ckpt_path, net, sgd, meta);
  };
  auto plot = [&] {
    plot_csv(out + "/log.csv", out + "/curves.png", "iter", {"loss", "heldout_loss"},
             "train mtl: loss (" + std::string(mtl_tasks_name(tasks)) + ")");
  };

  StopSignal stop;  // Ctrl-C / SIGTERM: checkpoint and stop after this step
  Progress bar(iters, "train mtl", dp.console());
  bar.update(iteration);
  double smooth = NAN;  // the progress bar's average loss (log.csv has each step's)
  auto bar_text = [&] {
    char extra[96];
    std::snprintf(extra, sizeof extra, "avg loss %.4f  lr %.2g", smooth, sgd.lr());
    return std::string(extra);
  };
  std::string heldout_summary;
  const Transform eval_tf = test_transform(min_short, crop);
  while (iteration < iters) {
    Batch b;
    if (!loader.next(b)) {  // a new epoch
      ++epoch;
      batch_in_epoch = 0;
      loader.start_epoch(epoch);
      continue;
    }
    ++batch_in_epoch;
    sgd.zero_grad();
    auto o = net.forward(b.images.to(device));
    auto l = net.loss(o, b.lesions.to(device), b.locations.to(device));
    l.total.backward();
    dp.average_gradients();
    sgd.step();
    ++iteration;
    const auto item = [](const Tensor& t) { return t.defined() ? t.to(Device::CPU).item() : NAN; };
    const StepNumbers step = dp.agree({item(l.total), item(l.lesion), item(l.location)}, stop.received() != 0);
    const double loss = step.means[0];
    SKINMTL_CHECK(std::isfinite(loss), "the loss became " << loss << " at iteration " << iteration
                                                         << " (lower --lr?)");
    smooth = std::isnan(smooth) ? loss : 0.95 * smooth + 0.05 * loss;
    std::vector<std::pair<std::string, double>> row = {
        {"iter", (double)iteration}, {"epoch", (double)epoch}, {"lr", sgd.lr()}, {"loss", loss},
        {"images_per_s", bar.rate() * batch}, {"wall_s", clock.seconds()},
        {"allreduce_s", dp.allreduce_seconds()}};
    if (l.lesion.defined()) row.push_back({"lesion_loss", step.means[1]});
    if (l.location.defined()) row.push_back({"location_loss", step.means[2]});

    const bool last = iteration == iters;
    if ((iteration % eval_every == 0 || last) && dp.is_root()) {
      if (last) bar.finish(bar_text());  // the final evaluation draws its own bar below
      MtlPredictions p = predict_mtl(net, data.val, eval_tf, model.spec.normalize, device, batch, threads,
                                     false, /*show_progress=*/last);
      MtlMetrics m = mtl_metrics(p, data.val);
      const double held = (std::isnan(p.lesion_loss) ? 0 : p.lesion_loss) +
                          (std::isnan(p.location_loss) ? 0 : p.location_loss);
      row.push_back({"heldout_loss", held});
      if (last) {  // printed at the end, after the progress bar
        heldout_summary = "held-out (" + std::to_string(data.val.size()) + " images) at iteration " +
                          std::to_string(iteration) + ": loss " + fixed4(held);
        if (m.has_lesion)
          heldout_summary += "  mAP-class " + fixed4(m.map_class.map.value_or(NAN)) + "  mAP-image " +
                             fixed4(m.map_image.map.value_or(NAN));
        if (m.has_location) heldout_summary += "  top-1 " + fixed4(m.top1) + "  top-3 " + fixed4(m.top3);
      }
      if (m.has_lesion) {
        row.push_back({"heldout_map_class", m.map_class.map.value_or(NAN)});
        row.push_back({"heldout_map_image", m.map_image.map.value_or(NAN)});
      }
      if (m.has_location) {
        row.push_back({"heldout_top1", m.top1});
        row.push_back({"heldout_top3", m.top3});
      }
      // Only scheduled evaluations drive the plateau schedule: the extra one at
      // the end of a run must not, or a run stopped at --iters N and resumed
      // would diverge from one that never stopped.
      const double new_lr = iteration % eval_every == 0 ? plateau.update(held) : sgd.lr();
      if (new_lr != sgd.lr()) {
        std::fprintf(stderr, "\n  held-out loss plateaued: lr %g -> %g\n", sgd.lr(), new_lr);
        sgd.set_lr(new_lr);
      }
    }
    if (iteration % eval_every == 0) sgd.set_lr(dp.from_root(sgd.lr()));  // rank 0's plateau decision
    if (!dp.is_root()) {
      if (step.stop) {
        dp.barrier();  // rank 0 saves the checkpoint first
        return 130;
      }
      continue;
    }
    log->log(row);
    bar.update(iteration, bar_text());
    if (iteration % eval_every == 0 || last) plot();
    if (iteration % ckpt_every == 0 || iteration % eval_every == 0 || last) save("schedule");
    if (step.stop) {
      bar.finish();
      save("signal");
      plot();
      std::fprintf(stderr, "stopped by a signal at iteration %lld; checkpoint %s (continue with --resume)\n",
                   (long long)iteration, ckpt_path.c_str());
      dp.barrier();
      return 130;
    }
  }
  bar.finish();
  if (!dp.is_root()) return 0;
  if (!heldout_summary.empty()) std::printf("%s\n", heldout_summary.c_str());
  auto meta = mtl_model_metadata(model.spec);
  meta["iteration"] = std::to_string(iteration);
  // (No wall time here: the model file of a resumed run must equal, byte for
  // byte, that of a run never stopped. log.csv and checkpoints carry wall_s.)
  save_safetensors(out + "/model.safetensors", [&] {
    TensorFile f = module_state(net);
    f.metadata = meta;
    return f;
  }());
  std::printf("model: %s/model.safetensors  log: %s/log.csv  curves: %s/curves.png\n", out.c_str(), out.c_str(),
              out.c_str());
  return 0;
}

int train_detseg(int argc, char** argv);  // tools/skinmtl/train_detseg.cpp

int cmd_train(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help") {
    std::fputs("usage: skinmtl train <model> [options]\n\nmodels:\n"
               "  detseg   the Song et al. detect + classify + segment network ('skinmtl train detseg --help')\n"
               "  mtl      the Liao & Luo lesion + body-location classifier ('skinmtl train mtl --help')\n"
               "  segcls   the Yang et al. lesion segmentation + melanoma / seborrheic keratosis model\n"
               "           ('skinmtl train segcls --help')\n",
               argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string model = argv[1];
  if (model == "detseg") return train_detseg(argc - 1, argv + 1);
  if (model == "mtl") return train_mtl(argc - 1, argv + 1);
  if (model == "segcls") return train_segcls(argc - 1, argv + 1);
  std::fprintf(stderr, "skinmtl train: unknown model '%s' (models: detseg, mtl, segcls)\n", model.c_str());
  return 2;
}

}  // namespace skinmtl
