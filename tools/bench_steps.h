// tools/bench_steps.h: what the benchmarks time, shared by bench_cpu (the
// CPU against PyTorch's oneDNN) and bench_gpu (CUDA against PyTorch on the
// same GPU): the three papers' training steps, at a size and batch of the
// caller's choosing, on either device, and the per-op breakdown.
//
// Each step owns its network, optimizer and a batch of random data (speed
// does not depend on the values), built on `device`. run() is one complete
// training step and returns when the device has finished it (on CUDA it
// waits for the stream: the caller's clock must not stop at the last launch).
//
// A header of the tools only (each benchmark is one translation unit).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>
#include <unordered_set>
#include <vector>

#include "framework/autograd.h"
#include "framework/grad_clip.h"
#include "framework/ops.h"
#include "framework/optimizer.h"
#include "framework/random.h"
#include "framework/trace.h"
#include "nets/detseg.h"
#include "nets/fpn.h"
#include "nets/resnet50.h"
#include "nets/segcls.h"

#if SKINMTL_CUDA
#include "kernels/device.h"
#endif

namespace skinmtl::bench {

using Clock = std::chrono::steady_clock;
inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0 : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// When the latest wait_for began: the host's part of a timed run (issuing its
// work, and any wait inside it) ends at its final wait (time_reps).
inline Clock::time_point& last_wait_began() {
  static Clock::time_point t;
  return t;
}

// Waits until `device` has finished what was queued (nothing to do on the CPU).
inline void wait_for(Device device) {
  last_wait_began() = Clock::now();
#if SKINMTL_CUDA
  if (device == Device::CUDA) cuda::synchronize();
#else
  (void)device;
#endif
}

// `warmup` untimed calls, then `reps` timed ones (seconds each). `fn` must
// return only when its work is done, by a final wait_for. With `host`, also
// each run's seconds until that final wait began: the time the CPU took to
// issue the run's work (waits inside the run included). On a GPU, a host time
// close to the whole means the GPU waited for the host (launch and framework
// overhead is the bound); well below it, the kernels are.
inline std::vector<double> time_reps(const std::function<void()>& fn, int warmup, int reps,
                                     std::vector<double>* host = nullptr) {
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = Clock::now();
    fn();
    t.push_back(seconds_since(t0));
    if (host) host->push_back(last_wait_began() > t0 ? std::chrono::duration<double>(last_wait_began() - t0).count()
                                                     : t.back());
  }
  return t;
}

// Runs `cmd` (a shell command line; a fresh process) and parses the JSON
// object it prints on stdout (anything before the first '{' is skipped).
// Null with `why` set when it cannot run, fails or prints no JSON; `what`
// names the program in those messages.
inline nlohmann::json run_json(const std::string& cmd, const std::string& what, std::string& why) {
  std::fflush(stdout);
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    why = "cannot run " + cmd;
    return nullptr;
  }
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int rc = pclose(p);
  if (rc != 0) {
    why = what + " failed (status " + std::to_string(rc) + ")";
    return nullptr;
  }
  try {
    return nlohmann::json::parse(out.substr(std::min(out.size(), out.find('{'))));
  } catch (const std::exception& e) {
    why = "bad output from " + what + ": " + e.what();
    return nullptr;
  }
}

// Where a step's batch lives and how big it is.
struct StepShape {
  int batch = 8, height = 120, width = 160;
  Device device = Device::CPU;
};

// Liao & Luo's step on the plain ResNet-50: zero_grad, forward in training
// mode (batch statistics, or frozen: running statistics with gamma and beta
// trained), softmax cross-entropy on random labels, backward, SGD (lr 1e-3,
// momentum 0.9, weight decay 1e-4). forward() is the same network in eval
// mode without the tape.
struct ResNetStep {
  Rng rng{1};
  ResNet50 net;
  SGD sgd;
  Device device;
  explicit ResNetStep(Device d) : net(keras_resnet50(1000), rng), sgd(net.parameters(), {1e-3, 0.9, 1e-4}), device(d) {
    net.to(d);
  }
  // A batch of B random images of side S and B random labels, on the device.
  std::pair<Tensor, Tensor> batch(int b, int size) {
    std::vector<double> lab(b);
    for (double& l : lab) l = (double)rng.randint(0, 1000);
    return {randn({b, 3, size, size}, rng).to(device), Tensor::from_vector(lab, {b}).to(device)};
  }
  // wait = false queues the work and returns (a CUDA graph capture records it).
  void forward(const Tensor& x, bool wait = true) {
    net.eval();
    NoGradGuard no_grad;
    net.forward(x);
    if (wait) wait_for(device);
  }
  // Returns the step's loss (on the device, off the tape).
  Tensor train(const Tensor& x, const Tensor& labels, bool frozen_bn, bool wait = true) {
    net.train();
    net.set_bn_frozen(frozen_bn);
    sgd.zero_grad();
    const Tensor loss = softmax_cross_entropy(net.forward(x), labels);
    loss.backward();
    sgd.step();
    net.set_bn_frozen(false);
    if (wait) wait_for(device);
    return loss.detach();
  }
};

// Yang et al.: the segmentation + two classifiers model (nets/segcls.h),
// trunk BN frozen; loss = per-pixel BCE + the two BCEs.
struct YangStep {
  Rng rng{2};
  SegClsNet net;
  SGD sgd;
  Device device;
  Tensor x, masks, melanoma, sk;
  explicit YangStep(const StepShape& s)
      : net([] {
          SegClsConfig c;
          c.trunk = keras_resnet50(0);
          return c;
        }(), rng),
        sgd(net.parameters(), {1e-3, 0.9, 1e-4}),
        device(s.device) {
    net.to(device);
    const int b = s.batch;
    x = randn({b, 3, s.height, s.width}, rng).to(device);
    std::vector<double> m((size_t)b * s.height * s.width), mel(b), k(b);
    for (double& v : m) v = rng.uniform() < 0.3 ? 1 : 0;
    for (int i = 0; i < b; ++i) mel[i] = i % 2, k[i] = (i / 2) % 2;
    masks = Tensor::from_vector(m, {b, 1, s.height, s.width}).to(device);
    melanoma = Tensor::from_vector(mel, {b}).to(device);
    sk = Tensor::from_vector(k, {b}).to(device);
  }
  void run(bool wait = true) {
    net.train();
    net.set_trunk_bn_frozen(true);
    sgd.zero_grad();
    net.loss(net.forward(x), masks, melanoma, sk, SegClsLossWeights{}).total.backward();
    sgd.step();
    if (wait) wait_for(device);
  }
};

// Song et al., the part with a PyTorch twin (torchvision's
// FeaturePyramidNetwork): ResNet-50 + FPN on square images of side
// s.height, frozen BN; loss the sum of the five levels' means.
struct SongTrunkFpnStep {
  Rng rng{3};
  ResNet50 trunk;
  FPN fpn;
  std::unique_ptr<SGD> sgd;
  Device device;
  Tensor x;
  explicit SongTrunkFpnStep(const StepShape& s)
      : trunk(keras_resnet50(0), rng), fpn(FpnConfig{}, rng), device(s.device) {
    trunk.to(device);
    fpn.to(device);
    std::vector<Parameter*> params = trunk.parameters();
    for (Parameter* p : fpn.parameters()) params.push_back(p);
    sgd = std::make_unique<SGD>(params, SGDOptions{1e-3, 0.9, 1e-4});
    x = randn({s.batch, 3, s.height, s.height}, rng).to(device);
  }
  void run(bool wait = true) {
    trunk.train();
    trunk.set_bn_frozen(true);
    sgd->zero_grad();
    Tensor loss;
    for (const Tensor& level : fpn.forward(trunk.stages(x)))
      loss = loss.defined() ? add(loss, mean(level)) : mean(level);
    loss.backward();
    sgd->step();
    if (wait) wait_for(device);
  }
};

// Song et al.'s whole training iteration (nets/detseg.h) on square images of
// side s.height, phase 3 (every layer trains, trunk BN frozen): trunk, FPN,
// RPN with focal loss and 1:3 sampling, RoIAlign, the classify / box / mask
// heads, gradient clipping to norm 5. One lesion box (and its mask) per image.
struct SongIteration {
  Rng rng{4};
  DetSegNet net;
  std::unique_ptr<SGD> sgd;
  Device device;
  Tensor x;
  DetSegTargets targets;
  int64_t iteration = 0;
  explicit SongIteration(const StepShape& s)
      : net([] {
          DetSegConfig c;
          c.backbone = keras_resnet50(0);
          return c;
        }(), rng),
        device(s.device) {
    set_detseg_phase(net, 3);
    net.backbone->set_bn_frozen(true);
    net.to(device);
    sgd = std::make_unique<SGD>(net.parameters(), SGDOptions{1e-4, 0.9, 1e-4});
    const int b = s.batch, side = s.height;
    x = randn({b, 3, side, side}, rng).to(device);
    // One lesion per image: two boxes (of a 256 image, scaled to the side) taken in turn.
    const double kBoxes[2][4] = {{40, 50, 180, 200}, {60, 30, 220, 170}};
    std::vector<double> boxes;
    for (int i = 0; i < b; ++i)
      for (double v : kBoxes[i % 2]) boxes.push_back(v * side / 256.0);
    targets.boxes = Tensor::from_vector(boxes, {b, 4});
    std::vector<double> malignant(b);
    for (int i = 0; i < b; ++i) malignant[i] = (i + 1) % 2;
    targets.malignant = Tensor::from_vector(malignant, {b});
    std::vector<double> m((size_t)b * side * side, 0.0);
    for (int i = 0; i < b; ++i)
      for (int y = (int)boxes[4 * i + 1]; y < (int)boxes[4 * i + 3]; ++y)
        for (int x0 = (int)boxes[4 * i]; x0 < (int)boxes[4 * i + 2]; ++x0) m[((size_t)i * side + y) * side + x0] = 1;
    targets.masks = Tensor::from_vector(m, {b, 1, side, side}).to(device);
  }
  void run(bool wait = true) {
    net.train();
    sgd->zero_grad();
    Rng sample_rng(iteration++);  // the anchor and RoI samples
    net.loss(x, targets, sample_rng).total.backward();
    clip_grad_norm_tensor(sgd->params(), 5.0);  // as train detseg: no wait for the norm
    sgd->step();
    if (wait) wait_for(device);
  }
};

// ---- the per-op breakdown -------------------------------------------------------------------
// Where one forward or one training step spends its time, per op kind. On
// CUDA every timed op is followed by a wait for the device (`device`), so
// the figures are each op's own time, launches included, without overlap.
// With `waits` off, nothing waits: the figures are the host's time to queue
// each op (on the CPU, where the work is done as it is queued, the same).

struct Breakdown {
  explicit Breakdown(Device d = Device::CPU, bool w = true) : device(d), waits(w) {}
  Device device;
  bool waits;
  std::map<std::string, double> seconds;
  std::map<std::string, int> calls;
  std::map<std::string, double> flops;  // multiply-adds x 2, for the convolutions
  void add(const std::string& key, double s, double f = 0) {
    seconds[key] += s;
    calls[key] += 1;
    flops[key] += f;
  }
  // Starts a timing: waits for earlier work first.
  Clock::time_point start() const {
    if (waits) wait_for(device);
    return Clock::now();
  }
  // Ends one: waits for the op's work, then adds its time under `key`.
  void stop(const std::string& key, Clock::time_point t0, double f = 0) {
    if (waits) wait_for(device);
    add(key, seconds_since(t0), f);
  }
  // Times f() under `key`; returns what f returns.
  template <typename F>
  auto time(const std::string& key, F&& f) {
    const auto t0 = start();
    if constexpr (std::is_void_v<decltype(f())>) {
      f();
      stop(key, t0);
    } else {
      auto y = f();
      stop(key, t0);
      return y;
    }
  }
  void print(const char* title, double total) const {
    std::vector<std::pair<double, std::string>> rows;
    double sum = 0;
    for (const auto& [k, s] : seconds) rows.push_back({s, k}), sum += s;
    std::sort(rows.rbegin(), rows.rend());
    const bool ms = device == Device::CUDA;  // GPU times read better in milliseconds
    const double unit = ms ? 1e3 : 1;
    const char* u = ms ? "ms" : "s";
    std::printf("\n%s (total %.3f %s)\n", title, total * unit, u);
    for (const auto& [s, k] : rows) {
      std::printf("  %-34s %8.3f %-2s %5.1f%%  (%d calls)", k.c_str(), s * unit, u, 100 * s / total, calls.at(k));
      if (flops.at(k) > 0) std::printf("  %7.1f GFLOP/s", flops.at(k) / s * 1e-9);
      std::printf("\n");
    }
    std::printf("  %-34s %8.3f %-2s %5.1f%%\n", "(everything else)", (total - sum) * unit, u,
                100 * (total - sum) / total);
  }
};

inline std::string conv_key(const Conv2d& c) {
  const Shape& w = c.weight->value.shape();
  return "conv " + std::to_string(w[2]) + "x" + std::to_string(w[3]) + (c.params.stride_h > 1 ? " stride 2" : "");
}

// ResNet50::forward, op by op with timers; mirrors nets/resnet50.cpp.
struct TimedResNet {
  ResNet50& net;
  Breakdown& t;
  Tensor conv(Conv2d& c, const Tensor& x) {
    const auto t0 = t.start();
    Tensor y = c.forward(x);
    const Shape& w = c.weight->value.shape();
    t.stop(conv_key(c), t0, 2.0 * (double)y.numel() * (double)(w[1] * w[2] * w[3]));
    return y;
  }
  Tensor bn(BatchNorm2d& b, const Tensor& x) { return t.time("batch_norm", [&] { return b.forward(x); }); }
  Tensor relu_(const Tensor& x) { return t.time("relu", [&] { return relu(x); }); }
  // conv_bn (framework/module.h): one timer for the folded form, three for the ops.
  Tensor conv_bn_(Conv2d& c, BatchNorm2d& b, const Tensor& x, bool with_relu, const Tensor& residual = Tensor()) {
    if (!conv_bn_folds(c, b, x)) {  // the convolution, then batch_norm2d_act (or batch_norm2d alone)
      const Tensor z = conv(c, x);
      if (residual.defined() && residual.dtype() != z.dtype()) {
        const Tensor n = bn(b, z);
        const Tensor y = t.time("add", [&] { return add(n, residual); });
        return with_relu ? relu_(y) : y;
      }
      if (!with_relu && !residual.defined()) return bn(b, z);
      return t.time("batch_norm" + std::string(residual.defined() ? " + add" : "") + (with_relu ? " + relu" : ""),
                    [&] { return b.forward(z, with_relu, residual); });
    }
    const auto t0 = t.start();
    Tensor y = conv_bn(c, b, x, with_relu, residual);
    const Shape& w = c.weight->value.shape();
    t.stop(conv_key(c) + " + bn folded", t0, 2.0 * (double)y.numel() * (double)(w[1] * w[2] * w[3]));
    return y;
  }
  Tensor block(Bottleneck& b, const Tensor& x) {
    Tensor h = conv_bn_(*b.conv1, *b.bn1, x, true);
    h = conv_bn_(*b.conv2, *b.bn2, h, true);
    const Tensor sc = b.downsample ? conv_bn_(*b.downsample->conv, *b.downsample->bn, x, false) : x;
    return conv_bn_(*b.conv3, *b.bn3, h, true, sc);
  }
  Tensor forward(const Tensor& x) {
    Tensor h = conv_bn_(*net.conv1, *net.bn1, x, true);
    h = t.time("max_pool", [&] { return max_pool2d(h, Pool2dParams::make(3, 2, 1)); });
    for (auto* layer : {net.layer1.get(), net.layer2.get(), net.layer3.get(), net.layer4.get()})
      for (auto& b : layer->blocks) h = block(*b, h);
    h = t.time("global_avg_pool", [&] { return global_avg_pool2d(h); });
    return t.time("linear (fc)", [&] { return net.fc->forward(h); });
  }
};

// Wraps the backward function of every tape node reachable from `root` in a
// timer keyed by the op's name (and, for conv2d, its kernel and stride).
inline void instrument_backward(const Tensor& root, Breakdown& t) {
  std::vector<Node*> stack{root.grad_fn().get()};
  std::unordered_set<Node*> seen{stack.back()};
  while (!stack.empty()) {
    Node* node = stack.back();
    stack.pop_back();
    for (const Edge& in : node->inputs) {
      Node* child = in.producer.get();
      if (child && seen.insert(child).second) stack.push_back(child);
    }
    BackwardFn inner = node->backward;
    std::string name = node->name;
    const bool fused = name == "conv2d_bias_act";  // + bias, residual, ReLU (framework/ops.h)
    const bool is_conv = name == "conv2d" || fused;
    Shape w = is_conv ? node->inputs[1].shape : Shape{};
    int64_t in_h = is_conv ? node->inputs[0].shape[2] : 0;
    node->backward = [inner, name, is_conv, fused, w, in_h, &t](const Tensor& dy, GradBuffers& d) {
      std::string key = "bwd " + name;
      if (is_conv)
        key = "bwd conv " + std::to_string(w[2]) + "x" + std::to_string(w[3]) +
              (dy.size(2) * 2 <= in_h && w[2] < 7 ? " stride 2" : "") + (fused ? " + bias_act" : "");
      // A convolution's backward: the dw GEMM and (when dx is wanted) the dx
      // GEMM, each as many multiply-adds as the forward.
      const double fwd_flops = is_conv ? 2.0 * (double)dy.numel() * (double)(w[1] * w[2] * w[3]) : 0;
      const double f = is_conv ? fwd_flops * ((d.needs(1) ? 1 : 0) + (d.needs(0) ? 1 : 0)) : 0;
      const auto t0 = t.start();
      inner(dy, d);
      t.stop(key, t0, f);
    };
  }
}

// The frozen-BN training step of `s` (one untimed step first, so that the
// timed one finds its memory cached), op by op: returns the step's seconds
// and fills `t`; forward and backward seconds in *fwd, *bwd; with t.waits
// off, *queued gets the host's seconds to queue it all.
inline double breakdown_train_step(ResNetStep& s, const Tensor& x, const Tensor& labels, Breakdown& t,
                                   double* fwd, double* bwd, double* queued = nullptr) {
  s.train(x, labels, true);
  s.net.train();
  s.net.set_bn_frozen(true);
  TimedResNet timed{s.net, t};
  const auto t0 = t.start();
  s.sgd.zero_grad();
  t.stop("zero_grad", t0);
  const auto tf = t.start();
  const Tensor logits = timed.forward(x);
  Tensor loss = t.time("softmax_cross_entropy", [&] { return softmax_cross_entropy(logits, labels); });
  *fwd = seconds_since(tf);
  instrument_backward(loss, t);
  const auto tb = t.start();
  loss.backward();
  if (t.waits) wait_for(s.device);
  *bwd = seconds_since(tb);
  const auto ts = t.start();
  s.sgd.step();
  t.stop("sgd step", ts);
  if (queued) *queued = seconds_since(t0);
  wait_for(s.device);
  s.net.set_bn_frozen(false);
  return seconds_since(t0);
}

// One eval forward of `s` op by op (after a warm-up one): returns its seconds.
inline double breakdown_forward(ResNetStep& s, const Tensor& x, Breakdown& t) {
  s.net.eval();
  NoGradGuard no_grad;
  TimedResNet timed{s.net, t};
  timed.forward(x);  // warm-up
  t = Breakdown(t.device);
  const auto t0 = t.start();
  timed.forward(x);
  wait_for(s.device);
  return seconds_since(t0);
}

// A TraceSink (framework/trace.h) that times the ranges a network marks into
// a Breakdown, each range's time without the ranges nested in it.
struct PhaseTimer : TraceSink {
  explicit PhaseTimer(Breakdown& b) : t(b) {}
  Breakdown& t;
  std::vector<std::pair<std::string, Clock::time_point>> open;  // the ranges begun and not ended
  void begin(const char* name) override {
    if (!open.empty()) t.stop(open.back().first, open.back().second);  // the enclosing range pauses
    open.push_back({name, t.start()});
  }
  void end(const char*) override {
    t.stop(open.back().first, open.back().second);
    open.pop_back();
    if (!open.empty()) open.back().second = t.start();
  }
};

// One iteration of `s` (after two untimed ones) in parts: the phases that
// DetSegNet::loss marks, its backward op by op, the clipping and the SGD
// step. Returns the iteration's seconds, to the end of its work; with
// t.waits off, *queued gets the host's seconds to queue it all.
inline double breakdown_song_iteration(SongIteration& s, Breakdown& t, double* queued = nullptr) {
  for (int i = 0; i < 2; ++i) s.run();  // the allocator's cache and the cuDNN plans filled
  PhaseTimer phases(t);
  const auto t0 = t.start();
  s.net.train();
  t.time("zero_grad", [&] { s.sgd->zero_grad(); });
  Rng sample_rng(1000);  // the same anchor and RoI samples in every breakdown: the same work
  TraceSink* before = set_trace_sink(&phases);
  const Tensor total = s.net.loss(s.x, s.targets, sample_rng).total;
  set_trace_sink(before);
  instrument_backward(total, t);
  total.backward();
  t.time("clip_grad_norm", [&] { clip_grad_norm_tensor(s.sgd->params(), 5.0); });
  t.time("sgd step", [&] { s.sgd->step(); });
  if (queued) *queued = seconds_since(t0);
  wait_for(s.device);
  return seconds_since(t0);
}

// Two breakdowns of the same work side by side: `own` (each part waited for:
// its time, share and GFLOP/s) and `host` (nothing waited for: the host's
// time to queue each part). host_queued: the host's time to queue the whole
// run; host_total: to the end of its work.
inline void print_own_and_host(const char* title, const Breakdown& own, double own_total, const Breakdown& host,
                               double host_queued, double host_total) {
  std::vector<std::pair<double, std::string>> rows;
  for (const auto& [k, s] : own.seconds) rows.push_back({s, k});
  std::sort(rows.rbegin(), rows.rend());
  std::printf("\n%s\n", title);
  std::printf("  %-34s %10s %6s %10s %6s %12s\n", "part", "own ms", "share", "host ms", "calls", "GFLOP/s");
  double own_sum = 0, host_sum = 0;
  for (const auto& [s, k] : rows) {
    const auto h = host.seconds.find(k);
    const double hs = h == host.seconds.end() ? 0 : h->second;
    own_sum += s;
    host_sum += hs;
    std::printf("  %-34s %10.3f %5.1f%% %10.3f %6d", k.c_str(), s * 1e3, 100 * s / own_total, hs * 1e3,
                own.calls.at(k));
    if (own.flops.at(k) > 0) std::printf(" %12.1f", own.flops.at(k) / s * 1e-9);
    std::printf("\n");
  }
  std::printf("  %-34s %10.3f %5.1f%% %10.3f\n", "(everything else)", (own_total - own_sum) * 1e3,
              100 * (own_total - own_sum) / own_total, (host_queued - host_sum) * 1e3);
  std::printf("  own: every part waited for, %.3f ms in all. host: nothing waited for, %.3f ms to queue the\n"
              "  run (waits inside it included) and %.3f ms to its end. A part whose host ms is near its\n"
              "  own ms keeps the GPU waiting for the host.\n",
              own_total * 1e3, host_queued * 1e3, host_total * 1e3);
}

}  // namespace skinmtl::bench
