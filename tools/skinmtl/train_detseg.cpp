// skinmtl train detseg: train the detect + classify + segment network of Song
// et al. (2019) (nets/detseg.h) with their three-phase schedule.
//
// Defaults are the paper's (section III-B): SGD with lr 0.001, momentum 0.9,
// weight decay 1e-4, 2 images per batch, and, from the Matterport Mask R-CNN
// whose settings these are, the gradient clipped to a global norm of 5
// (framework/grad_clip.h; the paper does not mention it, but without it eq.
// 5's large Jaccard term throws a fresh mask head off in a few steps); phase 1 trains the three subnets
// (the RoI heads), phase 2 the layers from the RPN up (FPN, RPN, heads), phase
// 3 every layer at lr / 10. The paper trains 40, 80 and 40 epochs of 1000
// steps: 40000, 80000 and 40000 iterations (--phase1/2/3). Images are
// letterboxed to a square of --size (1024 in the paper; the ISIC 2017 copy
// here is 256 x 192, so 256 suits it), their per-channel mean subtracted, and
// augmented as the paper says (one of six versions, io/seg_augment.h).
//
// Files in --out, as `train mtl`: log.csv (one row per iteration; held-out
// columns at each evaluation), curves.png and loss_terms.png (redrawn at each
// evaluation), checkpoint.safetensors (every --ckpt-every iterations, at each
// evaluation, at the end of each phase and on SIGINT/SIGTERM), model.safetensors
// (the final model; tools/skinmtl/detseg_common.h reads it back).
//
// Resume (--resume) continues from checkpoint.safetensors exactly: the model,
// the momentum, and the data order (the loader is deterministic in (seed,
// epoch, sample), and the run skips the batches of the current epoch it had
// already used); the phase and its learning rate follow from the iteration, and
// the anchor / RoI samples of iteration i draw from an Rng seeded with (seed,
// i). Continuing a run gives the same weights as never stopping it (on the CPU
// bit for bit; tested).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>

#include <nlohmann/json.hpp>

#include "app/data_parallel.h"
#include "app/iterations.h"
#include "app/run_clock.h"
#include "app/stop_signal.h"
#include "figures/plot.h"
#include "framework/autograd.h"
#include "framework/grad_clip.h"
#include "framework/optimizer.h"
#include "io/checkpoint.h"
#include "io/csv_log.h"
#include "io/progress.h"
#include "io/seg_data.h"
#include "io/seg_loader.h"
#include "metrics/metrics.h"
#include "metrics/seg_metrics.h"
#include "tools/skinmtl/args.h"
#include "tools/skinmtl/commands.h"
#include "tools/skinmtl/detseg_common.h"

namespace skinmtl {

namespace {

const char* kHelp =
    "usage: skinmtl train detseg [options]\n"
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
    "model:\n"
    "  --weights FILE      ImageNet ResNet-50 (default weights/resnet50_imagenet.safetensors);\n"
    "                      none: random initialisation\n"
    "  --bn MODE           frozen | batch (default: frozen with pretrained weights, batch with none)\n"
    "  --channels N        FPN width (default 256)\n"
    "  --rois N            sampled RoIs per image (default 128)\n"
    "training (paper defaults):\n"
    "  --phase1 N          iterations of phase 1: the RoI heads (default 40000)\n"
    "  --phase2 N          iterations of phase 2: FPN, RPN and heads (default 80000)\n"
    "  --phase3 N          iterations of phase 3: all layers at lr / 10 (default 40000)\n"
    "  --iters N           N iterations in all, shared by the phases in the proportions above\n"
    "                      (the paper's 1:2:1 by default)\n"
    "  --batch N           images per iteration, over all processes (default 2)\n"
    "  --lr X              base learning rate (default 0.001)\n"
    "  --momentum X        (default 0.9)\n"
    "  --wd X              weight decay (default 0.0001)\n"
    "  --clip-norm X       scale the gradient down to this global norm when longer (default 5,\n"
    "                      Matterport's Mask R-CNN, whose settings the paper uses; 0: off)\n"
    "  --eval-every N      held-out loss, mean Jaccard and melanoma AUC every N iterations\n"
    "                      (default 1000; 0: never)\n"
    "  --ckpt-every N      checkpoint every N iterations (default 500)\n"
    "  --out DIR           (default runs/detseg)\n"
    "  --resume            continue from DIR/checkpoint.safetensors\n"
    SKINMTL_SKIP_BAD_ROWS_HELP
    "  --threads N         loader threads (default 2)\n"
    "  --device D          auto | cpu | cuda (default auto)\n"
    SKINMTL_PRECISION_HELP
    SKINMTL_SYNC_BN_HELP
    "  --seed N            initialisation, data order and sampling seed (default 1)\n";

// The options that must not change when a run is resumed.
std::string fingerprint(const Args& a, const SegData& d, const std::string& bn) {
  nlohmann::json j;
  for (const char* k : {"weights", "channels", "rois", "size", "augment", "batch", "lr", "momentum", "wd",
                        "clip-norm", "phase1", "phase2", "seed", "eval-every"})
    j[k] = a.get(k, "");
  // Only when given, so that checkpoints written before --iters existed resume.
  if (a.has("iters")) j["iters"] = a.get("iters", "");
  j["data"] = d.description;
  j["bn_mode"] = bn;
  return j.dump();
}

// The phase (1, 2, 3) that iteration `it` (0-based) belongs to.
int phase_of(int64_t it, int64_t p1, int64_t p2) { return it < p1 ? 1 : it < p1 + p2 ? 2 : 3; }

// The Rng of iteration `it`'s anchor and RoI samples: its own stream, so a
// resumed run draws the same samples as one that never stopped. Each rank of
// a data-parallel job has its own (rank 0's is the one-process stream).
Rng iteration_rng(uint64_t seed, int64_t it, int rank) {
  return Rng(loader_sample_seed(seed, -1 - it, 0x5eed + (uint64_t)rank));
}

struct HeldOut {
  double loss = NAN, jaccard = NAN, auc = NAN;
};

// Held-out numbers on the val list: the mean loss (eval mode, no tape, fixed
// samples), the mean Jaccard index of the predicted masks against the
// letterboxed ground truth, and the
// ROC AUC of the malignancy probability for melanoma (nets/seg_metrics.h's
// per-image JA, its conventions for empty masks).
HeldOut evaluate(DetSegNet& net, const std::vector<SegSample>& val, const DetSegSpec& spec, Device device,
                 int batch, int threads, uint64_t seed, bool show_progress) {
  HeldOut h;
  if (val.empty()) return h;
  NoGradGuard no_grad;
  net.eval();
  LoaderOptions lo;
  lo.batch_size = batch;
  lo.threads = threads;
  lo.shuffle = false;
  lo.seed = seed;
  lo.normalize = spec.normalize;
  SegLoader loader(val, song_test_transform(spec.size), lo);
  loader.start_epoch(0);
  Rng rng(seed);
  double loss_sum = 0, jac_sum = 0;
  int64_t batches = 0, images = 0;
  std::vector<double> scores;
  std::vector<int> labels;
  std::optional<Progress> bar;  // the final evaluation's own bar
  if (show_progress) bar.emplace(loader.batches_per_epoch(), "held-out");
  SegBatch b;
  while (loader.next(b)) {
    if (bar) bar->update(batches);
    const Tensor x = b.images.to(device);
    loss_sum += net.loss(x, detseg_targets(b, device), rng).total.to(Device::CPU).item();
    ++batches;
    const std::vector<DetSegOutput> out = net.predict(x);
    const std::vector<double> gt = b.masks.to_vector(), mel = b.melanoma.to_vector();
    const size_t px = (size_t)spec.size * spec.size;
    for (size_t i = 0; i < out.size(); ++i) {
      Image truth(spec.size, spec.size, 1);
      for (size_t k = 0; k < px; ++k) truth.data[k] = gt[i * px + k] > 0.5 ? 255 : 0;
      jac_sum += seg_scores(seg_counts(out[i].mask, truth)).ja;
      scores.push_back(out[i].malignant);
      labels.push_back(mel[i] > 0.5 ? 1 : 0);
      ++images;
    }
  }
  if (bar) bar->finish();
  net.train();
  h.loss = loss_sum / (double)batches;
  h.jaccard = jac_sum / (double)images;
  h.auc = roc_auc(scores, labels).value_or(NAN);
  return h;
}

}  // namespace

int train_detseg(int argc, char** argv) {
  Args args(argc, argv,
            {"data", "data-dir", "size", "augment", "weights", "bn", "channels", "rois", "phase1", "phase2",
             "phase3", "iters", "batch", "lr", "momentum", "wd", "clip-norm", "eval-every", "ckpt-every", "out", "threads",
             "device", "seed", "precision", "sync-bn"},
            {"resume", "skip-bad-rows"});
  if (args.help()) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  int64_t p1 = args.get_int("phase1", 40000), p2 = args.get_int("phase2", 80000), p3 = args.get_int("phase3", 40000);
  if (args.has("iters")) {  // the phases share N in their proportions
    const std::vector<int64_t> shares = split_iterations(args.get_int("iters", 0), {p1, p2, p3});
    p1 = shares[0], p2 = shares[1], p3 = shares[2];
  }
  const int64_t iters = p1 + p2 + p3;
  const int batch = (int)args.get_int("batch", 2);
  const int size = (int)args.get_int("size", 1024);
  const int eval_every = (int)args.get_int("eval-every", 1000);
  const int ckpt_every = (int)args.get_int("ckpt-every", 500);
  const int threads = (int)args.get_int("threads", 2);
  const uint64_t seed = (uint64_t)args.get_int("seed", 1);
  const std::string out = args.get("out", "runs/detseg");
  const std::string weights = args.get("weights", "weights/resnet50_imagenet.safetensors");
  const std::string bn = args.get("bn", weights == "none" ? "batch" : "frozen");
  const std::string augment = args.get("augment", "song");
  SKINMTL_USAGE_CHECK(bn == "frozen" || bn == "batch", "--bn must be frozen or batch, got '" << bn << "'");
  SKINMTL_USAGE_CHECK(augment == "song" || augment == "none", "--augment must be song or none, got '" << augment << "'");
  SKINMTL_USAGE_CHECK(p1 >= 0 && p2 >= 0 && p3 >= 0 && iters > 0, "--phase1/2/3 must be >= 0, and not all 0");
  SKINMTL_USAGE_CHECK(batch > 0 && size >= 32 && eval_every >= 0 && ckpt_every > 0 && threads > 0,
                "batch, ckpt-every and threads must be positive, eval-every >= 0, size >= 32");
  const Device device = parse_device(args.get("device", "auto"));
  const std::string precision = apply_precision(args, device);
  DataParallel dp(batch);
  const double base_lr = args.get_double("lr", 1e-3);
  const double clip_norm = args.get_double("clip-norm", 5.0);
  SKINMTL_USAGE_CHECK(clip_norm >= 0, "--clip-norm must be >= 0, got " << clip_norm);

  std::vector<ImageProblem> skipped;
  const SegData data = load_seg_data(args.get("data", "synthetic"), args.get("data-dir", "../shared/data"),
                                     args.flag("skip-bad-rows") ? &skipped : nullptr);
  SKINMTL_CHECK(!data.train.empty(), "no training images in " << data.description);
  std::filesystem::create_directories(out);
  if (dp.is_root()) report_skipped_rows(skipped, out);
  const std::string ckpt_path = out + "/checkpoint.safetensors";
  const bool resume = args.flag("resume");
  if (dp.is_root())
    std::printf("skinmtl train detseg: %s\n  %lld + %lld + %lld iterations of %d images at %dx%d on %s\n",
              data.description.c_str(), (long long)p1, (long long)p2, (long long)p3, batch, size, size,
              (device_name(device) + precision).c_str());

  DetSegSpec base;
  base.size = size;
  base.config.channels = (int)args.get_int("channels", 256);
  base.config.roi_sample.batch_size = (int)args.get_int("rois", 128);
  SKINMTL_USAGE_CHECK(base.config.channels > 0 && base.config.roi_sample.batch_size > 0,
                "--channels and --rois must be positive");
  DetSegModel model = new_detseg_model(base, weights, seed);
  DetSegNet& net = *model.net;
  // The model file must rebuild this network: its spec reads back to itself.
  const std::string spec_json = detseg_spec_to_json(model.spec);
  SKINMTL_CHECK(detseg_spec_to_json(detseg_spec_from_json(spec_json, "the new model's spec")) == spec_json,
                "internal: the model spec does not survive its JSON round trip: " << spec_json);
  net.backbone->set_bn_frozen(bn == "frozen");
  dp.print_plan(batch, apply_sync_bn(args, net, dp));
  net.to(device);
  net.train();
  SGDOptions so;
  so.lr = base_lr;
  so.momentum = args.get_double("momentum", 0.9);
  so.weight_decay = args.get_double("wd", 1e-4);
  SGD sgd(net.parameters(), so);

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
    sgd.set_steps(iteration);
    if (dp.is_root())
      std::printf("  resumed from %s at iteration %lld (phase %d, epoch %lld)\n", ckpt_path.c_str(),
                  (long long)iteration, phase_of(iteration, p1, p2), (long long)epoch);
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
  SegLoader loader(data.train, augment == "song" ? song_train_transform(size) : song_test_transform(size), lo);
  SKINMTL_CHECK(loader.batches_per_epoch() > 0,
                "the training set (" << data.train.size() << " images) is smaller than one batch of " << batch);
  loader.start_epoch(epoch);
  for (int64_t k = 0; k < batch_in_epoch; ++k) {  // the batches this epoch already used
    SegBatch skip;
    SKINMTL_CHECK(loader.next(skip), "resume: epoch " << epoch << " has fewer batches than the checkpoint used");
  }

  const std::vector<std::string> loss_terms = {"rpn_cls", "rpn_reg", "cls", "reg", "mask"};
  std::vector<std::string> columns = {"iter", "phase", "epoch", "lr", "loss"};
  columns.insert(columns.end(), loss_terms.begin(), loss_terms.end());
  for (const char* c : {"grad_norm", "positive_anchors", "foreground_rois", "heldout_loss", "heldout_jaccard", "heldout_auc",
                        "images_per_s", "wall_s", "allreduce_s"})
    columns.push_back(c);
  const std::unique_ptr<CsvLog> log = dp.open_log(out + "/log.csv", columns, resume, iteration);  // rank 0's

  auto save = [&](const std::string& why) {
    auto meta = detseg_model_metadata(model.spec);
    meta["iteration"] = std::to_string(iteration);
    meta["epoch"] = std::to_string(epoch);
    meta["batch_in_epoch"] = std::to_string(batch_in_epoch);
    meta["phase"] = std::to_string(phase_of(iteration > 0 ? iteration - 1 : 0, p1, p2));
    meta["lr"] = format_csv_number(sgd.lr());
    meta["train_fingerprint"] = fp;
    meta["saved_because"] = why;
    meta["wall_s"] = format_csv_number(clock.seconds());
    save_checkpoint(ckpt_path, net, sgd, meta);
  };
  auto plot = [&] {
    plot_csv(out + "/log.csv", out + "/curves.png", "iter", {"loss", "heldout_loss"}, "train detseg: loss");
    plot_csv(out + "/log.csv", out + "/loss_terms.png", "iter", loss_terms, "train detseg: loss terms (log scale)", true);
  };

  StopSignal stop;  // Ctrl-C / SIGTERM: checkpoint and stop after this step
  Progress bar(iters, "train detseg", dp.console());
  bar.update(iteration);
  double smooth = NAN;  // the progress bar's average loss (log.csv has each step's)
  int phase = 0;
  auto bar_text = [&] {
    char extra[96];
    std::snprintf(extra, sizeof extra, "phase %d  avg loss %.4f  lr %.2g", phase, smooth, sgd.lr());
    return std::string(extra);
  };
  std::string heldout_summary;
  while (iteration < iters) {
    const int want = phase_of(iteration, p1, p2);
    if (want != phase) {
      phase = want;
      set_detseg_phase(net, phase);
      sgd.set_lr(base_lr * detseg_phase_lr_factor(phase));
    }
    SegBatch b;
    if (!loader.next(b)) {  // a new epoch
      ++epoch;
      batch_in_epoch = 0;
      loader.start_epoch(epoch);
      continue;
    }
    ++batch_in_epoch;
    sgd.zero_grad();
    Rng rng = iteration_rng(seed, iteration, dp.comm().rank());
    DetSegLosses l = net.loss(b.images.to(device), detseg_targets(b, device), rng);
    l.total.backward();
    dp.average_gradients();  // clipping sees the whole batch's gradient
    const double grad_norm = clip_grad_norm(sgd.params(), clip_norm);
    sgd.step();
    ++iteration;
    const Tensor* terms[] = {&l.total, &l.rpn_cls, &l.rpn_reg, &l.cls, &l.reg, &l.mask};
    std::vector<double> numbers;
    for (const Tensor* t : terms) numbers.push_back(t->to(Device::CPU).item());
    numbers.push_back((double)l.positive_anchors);
    numbers.push_back((double)l.foreground_rois);
    const StepNumbers step = dp.agree(numbers, stop.received() != 0);
    const double loss = step.means[0];
    SKINMTL_CHECK(std::isfinite(loss) && std::isfinite(grad_norm),
                  "the loss became " << loss << " (gradient norm " << grad_norm << ") at iteration " << iteration
                                     << " (lower --lr?)");
    smooth = std::isnan(smooth) ? loss : 0.95 * smooth + 0.05 * loss;
    std::vector<std::pair<std::string, double>> row = {
        {"iter", (double)iteration}, {"phase", (double)phase}, {"epoch", (double)epoch}, {"lr", sgd.lr()},
        {"loss", loss}, {"grad_norm", grad_norm},
        // counts over the whole batch (the mean over ranks times the ranks)
        {"positive_anchors", step.means[6] * dp.ranks()}, {"foreground_rois", step.means[7] * dp.ranks()},
        {"images_per_s", bar.rate() * batch}, {"wall_s", clock.seconds()},
        {"allreduce_s", dp.allreduce_seconds()}};
    for (size_t k = 0; k < loss_terms.size(); ++k) row.push_back({loss_terms[k], step.means[1 + k]});

    const bool last = iteration == iters;
    const bool phase_end = last || phase_of(iteration, p1, p2) != phase;
    const bool evaluate_now = eval_every > 0 && (iteration % eval_every == 0 || last);
    if (!dp.is_root()) {  // rank 0 evaluates and writes the files
      if (step.stop) {
        dp.barrier();  // rank 0 saves the checkpoint first
        return 130;
      }
      continue;
    }
    if (evaluate_now) {
      if (last) bar.finish(bar_text());  // the final evaluation draws its own bar below
      const HeldOut h = evaluate(net, data.val, model.spec, device, batch, threads, seed, last);
      if (last)  // printed at the end, after the progress bar
        heldout_summary = "held-out (" + std::to_string(data.val.size()) + " images) at iteration " +
                          std::to_string(iteration) + ": loss " + fixed4(h.loss) + "  Jaccard " + fixed4(h.jaccard) +
                          "  melanoma AUC " + fixed4(h.auc);
      row.push_back({"heldout_loss", h.loss});
      row.push_back({"heldout_jaccard", h.jaccard});
      row.push_back({"heldout_auc", h.auc});
    }
    log->log(row);
    bar.update(iteration, bar_text());
    if (evaluate_now || phase_end) plot();
    if (iteration % ckpt_every == 0 || evaluate_now || phase_end) save("schedule");
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
  auto meta = detseg_model_metadata(model.spec);
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

}  // namespace skinmtl
