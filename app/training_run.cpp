#include "app/training_run.h"

#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "app/run_clock.h"
#include "app/stop_signal.h"
#include "framework/autograd.h"
#include "framework/cuda_graph.h"
#include "framework/host_read.h"
#include "framework/lr_schedule.h"
#include "framework/ops.h"
#include "io/checkpoint.h"
#include "io/csv_log.h"
#include "figures/plot.h"
#include "io/progress.h"

namespace skinmtl {

// ---- options -----------------------------------------------------------------------------------

std::vector<std::string> training_option_names(const TrainingDefaults& d) {
  std::vector<std::string> names = {"weights", "bn", "iters", "batch", "lr", "momentum", "wd", "eval-every",
                                    "ckpt-every", "out", "threads", "device", "precision", "cuda-graph",
                                    "sync-bn", "seed"};
  if (d.lr_schedules)
    for (const char* n : {"lr-schedule", "warmup", "final-lr-frac", "patience"}) names.push_back(n);
  return names;
}

std::vector<std::string> training_flag_names() { return {"resume", "skip-bad-rows"}; }

std::string training_model_help() {
  return "  --weights FILE      ImageNet ResNet-50 (default weights/resnet50_imagenet.safetensors;\n"
         "                      `make weights` makes it); none: random initialisation\n"
         "  --bn MODE           the ResNet-50's batch norms: frozen (the pretrained running\n"
         "                      statistics, as Caffe fine-tuning) | batch (batch statistics).\n"
         "                      Default frozen with pretrained weights, batch with --weights none\n";
}

std::string training_optimizer_help(const TrainingDefaults& d) {
  char b[512];
  std::string h;
  std::snprintf(b, sizeof b, "  --iters N           %s\n",
                d.iters_help.empty() ? ("iterations (default " + std::to_string(d.iters) + ")").c_str()
                                     : d.iters_help.c_str());
  h += b;
  std::snprintf(b, sizeof b, "  --batch N           images per iteration, over all processes (default %d)\n", d.batch);
  h += b;
  h += "  --lr X              base learning rate (default 0.001)\n"
       "  --momentum X        (default 0.9)\n"
       "  --wd X              weight decay (default 0.0001)\n";
  if (d.lr_schedules)
    h += "  --lr-schedule S     plateau (lr x0.1 when the held-out loss stops falling) | cosine\n"
         "                      (linear warm-up, then a half cosine to --final-lr-frac of --lr at\n"
         "                      --iters; for a fixed budget). Default plateau\n"
         "  --patience N        plateau: evaluations without improvement before lr x0.1 (default 3)\n"
         "  --warmup N          cosine: warm-up iterations (default 100)\n"
         "  --final-lr-frac X   cosine: the lr at the end, as a fraction of --lr (default 0.01)\n";
  return h;
}

std::string training_run_help(const TrainingDefaults& d) {
  char b[512];
  std::string h;
  std::snprintf(b, sizeof b,
                "  --eval-every N      held-out evaluation every N iterations (default %d; 0: never)\n"
                "  --ckpt-every N      checkpoint every N iterations (default %d)\n"
                "  --out DIR           (default %s)\n",
                d.eval_every, d.ckpt_every, d.out.c_str());
  h += b;
  h += "  --resume            continue from DIR/checkpoint.safetensors\n"
       "  --skip-bad-rows     train without the rows whose image or mask file is missing,\n"
       "                      unreadable or truncated (counted, and listed in\n"
       "                      DIR/skipped_rows.csv); without it such rows stop the run before\n"
       "                      its first step\n"
       "  --threads N         loader threads (default 2)\n"
       "  --device D          auto | cpu | cuda (default auto)\n"
       + precision_help("tf32") +
       "  --cuda-graph on|off on the GPU, capture the step (forward, loss, backward) as a CUDA graph\n"
       "                      after 3 ordinary steps and replay it at every later one: one launch\n"
       "                      instead of hundreds (train mtl and train segcls, one process; an\n"
       "                      experiment, default off)\n"
       "  --sync-bn on|off    with several processes (mpirun -np N ...): batch norms that use batch\n"
       "                      statistics take them over the whole batch of all processes, as one\n"
       "                      process would (on, the default), or over each process's part (off)\n"
       "  --seed N            initialisation, data-order and sampling seed (default 1)\n";
  return h;
}

TrainingOptions read_training_options(const Args& args, const TrainingDefaults& d) {
  TrainingOptions o;
  o.command = d.command;
  o.iters = args.get_int("iters", d.iters);
  o.batch = (int)args.get_int("batch", d.batch);
  o.eval_every = (int)args.get_int("eval-every", d.eval_every);
  o.ckpt_every = (int)args.get_int("ckpt-every", d.ckpt_every);
  o.threads = (int)args.get_int("threads", 2);
  o.seed = (uint64_t)args.get_int("seed", 1);
  o.out = args.get("out", d.out);
  o.resume = args.flag("resume");
  o.skip_bad_rows = args.flag("skip-bad-rows");
  o.weights = args.get("weights", "weights/resnet50_imagenet.safetensors");
  o.bn = args.get("bn", o.weights == "none" ? "batch" : "frozen");
  SKINMTL_USAGE_CHECK(o.bn == "frozen" || o.bn == "batch", "--bn must be frozen or batch, got '" << o.bn << "'");
  SKINMTL_USAGE_CHECK(o.iters > 0, "--iters must be positive, got " << o.iters);
  SKINMTL_USAGE_CHECK(o.batch > 0, "--batch must be positive, got " << o.batch);
  SKINMTL_USAGE_CHECK(o.eval_every >= 0, "--eval-every must be >= 0 (0: never), got " << o.eval_every);
  SKINMTL_USAGE_CHECK(o.ckpt_every > 0, "--ckpt-every must be positive, got " << o.ckpt_every);
  SKINMTL_USAGE_CHECK(o.threads > 0, "--threads must be positive, got " << o.threads);
  o.device = parse_device(args.get("device", "auto"));
  o.precision_note = apply_precision(args, o.device, "tf32");
  const std::string graph = args.get("cuda-graph", "off");
  SKINMTL_USAGE_CHECK(graph == "on" || graph == "off", "--cuda-graph must be on or off, got '" << graph << "'");
  o.cuda_graph = graph == "on";
  SKINMTL_USAGE_CHECK(!o.cuda_graph || o.device == Device::CUDA,
                      "--cuda-graph on needs the GPU (--device cuda): a CUDA graph replays GPU work");
  o.sync_bn = args.get("sync-bn", "on");
  SKINMTL_USAGE_CHECK(o.sync_bn == "on" || o.sync_bn == "off", "--sync-bn must be on or off, got '" << o.sync_bn << "'");
  o.lr = args.get_double("lr", 1e-3);
  o.momentum = args.get_double("momentum", 0.9);
  o.weight_decay = args.get_double("wd", 1e-4);
  SKINMTL_USAGE_CHECK(o.lr > 0 && std::isfinite(o.lr), "--lr must be positive, got " << o.lr);
  o.lr_schedule = d.lr_schedules ? args.get("lr-schedule", "plateau") : "model";
  SKINMTL_USAGE_CHECK(o.lr_schedule == "plateau" || o.lr_schedule == "cosine" || o.lr_schedule == "model",
                      "--lr-schedule must be plateau or cosine, got '" << o.lr_schedule << "'");
  o.patience = (int)args.get_int("patience", 3);
  SKINMTL_USAGE_CHECK(o.patience >= 0, "--patience must be >= 0, got " << o.patience);
  if (o.lr_schedule == "cosine") {
    o.warmup = args.get_int("warmup", 100);
    o.final_lr_frac = args.get_double("final-lr-frac", 0.01);
    SKINMTL_USAGE_CHECK(o.warmup >= 0 && o.warmup < o.iters, "--warmup must be in [0, --iters), got " << o.warmup);
    SKINMTL_USAGE_CHECK(o.final_lr_frac >= 0 && o.final_lr_frac <= 1,
                        "--final-lr-frac must be in [0, 1], got " << o.final_lr_frac);
  }
  return o;
}

// ---- the run -----------------------------------------------------------------------------------

bool upload_into(Tensor& on_device, const Tensor& host, Device device) {
  if (device != Device::CPU && on_device.defined() && on_device.device() == device &&
      on_device.shape() == host.shape() && on_device.dtype() == host.dtype()) {
    on_device.copy_from(host);
    return false;
  }
  on_device = host.to(device);
  return true;
}

namespace {

// A step's outputs for its row of log.csv: the loss, each defined term and
// each of the model's hook values gathered into one tensor on the device, so
// that they cross to the host in one copy (float32: a float64 hook value from
// the CPU is rounded to it), and what lies where in it.
struct StepOutputs {
  Tensor values;
  std::vector<std::pair<std::string, bool>> terms;  // each term's name and whether it is defined
  std::vector<std::string> hooks;                   // the hook values' names
  std::vector<std::pair<std::string, double>> counts;
};

StepOutputs gather_step_outputs(const StepLosses& l, const std::vector<std::pair<std::string, Tensor>>& hooks) {
  NoGradGuard no_grad;
  StepOutputs out;
  const Device dev = l.total.device();
  const DType dt = l.total.dtype();
  std::vector<Tensor> parts = {reshape(l.total, {1})};
  for (const auto& [name, t] : l.terms) {
    out.terms.push_back({name, t.defined()});
    if (t.defined()) parts.push_back(reshape(t, {1}).to(dev));
  }
  for (const auto& [name, t] : hooks) {
    SKINMTL_CHECK(t.defined() && t.numel() == 1, "before_update's '" << name << "' must be one value");
    // A value from another device crosses as float32 (float64 lives on the CPU only).
    const Tensor v = t.device() == dev ? t : t.to(DType::F32).to(dev);
    parts.push_back(reshape(v, {1}).to(dt));
    out.hooks.push_back(name);
  }
  out.values = concat(parts, 0);
  out.counts = l.counts;
  return out;
}

// What a step leaves for its row of log.csv: its outputs on their way to the
// host, and the moment it ran.
struct StepRecord {
  int64_t iteration = 0, epoch = 0;
  double lr = 0, wall_s = 0, allreduce_s = 0;
  double step_s = 0;  // since the previous step ended, less the evaluations, figures and saves between
  bool milestone = false;  // the model's (a phase ends), as it said right after the step
  HostRead* losses = nullptr;  // reading outputs.values
  StepOutputs outputs;
  std::vector<std::pair<std::string, double>> extra;  // the hooks' values, once read
};

// The record's loss, then each term (NAN for an undefined one); the hook
// values go to s.extra. Waits for the read if it is still on its way.
std::vector<double> loss_values(StepRecord& s) {
  const std::vector<double> read = s.losses->values();
  std::vector<double> values = {read[0]};
  size_t k = 1;
  for (const auto& [name, defined] : s.outputs.terms) values.push_back(defined ? read[k++] : NAN);
  s.extra.clear();
  for (const std::string& name : s.outputs.hooks) s.extra.push_back({name, read[k++]});
  return values;
}

// How each step's work before SGD's update runs: as usual, or with
// --cuda-graph on captured once as a CUDA graph (framework/cuda_graph.h) and
// replayed.
//  - The capture waits for kWarmup ordinary steps with the same inputs: by
//    then SGD has packed the parameters where they stay, and the allocator's
//    cache and cuDNN's plans for these shapes are made.
//  - SGD's update (the learning rate is its argument), zero_grad, the batch's
//    upload and the read stay outside the graph: the caller's.
//  - A new packing of the parameters drops the graph and captures it again at
//    once; new input tensors (the model's upload_batch says so) after kWarmup
//    ordinary steps.
//  - A step with counts (host values, which a replay would repeat) is not
//    captured; a capture that fails is reported and the run goes on without.
class StepRunner {
 public:
  static constexpr int64_t kWarmup = 3;

  StepRunner(bool graphs, bool report) : off_(!graphs), report_(report) {}

  // Step `iteration`'s outputs (counted from 0): `step` run as usual, or
  // the graph of it replayed.
  StepOutputs run(int64_t iteration, bool inputs_moved, SGD& sgd, const std::function<StepOutputs()>& step) {
    if (inputs_moved) settled_ = 0;
    if (graph_.captured() && (inputs_moved || sgd.packings() != graph_packings_)) graph_.reset();
    if (!off_ && !graph_.captured() && settled_ >= kWarmup) capture(iteration, sgd, step);
    if (graph_.captured()) {
      graph_.replay();
      ++replayed_;
      return graphed_;
    }
    ++ordinary_;
    ++settled_;
    return step();
  }

  // "first captured at iteration 4, 1 capture(s), 96 steps replayed, 3 ordinary"
  std::string summary() const {
    if (captures_ == 0) return "no step was captured (" + std::to_string(ordinary_) + " ordinary steps)";
    return "first captured at iteration " + std::to_string(captured_at_) + ", " + std::to_string(captures_) +
           " capture(s), " + std::to_string(replayed_) + " steps replayed, " + std::to_string(ordinary_) + " ordinary";
  }

 private:
  void capture(int64_t iteration, SGD& sgd, const std::function<StepOutputs()>& step) {
    const std::string why = graph_.capture([&] {
      graphed_ = step();
      SKINMTL_CHECK(graphed_.counts.empty(), "the step's counts are host values, which every replay would repeat");
    });
    if (why.empty()) {
      graph_packings_ = sgd.packings();
      if (captures_++ == 0) captured_at_ = iteration + 1;
      return;
    }
    off_ = true;
    graphed_ = StepOutputs();
    // What the capture recorded never ran, but a gradient made during it (a
    // parameter's first) would hold no zeros.
    sgd.zero_grad();
    if (report_)
      std::fprintf(stderr, "\n  --cuda-graph: the step could not be captured, so it runs as usual: %s\n", why.c_str());
  }

  bool off_, report_;
  CudaGraph graph_;
  StepOutputs graphed_;          // what the captured step leaves; each replay refills it
  int64_t graph_packings_ = -1;  // SGD's packings() when it was captured
  int64_t settled_ = 0;          // ordinary steps since the inputs last moved
  int64_t ordinary_ = 0, replayed_ = 0, captures_ = 0, captured_at_ = -1;
};

// The options that must not change when a run is resumed: the shared ones
// that shape the result, the model's, and the data.
std::string fingerprint(const TrainingOptions& o, const TrainingModel& m) {
  nlohmann::json j;
  j["weights"] = o.weights;
  j["bn_mode"] = o.bn;
  j["batch"] = o.batch;
  j["lr"] = o.lr;
  j["momentum"] = o.momentum;
  j["wd"] = o.weight_decay;
  j["seed"] = o.seed;
  j["eval-every"] = o.eval_every;  // evaluations drive the plateau schedule
  j["lr-schedule"] = o.lr_schedule;
  if (o.lr_schedule == "plateau") j["patience"] = o.patience;
  if (o.lr_schedule == "cosine") {  // the schedule's length is part of the recipe
    j["iters"] = o.iters;
    j["warmup"] = o.warmup;
    j["final-lr-frac"] = o.final_lr_frac;
  }
  for (const auto& [k, v] : m.fingerprint()) j[k] = v;
  j["data"] = m.data_description();
  return j.dump();
}

// What differs between two fingerprints (JSON objects of option -> value), a
// line per key: "  momentum: checkpoint 0.9, now 0.5". A key on one side only
// reads "(none)" on the other. Text that is not such an object is shown whole.
std::string fingerprint_difference(const std::string& was, const std::string& now) {
  const nlohmann::json a = nlohmann::json::parse(was, nullptr, false), b = nlohmann::json::parse(now, nullptr, false);
  if (!a.is_object() || !b.is_object()) return "  checkpoint: " + was + "\n  now:        " + now;
  const auto value = [](const nlohmann::json& j, const std::string& key) {
    if (!j.contains(key)) return std::string("(none)");
    return j.at(key).is_string() ? j.at(key).get<std::string>() : j.at(key).dump();
  };
  std::string lines;
  nlohmann::json keys = a;
  keys.update(b);
  for (const auto& [key, unused] : keys.items())
    if (value(a, key) != value(b, key))
      lines += (lines.empty() ? "" : "\n") + std::string("  ") + key + ": checkpoint " + value(a, key) + ", now " +
               value(b, key);
  return lines;
}

}  // namespace

int run_training(const TrainingOptions& o, TrainingModel& model, DataParallel& dp) {
  std::filesystem::create_directories(o.out);
  if (dp.is_root()) {
    report_skipped_rows(model.skipped_rows(), o.out);
    std::printf("skinmtl %s: %s\n  %s on %s, %lld iterations of %d\n", o.command.c_str(),
                model.data_description().c_str(), model.describe().c_str(),
                (device_name(o.device) + o.precision_note).c_str(), (long long)o.iters, o.batch);
  }
  if (o.cuda_graph) {
    SKINMTL_USER_CHECK(dp.ranks() == 1, "--cuda-graph on runs in one process for now, not in " << dp.ranks());
    const std::string why = model.replay_refusal();
    SKINMTL_USER_CHECK(why.empty(), "--cuda-graph on: " << o.command << "'s step cannot be replayed: " << why);
    prepare_cuda_graphs();  // the ordinary steps and the replays with the same cuBLAS workspace
  }
  Module& net = model.net();
  std::string sync_note;
  if (o.sync_bn == "on" && dp.ranks() > 1) {
    const int live = set_sync_batch_norm(net, &dp.comm());
    if (live > 0) sync_note = " (" + std::to_string(live) + " batch norms synchronised)";
  }
  dp.print_plan(o.batch, sync_note);
  net.to(o.device);
  net.train();

  SGDOptions so;
  so.lr = o.lr;
  so.momentum = o.momentum;
  so.weight_decay = o.weight_decay;
  SGD sgd(net.parameters(), so);
  PlateauOptions po;
  po.patience = o.patience;
  ReduceOnPlateau plateau(o.lr, po);
  const WarmupCosineLR cosine(o.lr, o.warmup, o.iters, o.final_lr_frac);

  // ---- resume
  int64_t iteration = 0, epoch = 0, batch_in_epoch = 0;
  RunClock clock;  // wall time of the whole run: the checkpoint's, plus this process's
  const std::string ckpt_path = o.out + "/checkpoint.safetensors";
  const std::string fp = fingerprint(o, model);
  if (o.resume) {
    SKINMTL_USER_CHECK(std::filesystem::exists(ckpt_path), "--resume: no checkpoint at " << ckpt_path);
    const auto meta = load_checkpoint(ckpt_path, net, &sgd);
    SKINMTL_USER_CHECK(meta.count("train_fingerprint") && meta.at("train_fingerprint") == fp,
                       ckpt_path << " was written with other options or data; resume with the same ones.\n"
                                 << fingerprint_difference(
                                        meta.count("train_fingerprint") ? meta.at("train_fingerprint") : "?", fp));
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

  // ---- data: this rank's part of every batch, from where the run stopped
  LoaderOptions lo;
  lo.batch_size = o.batch;
  lo.threads = o.threads;
  lo.shuffle = true;
  lo.drop_last = true;
  lo.seed = o.seed;
  dp.shard(lo);
  SKINMTL_USER_CHECK(model.open_training_data(lo) > 0,
                     "the training set is smaller than one batch of " << o.batch << " images");
  model.start_epoch(epoch);
  for (int64_t k = 0; k < batch_in_epoch; ++k)  // the batches this epoch already used
    SKINMTL_CHECK(model.next_batch(), "resume: epoch " << epoch << " has fewer batches than the checkpoint used");

  // ---- files
  std::vector<std::string> columns = {"iter", "epoch", "lr", "loss"};
  for (const std::string& c : model.log_columns()) columns.push_back(c);
  for (const char* c : {"images_per_s", "wall_s", "allreduce_s"}) columns.push_back(c);
  const std::unique_ptr<CsvLog> log = dp.open_log(o.out + "/log.csv", columns, o.resume, iteration);  // rank 0's
  auto save = [&](const std::string& why) {
    auto meta = model.model_metadata();
    for (const auto& [k, v] : model.checkpoint_metadata(iteration)) meta[k] = v;
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
  const std::vector<TrainingFigure> figures = model.figures();
  auto plot = [&] {
    for (const TrainingFigure& f : figures)
      plot_csv(o.out + "/log.csv", o.out + "/" + f.file, "iter", f.columns, f.title, f.log_y);
  };

  // ---- the loop
  StopSignal stop;  // Ctrl-C / SIGTERM: checkpoint and stop after this step
  Progress bar(o.iters, o.command, dp.console());
  bar.update(iteration);
  double smooth = NAN;  // the progress bar's average loss (log.csv has each step's)
  // log.csv's images_per_s is the batch over a step's seconds: from the end of
  // the step before to the end of this one (the host waits for the GPU's
  // queue in between, at the loss read), less what finish() spent there on
  // evaluations, figures and checkpoints, counted in bookkeeping_s (back to
  // 0 at each step's end).
  double bookkeeping_s = 0;
  auto bar_text = [&] {
    char extra[96];
    std::snprintf(extra, sizeof extra, "avg loss %.4f  lr %.2g", smooth, sgd.lr());
    return model.bar_note() + extra;
  };
  std::string heldout_summary;
  // Whether the step evaluates, saves a checkpoint, ends a phase or ends the
  // run: it must be finished before the model changes again.
  auto acts_on_the_model = [&](const StepRecord& s) {
    return s.iteration == o.iters || (o.eval_every > 0 && s.iteration % o.eval_every == 0) ||
           s.iteration % o.ckpt_every == 0 || s.milestone;
  };

  // A step's row: its numbers averaged over the ranks (one small all-reduce,
  // which also carries any rank's stop request), the finite check, the
  // held-out evaluation and plateau decision where due, the row of log.csv,
  // the bar, the figures and the checkpoint. Returns whether the run stops
  // (a signal on any rank, or `stop_now`). With `stop_here` false (a step
  // whose successor has already run) it only reports the stop: the caller
  // finishes the next step, which saves the checkpoint.
  auto finish = [&](StepRecord& s, bool stop_now, bool stop_here) -> bool {
    std::vector<double> numbers = loss_values(s);
    for (const auto& [name, v] : s.outputs.counts) numbers.push_back(v);
    const StepNumbers step = dp.agree(numbers, stop.received() != 0 || stop_now);
    const double loss = step.means[0];
    bool finite = std::isfinite(loss);
    std::string extra_text;
    for (const auto& [name, v] : s.extra) {
      finite = finite && std::isfinite(v);
      extra_text += ", " + name + " " + std::to_string(v);
    }
    SKINMTL_USER_CHECK(finite, "the loss became " << loss << extra_text << " at iteration "
                                         << s.iteration << " (lower --lr?)");
    smooth = std::isnan(smooth) ? loss : 0.95 * smooth + 0.05 * loss;
    std::vector<std::pair<std::string, double>> row = {
        {"iter", (double)s.iteration},  {"epoch", (double)s.epoch},       {"lr", s.lr},
        {"loss", loss},                 {"images_per_s", s.step_s > 0 ? o.batch / s.step_s : 0.0},
        {"wall_s", s.wall_s},           {"allreduce_s", s.allreduce_s}};
    size_t k = 1;
    for (const auto& [name, defined] : s.outputs.terms) {
      if (defined) row.push_back({name, step.means[k]});
      ++k;
    }
    for (const auto& [name, v] : s.outputs.counts) row.push_back({name, step.means[k++] * dp.ranks()});  // the batch's sum
    for (const auto& e : s.extra) row.push_back(e);

    // The bar shows this step before an evaluation draws its own bar.
    bar.update(s.iteration, bar_text());
    const double bookkeeping_start = clock.seconds();
    const bool last = s.iteration == o.iters;
    const bool scheduled_eval = o.eval_every > 0 && s.iteration % o.eval_every == 0;
    const bool evaluate_now = o.eval_every > 0 && (scheduled_eval || last);
    if (evaluate_now && dp.is_root()) {
      if (last) bar.finish(bar_text());  // the final evaluation draws its own bar below
      const HeldoutResult h = model.evaluate(/*show_progress=*/last);
      row.push_back({"heldout_loss", h.loss});
      for (const auto& v : h.values) row.push_back(v);
      if (last)  // printed at the end, after the progress bar
        heldout_summary = "held-out (" + std::to_string(model.heldout_size()) + " images) at iteration " +
                          std::to_string(s.iteration) + ": " + h.summary;
      // Only scheduled evaluations drive the plateau schedule: the extra one
      // at the end of a run must not, or a run stopped at --iters N and
      // resumed would diverge from one that never stopped.
      const double new_lr = o.lr_schedule == "plateau" && scheduled_eval ? plateau.update(h.loss) : sgd.lr();
      if (new_lr != sgd.lr()) {
        std::fprintf(stderr, "\n  held-out loss plateaued: lr %g -> %g\n", sgd.lr(), new_lr);
        sgd.set_lr(new_lr);
      }
    }
    if (o.lr_schedule == "plateau" && scheduled_eval) sgd.set_lr(dp.from_root(sgd.lr()));  // rank 0's decision
    if (dp.is_root()) {  // rank 0 alone writes the files
      log->log(row);
      if (evaluate_now || last || s.milestone) plot();
      if (acts_on_the_model(s)) save("schedule");
    }
    bookkeeping_s += clock.seconds() - bookkeeping_start;
    if (!step.stop || !stop_here) return step.stop;
    if (dp.is_root()) {
      bar.finish();
      save("signal");
      plot();
      std::fprintf(stderr, "stopped by a signal at iteration %lld; checkpoint %s (continue with --resume)\n",
                   (long long)s.iteration, ckpt_path.c_str());
    }
    dp.barrier();  // the other ranks exit after rank 0 has saved
    return true;
  };

  // A step whose row need not be written before the next step starts waits
  // for it: its losses are read after the next step is queued, so on a GPU
  // the host never waits for the queue to drain (HostRead). The steps that
  // evaluate, save or end the run are finished at once, before the model
  // changes again. Two reads alternate: one in flight, one being collected.
  HostRead reads[2];
  int next_read = 0;
  std::optional<StepRecord> behind;
  double last_end_s = clock.seconds();
  StepRunner steps(o.cuda_graph, dp.is_root());

  // The work of step `iteration` before SGD's update: forward, loss,
  // backward, the gradients averaged over the processes, the model's hooks,
  // the outputs gathered for the read.
  auto run_step = [&] {
    const StepLosses l = model.step_losses(iteration);
    l.total.backward();
    dp.average_gradients(sgd.packed_gradients());
    return gather_step_outputs(l, model.before_update(sgd));
  };
  while (iteration < o.iters) {
    model.before_step(iteration, sgd);
    if (!model.next_batch()) {  // a new epoch
      ++epoch;
      batch_in_epoch = 0;
      model.start_epoch(epoch);
      continue;
    }
    ++batch_in_epoch;
    if (o.lr_schedule == "cosine") sgd.set_lr(cosine.lr(iteration));
    StepRecord s;
    s.lr = sgd.lr();
    sgd.zero_grad();
    const bool inputs_moved = model.upload_batch();
    s.outputs = steps.run(iteration, inputs_moved, sgd, run_step);
    sgd.step();
    reads[next_read].start(s.outputs.values);
    s.losses = &reads[next_read];
    next_read ^= 1;
    s.iteration = ++iteration;
    s.epoch = epoch;
    s.wall_s = clock.seconds();
    s.step_s = s.wall_s - last_end_s - bookkeeping_s;
    last_end_s = s.wall_s;
    bookkeeping_s = 0;
    s.allreduce_s = dp.allreduce_seconds();
    s.milestone = model.milestone(s.iteration);

    if (behind) {
      const bool stop_requested = finish(*behind, false, /*stop_here=*/false);
      behind.reset();
      if (stop_requested) {  // every rank saw it: stop after this step instead
        finish(s, true, true);
        return 130;
      }
    }
    if (!acts_on_the_model(s)) {
      behind = std::move(s);
      continue;
    }
    if (finish(s, false, true)) return 130;
  }
  bar.finish();
  if (!dp.is_root()) return 0;
  if (!heldout_summary.empty()) std::printf("%s\n", heldout_summary.c_str());
  if (o.cuda_graph) std::printf("cuda graph: %s\n", steps.summary().c_str());
  auto meta = model.model_metadata();
  meta["iteration"] = std::to_string(iteration);
  // (No wall time here: the model file of a resumed run must equal, byte for
  // byte, that of a run never stopped. log.csv and checkpoints carry wall_s.)
  save_safetensors(o.out + "/model.safetensors", [&] {
    TensorFile f = module_state(net);
    f.metadata = meta;
    return f;
  }());
  std::string files;
  for (const TrainingFigure& f : figures) files += (files.empty() ? " " : ", ") + o.out + "/" + f.file;
  std::printf("model: %s/model.safetensors  log: %s/log.csv  figures:%s\n", o.out.c_str(), o.out.c_str(),
              files.c_str());
  return 0;
}

}  // namespace skinmtl
