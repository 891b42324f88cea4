// skinmtl train segcls: train the Yang et al. (2017) model, lesion
// segmentation and two binary classifications (melanoma vs the rest,
// seborrheic keratosis vs the rest) on a shared ResNet-50 (nets/segcls.h).
//
// Defaults: images resized to 192x256 (the ISIC 2017 images here are 256 wide,
// 192 high), random horizontal and vertical flips (io/seg_augment.h,
// yang_train_transform); SGD, batch 8, lr 1e-3, momentum 0.9, weight decay
// 1e-4, the new layers (decoder, mask head, the two classifiers) at 10x (weights) /
// 20x (biases); lr x0.1 when the held-out loss plateaus (as `train mtl`);
// loss = per-pixel BCE + melanoma BCE + seborrheic keratosis BCE, each weight
// an option, and an optional soft Jaccard term. The paper's own optimiser
// settings are not in its abstract; these follow `train mtl` (Caffe-style
// fine-tuning).
//
// Files in --out: log.csv (one row per iteration; held-out columns filled at
// each evaluation), curves.png (losses) and metrics.png (held-out Jaccard and
// AUCs), redrawn at each evaluation, checkpoint.safetensors (the training
// state, every --ckpt-every iterations, at each evaluation and on
// SIGINT/SIGTERM), model.safetensors (the final model, for `eval segcls`).
//
// The held-out evaluation during training works at the network's input size
// (the masks resized as the images are); `eval segcls` measures at each source
// image's own size, as ISIC 2017 does.
//
// Resume (--resume) continues from checkpoint.safetensors exactly, as `train
// mtl` does: model, momentum, learning rate, plateau state and the data order
// (the loader is deterministic in (seed, epoch, sample)). On the CPU a resumed
// run gives the same model, bit for bit, as one never stopped (tested).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include <nlohmann/json.hpp>

#include "app/data_parallel.h"
#include "app/run_clock.h"
#include "app/stop_signal.h"
#include "figures/plot.h"
#include "framework/lr_schedule.h"
#include "framework/optimizer.h"
#include "io/checkpoint.h"
#include "io/csv_log.h"
#include "io/progress.h"
#include "io/seg_loader.h"
#include "metrics/metrics.h"
#include "metrics/seg_metrics.h"
#include "tools/skinmtl/args.h"
#include "tools/skinmtl/commands.h"
#include "tools/skinmtl/segcls_common.h"

namespace skinmtl {

namespace {

const char* kHelp =
    "usage: skinmtl train segcls [options]\n"
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
    "                      variants, for comparison)\n"
    "  --weights FILE      ImageNet ResNet-50 (default weights/resnet50_imagenet.safetensors;\n"
    "                      `make weights` makes it); none: random initialisation\n"
    "  --bn MODE           the trunk's batch norms: frozen (pretrained running statistics,\n"
    "                      as Caffe fine-tuning) | batch (batch statistics). Default frozen\n"
    "                      with pretrained weights, batch with --weights none. The decoder's\n"
    "                      batch norms always use batch statistics in training.\n"
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
    "  --no-flips          no random horizontal/vertical flips\n"
    "  --iters N           iterations (default 10000)\n"
    "  --batch N           images per iteration, over all processes (default 8)\n"
    "  --lr X              base learning rate (default 0.001)\n"
    "  --momentum X        (default 0.9)\n"
    "  --wd X              weight decay (default 0.0001)\n"
    "  --lr-schedule S     plateau (lr x0.1 when the held-out loss stops falling) | cosine\n"
    "                      (linear warm-up, then a half cosine to --final-lr-frac of --lr at\n"
    "                      --iters; for a fixed budget). Default plateau\n"
    "  --warmup N          cosine: warm-up iterations (default 100)\n"
    "  --final-lr-frac X   cosine: the lr at the end, as a fraction of --lr (default 0.01)\n"
    "  --patience N        plateau: evaluations without improvement before lr x0.1 (default 3)\n"
    "  --eval-every N      held-out evaluation every N iterations (default 500)\n"
    "  --ckpt-every N      checkpoint every N iterations (default 250)\n"
    "  --out DIR           (default runs/segcls)\n"
    "  --resume            continue from DIR/checkpoint.safetensors\n"
    SKINMTL_SKIP_BAD_ROWS_HELP
    "  --threads N         loader threads (default 2)\n"
    "  --device D          auto | cpu | cuda (default auto)\n"
    SKINMTL_PRECISION_HELP
    SKINMTL_SYNC_BN_HELP
    "  --seed N            initialisation and data-order seed (default 1)\n";

// The options that must not change when a run is resumed.
std::string fingerprint(const Args& a, const SegData& d, const std::string& bn) {
  nlohmann::json j;
  for (const char* k : {"tasks", "weights", "decoder", "new-lr-mult", "head-lr-mult", "lr-schedule", "warmup",
                        "final-lr-frac", "w-seg", "w-jaccard", "jaccard-smooth",
                        "w-mel", "w-sk", "size", "batch", "momentum", "wd", "seed", "patience", "eval-every"})
    j[k] = a.get(k, "");
  j["flips"] = !a.flag("no-flips");
  // The cosine schedule's length is part of the recipe: a resumed run with
  // another --iters would follow another curve.
  if (a.get("lr-schedule", "plateau") == "cosine") j["iters"] = a.get("iters", "10000");
  j["data"] = d.description;
  j["bn_mode"] = bn;
  return j.dump();
}

std::vector<int> parse_widths(const std::string& text) {
  std::vector<int> w;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      w.push_back(std::stoi(item));
    } catch (const std::exception&) {
      SKINMTL_FAIL("--decoder takes four comma-separated widths, e.g. 256,128,64,32; got '" << text << "'");
    }
  }
  SKINMTL_USAGE_CHECK(w.size() == 4 && w[0] > 0 && w[1] > 0 && w[2] > 0 && w[3] > 0,
                "--decoder takes four positive widths, e.g. 256,128,64,32; got '" << text << "'");
  return w;
}

// Held-out numbers for the log: losses, the mean Jaccard index at the input
// size, the AUC of each binary task and their mean.
struct Heldout {
  SegClsPredictions p;
  double jaccard = NAN, auc_mel = NAN, auc_sk = NAN, auc_mean = NAN;
};

Heldout evaluate(SegClsNet& net, const SegData& data, const SegClsModelSpec& spec, const SegClsLossWeights& w,
                 Device device, int batch, int threads, bool show_progress) {
  Heldout h;
  h.p = predict_segcls(net, data.val, spec, w, device, batch, threads, /*keep_truth=*/true, show_progress);
  if (net.has_seg()) {
    std::vector<SegCounts> counts;
    for (size_t i = 0; i < h.p.masks.size(); ++i) counts.push_back(seg_counts(h.p.masks[i], h.p.truth[i]));
    h.jaccard = seg_metrics(counts).ja.value_or(NAN);
  }
  if (net.has_cls()) {
    std::vector<int> mel, sk;
    for (const SegSample& s : data.val) {
      mel.push_back(s.melanoma);
      sk.push_back(s.seborrheic_keratosis);
    }
    // NaN when the held-out set lacks a positive or a negative.
    h.auc_mel = roc_auc(h.p.melanoma, mel).value_or(NAN);
    h.auc_sk = roc_auc(h.p.sk, sk).value_or(NAN);
    h.auc_mean = (h.auc_mel + h.auc_sk) / 2;
  }
  return h;
}

}  // namespace

int train_segcls(int argc, char** argv) {
  Args args(argc, argv,
            {"data", "data-dir", "tasks", "weights", "bn", "decoder", "new-lr-mult", "head-lr-mult",
             "lr-schedule", "warmup", "final-lr-frac", "w-seg", "w-jaccard",
             "jaccard-smooth", "w-mel", "w-sk", "size", "iters", "batch", "lr", "momentum", "wd", "patience",
             "eval-every", "ckpt-every", "out", "threads", "device", "seed", "precision", "sync-bn"},
            {"resume", "no-flips", "skip-bad-rows"});
  if (args.help()) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  const int iters = (int)args.get_int("iters", 10000);
  const int batch = (int)args.get_int("batch", 8);
  const int eval_every = (int)args.get_int("eval-every", 500);
  const int ckpt_every = (int)args.get_int("ckpt-every", 250);
  const int threads = (int)args.get_int("threads", 2);
  const uint64_t seed = (uint64_t)args.get_int("seed", 1);
  const std::string out = args.get("out", "runs/segcls");
  const std::string weights = args.get("weights", "weights/resnet50_imagenet.safetensors");
  const std::string bn = args.get("bn", weights == "none" ? "batch" : "frozen");
  SKINMTL_USAGE_CHECK(bn == "frozen" || bn == "batch", "--bn must be frozen or batch, got '" << bn << "'");
  SKINMTL_USAGE_CHECK(iters > 0 && batch > 0 && eval_every > 0 && ckpt_every > 0 && threads > 0,
                "iters, batch, eval-every, ckpt-every and threads must be positive");
  const Device device = parse_device(args.get("device", "auto"));
  const std::string precision = apply_precision(args, device);
  DataParallel dp(batch);

  SegClsModelSpec spec;
  spec.config.tasks = parse_segcls_tasks(args.get("tasks", "both"));
  spec.config.decoder_widths = parse_widths(args.get("decoder", "256,128,64,32"));
  spec.config.new_weight_lr_mult = (float)args.get_double("new-lr-mult", 1);
  spec.config.new_bias_lr_mult = 2 * spec.config.new_weight_lr_mult;
  spec.config.head_weight_lr_mult = (float)args.get_double("head-lr-mult", spec.config.new_weight_lr_mult);
  spec.config.head_bias_lr_mult = 2 * spec.config.head_weight_lr_mult;
  parse_size(args.get("size", "192x256"), &spec.input_h, &spec.input_w);
  SegClsLossWeights lw;
  lw.seg = args.get_double("w-seg", 1);
  lw.jaccard = args.get_double("w-jaccard", 0);
  lw.jaccard_smooth = args.get_double("jaccard-smooth", 100);
  lw.melanoma = args.get_double("w-mel", 1);
  lw.sk = args.get_double("w-sk", 1);

  std::vector<ImageProblem> skipped;
  const SegData data = load_seg_data(args.get("data", "synthetic"), args.get("data-dir", "../shared/data"),
                                     args.flag("skip-bad-rows") ? &skipped : nullptr);
  SKINMTL_CHECK(!data.val.empty(), "the data has no val rows to evaluate on (" << data.description << ")");
  std::filesystem::create_directories(out);
  if (dp.is_root()) report_skipped_rows(skipped, out);
  const std::string ckpt_path = out + "/checkpoint.safetensors";
  const bool resume = args.flag("resume");
  if (dp.is_root())
    std::printf("skinmtl train segcls: %s\n  tasks %s at %dx%d on %s, %d iterations of %d\n", data.description.c_str(),
              segcls_tasks_name(spec.config.tasks), spec.input_h, spec.input_w, (device_name(device) + precision).c_str(), iters, batch);

  SegClsModel model = new_segcls_model(spec, weights, seed);
  SegClsNet& net = *model.net;
  net.set_trunk_bn_frozen(bn == "frozen");
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
  const std::string schedule = args.get("lr-schedule", "plateau");
  SKINMTL_USAGE_CHECK(schedule == "plateau" || schedule == "cosine",
                "--lr-schedule must be plateau or cosine, got '" << schedule << "'");
  const int64_t warmup = schedule == "cosine" ? args.get_int("warmup", 100) : 0;
  SKINMTL_USAGE_CHECK(warmup >= 0 && warmup < iters, "--warmup must be in [0, --iters), got " << warmup);
  const WarmupCosineLR cosine(so.lr, warmup, iters, args.get_double("final-lr-frac", 0.01));

  int64_t iteration = 0, epoch = 0, batch_in_epoch = 0;
  RunClock clock;  // wall time of the whole run: the checkpoint's, plus this process's
  const std::string fp = fingerprint(args, data, bn);
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
  const bool flips = !args.flag("no-flips");
  SegLoader loader(data.train, yang_train_transform(spec.input_h, spec.input_w, flips, flips), lo);
  SKINMTL_CHECK(loader.batches_per_epoch() > 0,
                "the training set (" << data.train.size() << " images) is smaller than one batch of " << batch);
  loader.start_epoch(epoch);
  for (int64_t k = 0; k < batch_in_epoch; ++k) {  // the batches this epoch already used
    SegBatch skip;
    SKINMTL_CHECK(loader.next(skip), "resume: epoch " << epoch << " has fewer batches than the checkpoint used");
  }

  const std::vector<std::string> columns = {
      "iter",           "epoch",           "lr",           "loss",           "seg_loss",
      "jaccard_loss",   "melanoma_loss",   "sk_loss",      "heldout_loss",   "heldout_jaccard",
      "heldout_auc_melanoma", "heldout_auc_sk", "heldout_auc_mean", "images_per_s", "wall_s", "allreduce_s"};
  const std::unique_ptr<CsvLog> log = dp.open_log(out + "/log.csv", columns, resume, iteration);  // rank 0's

  auto save = [&](const std::string& why) {
    auto meta = segcls_model_metadata(model.spec);
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
  const std::string tasks_name = segcls_tasks_name(spec.config.tasks);
  auto plot = [&] {
    plot_csv(out + "/log.csv", out + "/curves.png", "iter", {"loss", "heldout_loss"},
             "train segcls: loss (" + tasks_name + ")");
    std::vector<std::string> metric_cols;
    if (net.has_seg()) metric_cols.push_back("heldout_jaccard");
    if (net.has_cls()) metric_cols.insert(metric_cols.end(), {"heldout_auc_melanoma", "heldout_auc_sk"});
    plot_csv(out + "/log.csv", out + "/metrics.png", "iter", metric_cols,
             "train segcls: held-out Jaccard / AUC (" + tasks_name + ")");
  };

  StopSignal stop;  // Ctrl-C / SIGTERM: checkpoint and stop after this step
  Progress bar(iters, "train segcls", dp.console());
  bar.update(iteration);
  double smooth = NAN;  // the progress bar's average loss (log.csv has each step's)
  auto bar_text = [&] {
    char extra[96];
    std::snprintf(extra, sizeof extra, "avg loss %.4f  lr %.2g", smooth, sgd.lr());
    return std::string(extra);
  };
  std::string heldout_summary;
  while (iteration < iters) {
    SegBatch b;
    if (!loader.next(b)) {  // a new epoch
      ++epoch;
      batch_in_epoch = 0;
      loader.start_epoch(epoch);
      continue;
    }
    ++batch_in_epoch;
    if (schedule == "cosine") sgd.set_lr(cosine.lr(iteration));
    sgd.zero_grad();
    auto o = net.forward(b.images.to(device));
    auto l = net.loss(o, b.masks.to(device), b.melanoma.to(device), b.seborrheic_keratosis.to(device), lw);
    l.total.backward();
    dp.average_gradients();
    sgd.step();
    ++iteration;
    const auto item = [](const Tensor& t) { return t.defined() ? t.to(Device::CPU).item() : NAN; };
    const StepNumbers step =
        dp.agree({item(l.total), item(l.seg), item(l.jaccard), item(l.melanoma), item(l.sk)}, stop.received() != 0);
    const double loss = step.means[0];
    SKINMTL_CHECK(std::isfinite(loss), "the loss became " << loss << " at iteration " << iteration
                                                         << " (lower --lr?)");
    smooth = std::isnan(smooth) ? loss : 0.95 * smooth + 0.05 * loss;
    std::vector<std::pair<std::string, double>> row = {
        {"iter", (double)iteration}, {"epoch", (double)epoch}, {"lr", sgd.lr()}, {"loss", loss},
        {"images_per_s", bar.rate() * batch}, {"wall_s", clock.seconds()},
        {"allreduce_s", dp.allreduce_seconds()}};
    if (l.seg.defined()) row.push_back({"seg_loss", step.means[1]});
    if (l.jaccard.defined()) row.push_back({"jaccard_loss", step.means[2]});
    if (l.melanoma.defined()) row.push_back({"melanoma_loss", step.means[3]});
    if (l.sk.defined()) row.push_back({"sk_loss", step.means[4]});

    const bool last = iteration == iters;
    if ((iteration % eval_every == 0 || last) && dp.is_root()) {
      if (last) bar.finish(bar_text());  // the final evaluation draws its own bar below
      const Heldout h = evaluate(net, data, model.spec, lw, device, batch, threads, last);
      row.push_back({"heldout_loss", h.p.total_loss});
      if (last) {  // printed at the end, after the progress bar
        heldout_summary = "held-out (" + std::to_string(data.val.size()) + " images) at iteration " +
                          std::to_string(iteration) + ": loss " + fixed4(h.p.total_loss);
        if (net.has_seg()) heldout_summary += "  Jaccard " + fixed4(h.jaccard);
        if (net.has_cls())
          heldout_summary += "  AUC melanoma " + fixed4(h.auc_mel) + "  AUC SK " + fixed4(h.auc_sk) + "  mean " +
                             fixed4(h.auc_mean);
      }
      if (net.has_seg()) row.push_back({"heldout_jaccard", h.jaccard});
      if (net.has_cls()) {
        row.push_back({"heldout_auc_melanoma", h.auc_mel});
        row.push_back({"heldout_auc_sk", h.auc_sk});
        row.push_back({"heldout_auc_mean", h.auc_mean});
      }
      // Only scheduled evaluations drive the plateau schedule (as in train mtl:
      // a run stopped at --iters N and resumed must not diverge from one that
      // never stopped).
      const double new_lr =
          schedule == "plateau" && iteration % eval_every == 0 ? plateau.update(h.p.total_loss) : sgd.lr();
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
  auto meta = segcls_model_metadata(model.spec);
  meta["iteration"] = std::to_string(iteration);
  // (No wall time here: the model file of a resumed run must equal, byte for
  // byte, that of a run never stopped. log.csv and checkpoints carry wall_s.)
  save_safetensors(out + "/model.safetensors", [&] {
    TensorFile f = module_state(net);
    f.metadata = meta;
    return f;
  }());
  std::printf("model: %s/model.safetensors  log: %s/log.csv  curves: %s/curves.png, %s/metrics.png\n", out.c_str(),
              out.c_str(), out.c_str(), out.c_str());
  return 0;
}

}  // namespace skinmtl
