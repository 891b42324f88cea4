// app/training_run.h: one training run, whatever the model.
//
// The three trainers of bin/skinmtl (train mtl, train segcls, train detseg)
// are one loop around three networks. This file is the loop; a model plugs
// into it by implementing TrainingModel (app/mtl_training.h,
// app/segcls_training.h, app/detseg_training.h):
//
//   for each iteration:
//     lr from the schedule (warm-up + cosine), or the model's own (phases)
//     model.upload_batch()            this rank's part of the batch to the device
//     model.step_losses(it)           forward and loss on it
//     loss.backward()
//     dp.average_gradients()          over the processes (app/data_parallel.h)
//     model.before_update(sgd)        e.g. clip the gradient norm
//     sgd.step()
//     a row of log.csv; every --eval-every iterations model.evaluate() on the
//     held-out set and the plateau decision; a checkpoint every --ckpt-every;
//     the figures redrawn at each evaluation.
//
// A step that neither evaluates, saves, ends a phase nor ends the run writes
// its row after the next step has been queued: its losses are read then
// (framework/host_read.h), so on a GPU the host never waits for the queue to
// drain between steps. The row, the finite check and a stop request of such a
// step come one step late; a stop then saves after the next step.
//
// With --cuda-graph on, the part from step_losses() to before_update() is
// captured once as a CUDA graph and replayed (framework/cuda_graph.h; the
// loop in app/training_run.cpp says when).
//
// What the run owns, so that no model writes it again:
//  - the options every trainer takes (TrainingOptions; the same names, help
//    lines and checks in every `train` command);
//  - resume, exactly: the model, the momentum, the learning rate and plateau
//    state, the data order (the loaders are deterministic in (seed, epoch,
//    sample), so the run skips the batches of the epoch it had already used),
//    and a fingerprint of the options that must not change;
//  - checkpoint.safetensors (every --ckpt-every iterations, at each
//    evaluation, at the model's milestones, on SIGINT/SIGTERM), written
//    atomically; model.safetensors at the end;
//  - log.csv (iter, epoch, lr, loss, the model's columns, images_per_s,
//    wall_s, allreduce_s) and the figures drawn from it;
//  - the progress bar, the held-out summary printed at the end;
//  - data parallelism: rank 0 prints, evaluates and writes; its plateau
//    decision and every rank's stop request reach all ranks.
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "app/args.h"
#include "app/data_parallel.h"
#include "framework/module.h"
#include "framework/optimizer.h"
#include "framework/tensor.h"
#include "io/batch_pipeline.h"
#include "io/manifest.h"

namespace skinmtl {

// ---- the options every trainer shares -------------------------------------------------------

// A trainer's defaults for the shared options (the papers differ).
struct TrainingDefaults {
  TrainingDefaults() = default;
  TrainingDefaults(std::string command_, int64_t iters_, int batch_, int eval_every_, int ckpt_every_, std::string out_)
      : command(std::move(command_)), iters(iters_), batch(batch_), eval_every(eval_every_), ckpt_every(ckpt_every_),
        out(std::move(out_)) {}

  std::string command;  // "train mtl": the progress bar's label and the messages' prefix
  int64_t iters = 10000;
  int batch = 8;
  int eval_every = 1000;
  int ckpt_every = 500;
  std::string out;      // "runs/mtl"
  // Whether --lr-schedule plateau|cosine (and --patience, --warmup,
  // --final-lr-frac) are offered. detseg's phases set its lr instead.
  bool lr_schedules = true;
  // The help line of --iters ("iterations (default 20000)" when empty).
  std::string iters_help;
};

struct TrainingOptions {
  std::string command;
  int64_t iters = 0;
  int batch = 0, eval_every = 0, ckpt_every = 0, threads = 2;
  uint64_t seed = 1;
  std::string out;
  bool resume = false, skip_bad_rows = false;
  std::string weights;  // a converted ImageNet ResNet-50, or "none"
  std::string bn;       // "frozen" | "batch"
  Device device = Device::CPU;
  std::string precision_note;  // "" or " (TF32)", printed after the device's name
  std::string sync_bn;         // "on" | "off"
  bool cuda_graph = false;     // --cuda-graph on: replay the step as a CUDA graph
  double lr = 1e-3, momentum = 0.9, weight_decay = 1e-4;
  std::string lr_schedule;     // "plateau" | "cosine" | "model" (the model sets it)
  int patience = 3;            // plateau: evaluations without improvement before lr x0.1
  int64_t warmup = 0;          // cosine: linear warm-up iterations
  double final_lr_frac = 0.01; // cosine: the last lr as a fraction of --lr
};

// The option and flag names TrainingOptions reads, for a command's Args.
std::vector<std::string> training_option_names(const TrainingDefaults& d);
std::vector<std::string> training_flag_names();
// Their help lines, in three blocks the commands splice into their own help:
// --weights and --bn (model:), the optimiser and schedule (training:), and the
// run (files, device, seed).
std::string training_model_help();
std::string training_optimizer_help(const TrainingDefaults& d);
std::string training_run_help(const TrainingDefaults& d);
// Reads and checks them (a UsageError names the option at fault). Sets the
// precision for the process (--precision tf32 on a GPU).
TrainingOptions read_training_options(const Args& args, const TrainingDefaults& d);

// ---- what a model plugs in -------------------------------------------------------------------

// One step's losses on this rank's part of the batch: the loss to minimise,
// its terms (logged under their names; an undefined tensor, a task the model
// does not have, logs nothing), and counts that add up over the ranks
// (detseg's positive anchors).
struct StepLosses {
  Tensor total;
  std::vector<std::pair<std::string, Tensor>> terms;
  std::vector<std::pair<std::string, double>> counts;
};

// A held-out evaluation: the loss (the plateau schedule follows it), the
// values for log.csv, and the text printed at the end of the run.
struct HeldoutResult {
  double loss = NAN;
  std::vector<std::pair<std::string, double>> values;
  std::string summary;  // "loss 0.4321  Jaccard 0.7012 ..."
};

// A figure redrawn from log.csv at each evaluation (figures/plot.h's plot_csv).
struct TrainingFigure {
  std::string file;  // "curves.png", in --out
  std::vector<std::string> columns;
  std::string title;
  bool log_y = false;
};

class TrainingModel {
 public:
  virtual ~TrainingModel() = default;

  // The network, on the CPU, batch norms frozen or not as the options say.
  virtual Module& net() = 0;
  // The metadata that rebuilds the network from its file (model.safetensors
  // and checkpoints).
  virtual std::map<std::string, std::string> model_metadata() const = 0;
  // "isic2017 (2000 images) ...": the data, for the first line and the fingerprint.
  virtual std::string data_description() const = 0;
  // "tasks both at 192x256": the model, for the second line.
  virtual std::string describe() const = 0;
  // The model's options that must not change when a run resumes (the shared
  // ones, the data and the bn mode are added by the run).
  virtual std::map<std::string, std::string> fingerprint() const = 0;
  // Rows of the data left out by --skip-bad-rows (reported by rank 0).
  virtual std::vector<ImageProblem> skipped_rows() const { return {}; }

  // log.csv's columns between the shared leading ones (iter, epoch, lr, loss)
  // and trailing ones (images_per_s, wall_s, allreduce_s), and the figures.
  virtual std::vector<std::string> log_columns() const = 0;
  virtual std::vector<TrainingFigure> figures() const = 0;

  // The training data: this rank's part of every batch (`options` comes with
  // the batch size, threads, seed and shard set; the model adds its input
  // normalisation). Returns the batches of an epoch.
  virtual int64_t open_training_data(LoaderOptions options) = 0;
  virtual void start_epoch(int64_t epoch) = 0;
  // Loads the epoch's next batch; false at the end of the epoch.
  virtual bool next_batch() = 0;

  // Before each step, for a model with its own lr schedule or stages
  // (detseg's phases).
  virtual void before_step(int64_t iteration, SGD& sgd) {}
  // Copies the batch next_batch() loaded to the training device, before
  // step_losses(). A model whose step can be replayed (replay_refusal() empty)
  // copies it into the same device tensors at every step, where its
  // step_losses() reads it, and returns true only when it had to make them
  // anew (the first batch, another shape): a captured step reads the old ones.
  // The default: step_losses() uploads the batch itself.
  virtual bool upload_batch() { return false; }
  // Forward and loss on the batch next_batch() loaded (`iteration` counts
  // from 0).
  virtual StepLosses step_losses(int64_t iteration) = 0;
  // Why step_losses() + backward + before_update() cannot be captured once as
  // a CUDA graph and replayed (--cuda-graph on, framework/cuda_graph.h), or ""
  // when they can: the step reads its inputs from upload_batch()'s tensors,
  // waits for nothing, and takes the same decisions on the host at every step.
  virtual std::string replay_refusal() const { return "it uploads its own inputs and was not written for replay"; }
  // After the gradients are averaged, before the update (clip them, say).
  // Returns values to log, each a one-element tensor on any device, each
  // required finite: they are read to the host with the step's losses (on a
  // GPU a value computed there is not waited for).
  virtual std::vector<std::pair<std::string, Tensor>> before_update(SGD& sgd) { return {}; }
  // Iterations where a stage ends (`iteration` updates done): the run saves a
  // checkpoint and redraws the figures there.
  virtual bool milestone(int64_t iteration) const { return false; }
  // Written into each checkpoint (detseg: "phase").
  virtual std::map<std::string, std::string> checkpoint_metadata(int64_t iteration) const { return {}; }
  // Shown on the progress bar before the average loss ("phase 2  ").
  virtual std::string bar_note() const { return ""; }

  // The held-out set, evaluated by rank 0 (show_progress: the final
  // evaluation draws its own progress bar).
  virtual int64_t heldout_size() const = 0;
  virtual HeldoutResult evaluate(bool show_progress) = 0;
};

// TrainingModel::upload_batch's copy: `host` to `device`, into `on_device`
// in place where that already holds a tensor of the same shape and dtype on
// the device (its address stays), else into a new tensor (returns true). On
// the CPU `on_device` becomes `host` itself (true).
bool upload_into(Tensor& on_device, const Tensor& host, Device device);

// Trains `model` as the options say; `dp` (made before the model, so that the
// batch is checked first) is this process's place in the job. Returns the exit
// status: 0, or 130 when stopped by a signal (after a checkpoint).
int run_training(const TrainingOptions& options, TrainingModel& model, DataParallel& dp);

}  // namespace skinmtl
