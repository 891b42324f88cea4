// The shared training run (app/training_run.h) with a model small enough to
// train in milliseconds: a linear regression y = w . x + b on 24 fixed
// samples. What the three trainers rely on is checked here once, without
// images: the loop trains, log.csv holds a row per iteration with the
// held-out columns at each evaluation, a resumed run equals one that never
// stopped (bit for bit), the plateau and cosine schedules set the lr, the
// model's hooks reach the log, and bad runs stop with a clear error.
#include <gtest/gtest.h>

#include <climits>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <thread>

#include "app/data_parallel.h"
#include "app/training_run.h"
#include "framework/lr_schedule.h"
#include "framework/ops.h"
#include "framework/random.h"
#include "io/csv_log.h"
#include "io/safetensors.h"
#include "tests/temp_dir.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

constexpr int kSamples = 24;

class LinearRegression : public TrainingModel {
 public:
  // `heldout_loss` < 0: the held-out loss is the training loss on every
  // sample; otherwise that constant (to drive the plateau schedule).
  explicit LinearRegression(double heldout_loss = -1) : heldout_loss_(heldout_loss) {
    Rng rng(7);
    net_ = std::make_unique<Linear>(3, 1, true, rng);
    for (int i = 0; i < kSamples; ++i) {
      const double a = std::sin(i), b = std::cos(2.0 * i), c = (i % 5) / 5.0;
      x_.insert(x_.end(), {a, b, c});
      y_.push_back(0.5 * a - 1.5 * b + 2 * c + 0.25);
    }
  }

  Module& net() override { return *net_; }
  std::map<std::string, std::string> model_metadata() const override { return {{"arch", "linear"}}; }
  std::string data_description() const override { return "24 points"; }
  std::string describe() const override { return "linear regression"; }
  std::map<std::string, std::string> fingerprint() const override { return {{"model", "linear"}}; }
  std::vector<std::string> log_columns() const override {
    return {"half_loss", "points", "hook", "heldout_loss", "heldout_error"};
  }
  std::vector<TrainingFigure> figures() const override { return {{"curves.png", {"loss", "heldout_loss"}, "loss"}}; }

  int64_t open_training_data(LoaderOptions lo) override {
    batch_ = lo.batch_size;
    return kSamples / batch_;
  }
  // A fixed, epoch-dependent order, as a real loader's (seed, epoch) shuffle.
  void start_epoch(int64_t epoch) override {
    epoch_ = epoch;
    next_ = 0;
  }
  bool next_batch() override {
    if ((next_ + 1) * batch_ > kSamples) return false;
    ++next_;
    return true;
  }
  bool upload_batch() override {
    if (!replayable_) return false;
    std::vector<double> x, y;
    batch_values(x, y);
    const bool moved = upload_into(x_dev_, Tensor::from_vector(x, {batch_, 3}), device_);
    return upload_into(y_dev_, Tensor::from_vector(y, {batch_, 1}), device_) || moved;
  }
  StepLosses step_losses(int64_t iteration) override {
    if (iteration == signal_at_) std::raise(SIGTERM);  // as if Ctrl-C came during this step
    Tensor loss;
    if (replayable_) {
      loss = mse(x_dev_, y_dev_);
      if (wait_in_step_) (void)loss.to(Device::CPU).item();  // a wait for the device: no capture
      // No counts: host values, which a replay would repeat.
      return {loss, {{"half_loss", scale(loss, 0.5)}, {"absent", Tensor()}}, {}};
    } else {
      std::vector<double> x, y;
      batch_values(x, y);
      if (iteration >= nan_from_) x[0] = NAN;
      loss = mse(Tensor::from_vector(x, {batch_, 3}), Tensor::from_vector(y, {batch_, 1}));
    }
    return {loss, {{"half_loss", scale(loss, 0.5)}, {"absent", Tensor()}}, {{"points", (double)batch_}}};
  }
  std::vector<std::pair<std::string, Tensor>> before_update(SGD&) override {
    return {{"hook", Tensor::full({}, 42.0, DType::F32, device_)}};
  }
  std::string replay_refusal() const override {
    return replayable_ ? "" : TrainingModel::replay_refusal();
  }

  int64_t heldout_size() const override { return kSamples; }
  HeldoutResult evaluate(bool) override {
    if (evaluation_s_ > 0) std::this_thread::sleep_for(std::chrono::duration<double>(evaluation_s_));
    HeldoutResult h;
    h.loss = heldout_loss_ >= 0 ? heldout_loss_
                                : mse(Tensor::from_vector(x_, {kSamples, 3}).to(device_),
                                      Tensor::from_vector(y_, {kSamples, 1}).to(device_))
                                      .to(Device::CPU)
                                      .item();
    h.values = {{"heldout_error", std::sqrt(h.loss)}};
    h.summary = "loss " + std::to_string(h.loss);
    return h;
  }

  // A NaN in the next step's inputs, to make the loss non-finite.
  void poison() { x_[0] = NAN; }
  // A NaN in the inputs of step `iteration` (counted from 0) and later.
  void poison_from(int64_t iteration) { nan_from_ = iteration; }
  // SIGTERM raised during step `iteration` (counted from 0).
  void signal_at(int64_t iteration) { signal_at_ = iteration; }
  // Each evaluation takes at least `seconds`.
  void slow_evaluation(double seconds) { evaluation_s_ = seconds; }
  // Batches uploaded by upload_batch() into the same tensors on `device`, and
  // the step replayable (--cuda-graph on): the run must move the model there.
  void replayable_on(Device device) {
    replayable_ = true;
    device_ = device;
  }
  // The replayable step reads its loss on the host (so it cannot be captured).
  void wait_in_step() { wait_in_step_ = true; }

 private:
  // The current batch: a fixed, epoch-dependent order.
  void batch_values(std::vector<double>& x, std::vector<double>& y) const {
    for (int k = 0; k < batch_; ++k) {
      const int i = (int)(((next_ - 1) * batch_ + k) * 7 + epoch_ * 5) % kSamples;
      x.insert(x.end(), {x_[3 * i], x_[3 * i + 1], x_[3 * i + 2]});
      y.push_back(y_[i]);
    }
  }
  Tensor mse(const Tensor& x, const Tensor& y) const {
    const Tensor d = add(net_->forward(x), scale(y, -1));
    return mean(mul(d, d));
  }

  double heldout_loss_;
  std::unique_ptr<Linear> net_;
  std::vector<double> x_, y_;
  int batch_ = 4;
  int64_t epoch_ = 0, next_ = 0;
  int64_t nan_from_ = INT64_MAX, signal_at_ = -1;
  double evaluation_s_ = 0;
  bool replayable_ = false, wait_in_step_ = false;
  Device device_ = Device::CPU;
  Tensor x_dev_, y_dev_;
};

TrainingOptions options(const std::string& out, int64_t iters) {
  TrainingOptions o;
  o.command = "train test";
  o.iters = iters;
  o.batch = 4;
  o.eval_every = 4;
  o.ckpt_every = 3;
  o.out = out;
  o.weights = "none";
  o.bn = "batch";
  o.sync_bn = "off";
  o.lr = 0.05;
  o.lr_schedule = "plateau";
  return o;
}

int train(const TrainingOptions& o, LinearRegression& m) {
  DataParallel dp(o.batch);
  return run_training(o, m, dp);
}

std::vector<float> model_weights(const std::string& out) {
  const TensorFile f = load_safetensors(out + "/model.safetensors");
  std::vector<float> w;
  for (const auto& [name, t] : f.tensors)
    for (double v : t.to_vector()) w.push_back((float)v);
  return w;
}

TEST(TrainingRun, TrainsLogsEvaluatesAndWritesItsFiles) {
  test::TempDir dir;
  LinearRegression m;
  TrainingOptions o = options(dir.str(), 10);
  o.momentum = 0;  // plain gradient descent: steadily down
  o.lr = 0.2;
  ASSERT_EQ(train(o, m), 0);
  const CsvColumns log = read_csv_columns(dir.path("log.csv"));
  ASSERT_EQ(log.rows(), 10u);
  const auto& iter = log.column("iter");
  const auto& loss = log.column("loss");
  const auto& held = log.column("heldout_loss");
  for (size_t r = 0; r < 10; ++r) {
    EXPECT_EQ(iter[r], (double)(r + 1));
    EXPECT_NEAR(log.column("half_loss")[r], loss[r] / 2, 1e-6 * loss[r]);  // a term, under its name
    EXPECT_EQ(log.column("points")[r], 4);   // a count: summed over the ranks (one here)
    EXPECT_EQ(log.column("hook")[r], 42);    // before_update's values
    const bool evaluated = (r + 1) % 4 == 0 || r + 1 == 10;
    EXPECT_EQ(std::isnan(held[r]), !evaluated) << "row " << r;
    if (evaluated) {
      EXPECT_NEAR(log.column("heldout_error")[r], std::sqrt(held[r]), 1e-9);
    }
  }
  EXPECT_EQ(std::count(log.columns.begin(), log.columns.end(), "absent"), 0);  // undefined terms log nothing
  EXPECT_LT(held[9], 0.5 * held[3]) << "the regression does not learn";
  EXPECT_TRUE(std::filesystem::exists(dir.path("model.safetensors")));
  EXPECT_TRUE(std::filesystem::exists(dir.path("curves.png")));
  const TensorFile ckpt = load_safetensors(dir.path("checkpoint.safetensors"));
  EXPECT_EQ(ckpt.metadata.at("iteration"), "10");
  EXPECT_EQ(ckpt.metadata.at("arch"), "linear");  // the model's metadata rides along
}

// The bar's last line (the one with "took") counts every iteration, whether
// the run ends with an evaluation (which draws its own bar) or not.
TEST(TrainingRun, TheProgressBarEndsAtTheLastIteration) {
  for (const int64_t eval_every : {4, 0}) {
    test::TempDir dir;
    LinearRegression m;
    TrainingOptions o = options(dir.str(), 10);
    o.eval_every = eval_every;
    testing::internal::CaptureStderr();
    const int rc = train(o, m);
    const std::string err = testing::internal::GetCapturedStderr();
    ASSERT_EQ(rc, 0);
    const size_t took = err.rfind("took");
    ASSERT_NE(took, std::string::npos) << err;
    const size_t line_start = err.rfind('\n', took);
    const std::string line = err.substr(line_start == std::string::npos ? 0 : line_start + 1, took - line_start);
    EXPECT_NE(line.find("train test"), std::string::npos) << err;
    EXPECT_NE(line.find(" 10/10 "), std::string::npos) << "eval_every " << eval_every << ": " << err;
  }
}

// log.csv's images_per_s is each step's own rate: the batch over the seconds
// since the step before ended, without the evaluations between them (here
// 0.3 s each, at iterations 4 and 8), so it can be read row by row.
TEST(TrainingRun, ImagesPerSecondTimesTheStepsAndNotTheEvaluations) {
  test::TempDir dir;
  LinearRegression m;
  m.slow_evaluation(0.3);
  TrainingOptions o = options(dir.str(), 10);
  o.ckpt_every = 1000;
  testing::internal::CaptureStderr();
  ASSERT_EQ(train(o, m), 0);
  testing::internal::GetCapturedStderr();
  const CsvColumns log = read_csv_columns(dir.path("log.csv"));
  ASSERT_EQ(log.rows(), 10u);
  const std::vector<double>& rate = log.column("images_per_s");
  const std::vector<double>& wall = log.column("wall_s");
  for (size_t r = 0; r < 10; ++r) {
    ASSERT_TRUE(std::isfinite(rate[r]) && rate[r] > 0) << "row " << r << ": " << rate[r];
    const double step_s = o.batch / rate[r];
    EXPECT_LT(step_s, 0.15) << "row " << r << ": a step of this model takes milliseconds";
    if (r == 0) continue;
    const double between = wall[r] - wall[r - 1];
    if (r == 4 || r == 8)  // the rows after the evaluations at iterations 4 and 8
      EXPECT_GE(between, 0.3) << "row " << r;
    else  // no evaluation in between: the step is all of it (wall_s is written to 1 us or finer)
      EXPECT_NEAR(step_s, between, 1e-4) << "row " << r;
  }
}

// Resumes the run in `stopped` to `iters` and expects it to equal the run in
// `straight`, never stopped: the same weights bit for bit, a row per
// iteration, the same losses and learning rates.
void expect_resumed_run_equals(const test::TempDir& straight, const test::TempDir& stopped, int64_t iters) {
  LinearRegression m;
  TrainingOptions resumed = options(stopped.str(), iters);
  resumed.resume = true;
  ASSERT_EQ(train(resumed, m), 0);
  const std::vector<float> wa = model_weights(straight.str()), wb = model_weights(stopped.str());
  ASSERT_EQ(wa.size(), wb.size());
  for (size_t i = 0; i < wa.size(); ++i) EXPECT_EQ(wa[i], wb[i]) << "weight " << i;
  const CsvColumns log = read_csv_columns(stopped.path("log.csv")), want = read_csv_columns(straight.path("log.csv"));
  ASSERT_EQ(log.rows(), (size_t)iters);
  for (size_t r = 0; r < (size_t)iters; ++r) {
    EXPECT_EQ(log.column("iter")[r], (double)(r + 1));
    EXPECT_EQ(log.column("loss")[r], want.column("loss")[r]) << "row " << r;
    EXPECT_EQ(log.column("lr")[r], want.column("lr")[r]) << "row " << r;
  }
}

TEST(TrainingRun, AResumedRunEqualsOneThatNeverStopped) {
  test::TempDir straight, stopped;
  LinearRegression a;
  ASSERT_EQ(train(options(straight.str(), 13), a), 0);
  LinearRegression b;
  ASSERT_EQ(train(options(stopped.str(), 7), b), 0);  // 7: mid-epoch, after an unscheduled evaluation
  expect_resumed_run_equals(straight, stopped, 13);
}

TEST(TrainingRun, ResumingWithOtherOptionsIsRefused) {
  test::TempDir dir;
  LinearRegression a;
  ASSERT_EQ(train(options(dir.str(), 4), a), 0);
  LinearRegression b;
  TrainingOptions o = options(dir.str(), 8);
  o.resume = true;
  o.momentum = 0.5;
  try {
    train(o, b);
    FAIL() << "resumed with another momentum";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("other options"), std::string::npos) << what;
    // It names what differs, and only that.
    EXPECT_NE(what.find("momentum: checkpoint 0.9, now 0.5"), std::string::npos) << what;
    EXPECT_EQ(what.find("seed"), std::string::npos) << what;
  }
}

TEST(TrainingRun, APlateauDropsTheLearningRate) {
  test::TempDir dir;
  LinearRegression m(/*heldout_loss=*/1.0);  // never improves
  TrainingOptions o = options(dir.str(), 12);
  o.eval_every = 2;
  o.patience = 1;
  ASSERT_EQ(train(o, m), 0);
  // Evaluations at 2 (best), 4 (bad 1), 6 (bad 2 > patience: lr x0.1), 8, 10
  // (bad 1, 2: x0.1 again at 10).
  const CsvColumns log = read_csv_columns(dir.path("log.csv"));
  const auto& lr = log.column("lr");
  for (size_t r = 0; r < 12; ++r) {
    const int it = (int)r + 1;
    const double want = it <= 6 ? 0.05 : it <= 10 ? 0.005 : 0.0005;  // a row logs the lr its step used
    EXPECT_NEAR(lr[r], want, 1e-12) << "iteration " << it;
  }
}

TEST(TrainingRun, TheCosineScheduleSetsEachStepsLearningRate) {
  test::TempDir dir;
  LinearRegression m;
  TrainingOptions o = options(dir.str(), 9);
  o.lr_schedule = "cosine";
  o.warmup = 3;
  o.final_lr_frac = 0.1;
  ASSERT_EQ(train(o, m), 0);
  const WarmupCosineLR want(0.05, 3, 9, 0.1);
  const CsvColumns log = read_csv_columns(dir.path("log.csv"));
  for (size_t r = 0; r < 9; ++r) EXPECT_NEAR(log.column("lr")[r], want.lr((int64_t)r), 1e-12) << "row " << r;
}

TEST(TrainingRun, ANonFiniteLossStopsTheRunWithAHint) {
  test::TempDir dir;
  LinearRegression m;
  m.poison();
  try {
    train(options(dir.str(), 30), m);
    FAIL() << "trained on with a NaN loss";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("lower --lr"), std::string::npos) << e.what();
  }
}

// The row of a step that neither evaluates nor saves is written after the
// next step has run (its losses are read late, so that a GPU never waits for
// the host; framework/host_read.h). A NaN found late must still name its own
// step and leave no checkpoint of a later one.
TEST(TrainingRun, ALateReadNonFiniteLossNamesItsStepAndSavesNothingAfterIt) {
  test::TempDir dir;
  LinearRegression m;
  m.poison_from(4);  // the 5th step: neither evaluates (every 4) nor saves (every 3)
  EXPECT_ERROR_WITH(train(options(dir.str(), 30), m), "at iteration 5 ", "lower --lr");
  EXPECT_EQ(load_safetensors(dir.path("checkpoint.safetensors")).metadata.at("iteration"), "4");
  EXPECT_EQ(read_csv_columns(dir.path("log.csv")).rows(), 4u);
}

// A signal during a step whose row is written late: the run finishes the step
// after it, saves there and exits 130; resumed, it equals a run never stopped.
TEST(TrainingRun, ASignalStopsTheRunAtACheckpointFromWhichItResumesExactly) {
  test::TempDir straight, stopped;
  LinearRegression a;
  ASSERT_EQ(train(options(straight.str(), 11), a), 0);
  LinearRegression b1;
  b1.signal_at(4);  // during the 5th step, a quiet one
  ASSERT_EQ(train(options(stopped.str(), 11), b1), 130);
  const TensorFile ckpt = load_safetensors(stopped.path("checkpoint.safetensors"));
  EXPECT_EQ(ckpt.metadata.at("iteration"), "6");
  EXPECT_EQ(ckpt.metadata.at("saved_because"), "signal");
  EXPECT_EQ(read_csv_columns(stopped.path("log.csv")).rows(), 6u);
  expect_resumed_run_equals(straight, stopped, 11);
}

// --cuda-graph on needs a model whose step was written for replay; the run
// says so before its first step, on any machine.
TEST(TrainingRun, ACudaGraphIsRefusedForAModelNotWrittenForReplay) {
  test::TempDir dir;
  LinearRegression m;
  TrainingOptions o = options(dir.str(), 5);
  o.cuda_graph = true;
  EXPECT_ERROR_WITH(train(o, m), "--cuda-graph on", "cannot be replayed", "was not written for replay");
  EXPECT_FALSE(std::filesystem::exists(dir.path("log.csv")));
}

// The batches through upload_batch() on the CPU train as before: the same
// losses and weights, bit for bit, as the model that makes its own tensors
// each step.
TEST(TrainingRun, UploadedBatchesTrainAsTheModelsOwnTensors) {
  test::TempDir own, uploaded;
  LinearRegression a, b;
  b.replayable_on(Device::CPU);
  ASSERT_EQ(train(options(own.str(), 9), a), 0);
  ASSERT_EQ(train(options(uploaded.str(), 9), b), 0);
  EXPECT_EQ(read_csv_columns(uploaded.path("log.csv")).column("loss"), read_csv_columns(own.path("log.csv")).column("loss"));
  EXPECT_EQ(model_weights(uploaded.str()), model_weights(own.str()));
}

// Trains `a` on the GPU as usual into `plain`, then `b` from the same start
// with --cuda-graph on into `graphed`; returns the second run's stdout and
// stderr.
struct RunOutput {
  std::string out, err;
};
RunOutput train_plain_then_graphed(LinearRegression& a, LinearRegression& b, const test::TempDir& plain,
                                   const test::TempDir& graphed, int64_t iters) {
  TrainingOptions o = options(plain.str(), iters);
  o.device = Device::CUDA;
  EXPECT_EQ(train(o, a), 0);
  o.out = graphed.str();
  o.cuda_graph = true;
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  const int rc = train(o, b);
  RunOutput r{testing::internal::GetCapturedStdout(), testing::internal::GetCapturedStderr()};
  EXPECT_EQ(rc, 0) << r.err;
  return r;
}

// On the GPU, with --cuda-graph on: three ordinary steps, then one capture
// replayed at every later step (across epochs, evaluations and checkpoints),
// training as the ordinary loop does.
TEST(TrainingRunCuda, ACudaGraphReplaysTheStepAndTrainsAsTheOrdinaryLoop) {
  REQUIRE_CUDA();
  test::TempDir plain, graphed;
  LinearRegression a, b;
  a.replayable_on(Device::CUDA);
  b.replayable_on(Device::CUDA);
  const RunOutput r = train_plain_then_graphed(a, b, plain, graphed, 13);
  EXPECT_NE(r.out.find("cuda graph: first captured at iteration 4, 1 capture(s), 10 steps replayed, 3 ordinary"),
            std::string::npos)
      << r.out << r.err;
  const CsvColumns want = read_csv_columns(plain.path("log.csv")), got = read_csv_columns(graphed.path("log.csv"));
  ASSERT_EQ(got.rows(), 13u);
  for (size_t r = 0; r < 13; ++r) {
    EXPECT_NEAR(got.column("loss")[r], want.column("loss")[r], 1e-5 * std::abs(want.column("loss")[r])) << "row " << r;
    EXPECT_EQ(got.column("hook")[r], 42) << "row " << r;
  }
  const std::vector<float> wa = model_weights(plain.str()), wb = model_weights(graphed.str());
  ASSERT_EQ(wa.size(), wb.size());
  for (size_t i = 0; i < wa.size(); ++i) EXPECT_NEAR(wb[i], wa[i], 1e-5 * (1 + std::abs(wa[i]))) << "weight " << i;
}

// A step that waits for the GPU cannot be captured: the run says why once,
// trains every step as usual and ends as the ordinary loop does.
TEST(TrainingRunCuda, AStepThatCannotBeCapturedRunsAsUsual) {
  REQUIRE_CUDA();
  test::TempDir plain, graphed;
  LinearRegression a, b;
  for (LinearRegression* m : {&a, &b}) {
    m->replayable_on(Device::CUDA);
    m->wait_in_step();
  }
  const RunOutput r = train_plain_then_graphed(a, b, plain, graphed, 7);
  EXPECT_NE(r.err.find("--cuda-graph: the step could not be captured, so it runs as usual"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("cuda graph: no step was captured (7 ordinary steps)"), std::string::npos) << r.out;
  EXPECT_EQ(read_csv_columns(graphed.path("log.csv")).column("loss"), read_csv_columns(plain.path("log.csv")).column("loss"));
}

}  // namespace
}  // namespace skinmtl
