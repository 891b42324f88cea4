// tools/bench_gpu/main.cpp: `make bench-gpu`, skinmtl's CUDA speed and memory
// against PyTorch's on the same GPU, in the same run.
//
// Cases, each in every configuration of --precision (default
// fp32+benchmark,tf32,tf32+benchmark,bf16+benchmark: FP32 and TF32 tensor
// cores with cuDNN's algorithms chosen by measurement, as PyTorch's are
// (kernels/device.h set_conv_benchmark), TF32 with cuDNN's heuristic choice,
// and bfloat16 mixed precision (framework/precision.h) with measured
// algorithms), timed
// for skinmtl here, then for PyTorch by tools/gpu/bench_torch.py (a child
// process, run after skinmtl's timings, never at the same time):
//   infer_b1    ResNet-50 forward, eval, no autograd, batch 1 at 224: latency
//   infer_b64   the same at batch 64: throughput
//   train_b20   the Liao & Luo step: ResNet-50, 224, batch 20, frozen BN
//               (running statistics, gamma and beta trained), softmax
//               cross-entropy, backward, SGD (momentum 0.9, weight decay 1e-4)
//   train_bmax  the same step at the largest batch that fits (below): the
//               throughput a user with a big GPU gets
//   train_yang  Yang et al.'s model (nets/segcls.h) at the GPU recipe's
//               192x256, batch 8, trunk BN frozen: per-pixel BCE + two BCEs
//   train_fpn   ResNet-50 + FPN at 1024, 2 images, frozen BN, loss the sum of
//               the five levels' means (PyTorch: torchvision's
//               FeaturePyramidNetwork on the same trunk): Song et al.'s trunk
//   iter_song   Song et al.'s whole training iteration (nets/detseg.h, phase
//               3) at 1024, 2 images; PyTorch: torchvision's
//               maskrcnn_resnet50_fpn training step at 1024, 2 images, trunk
//               BN frozen, the nearest reference there is (its heads differ:
//               no focal loss, 512 RoIs per image instead of 128, a 4-conv
//               mask head)
// Both sides build the same networks (the Keras/MSRA ResNet-50 skinmtl
// trains: "v1" strides, conv biases, BN eps 1e-3) with random weights, and
// time --warmup untimed then --reps timed runs, each ended by a wait for the
// GPU. PyTorch runs eager, NCHW, with cudnn.benchmark on (it times the
// candidate algorithms once per shape; skinmtl does under +benchmark, else it
// takes cuDNN's heuristic choice), TF32 off for fp32 and on for tf32 and
// bf16. PyTorch's candidates include the non-deterministic, FFT and Winograd
// algorithms, which skinmtl refuses (kernels/cuda/conv2d_cudnn.cu) so that a
// run repeats bit for bit and float32 sums keep their accuracy. Its bf16 (autocast,
// channels_last, float32 master weights) is what skinmtl's bf16 (autocast,
// NCHW, float32 master weights) is compared with.
//
// The largest batch: skinmtl's peak memory at batch 2 and at batch 20 give
// the step's memory per image and its fixed part (weights, gradients,
// momentum); train_bmax takes the batch that fills 80% of the GPU's free
// memory by that line, in multiples of 8, at most --max-batch (256), halving
// it when it does not fit after all. PyTorch runs the same batch.
//
// Peak memory: the most bytes in use by tensors during the case (skinmtl's
// allocator statistics; torch.cuda.max_memory_allocated), which leaves out
// what either allocator keeps cached.
//
// "+graph" (e.g. tf32+benchmark+graph), an experiment: the fixed-shape cases
// (infer_b1, infer_b64, train_b20, train_yang, train_fpn) are captured once as
// a CUDA graph and replayed (measure_graph), against PyTorch eager at the same
// precision; the others report that they have no graph run.
//
// "+cudnn-graph" (e.g. tf32+benchmark+cudnn-graph): the convolutions through
// cuDNN's graph API (ConvBackend::CuDNNGraph) instead of its legacy API, the
// same engine rules through the interface cuDNN keeps; the rows say whether it
// costs anything.
//
// "+unfused" (e.g. tf32+benchmark+unfused): conv2d_bias_act and
// batch_norm2d_act recorded as the conv2d or batch_norm2d, add and relu they
// stand for (set_conv_epilogue_fusion(false), framework/ops.h): set against
// the same configuration without it, what the fused unit ends give on this GPU
// (the Liao & Luo step folds its units, Yang's normalises with batch statistics).
//
// Host share: the part of skinmtl's run before its final wait for the GPU,
// i.e. the CPU's time to issue the work (bench::time_reps). It says which of
// the remaining speed-ups comes first: near 100% the GPU idles while the host
// launches kernels and runs the tape, so CUDA graphs and fewer, fused launches
// pay; well below 100% the kernels themselves are the bound.
//
// The loss-read row (case "loop"): 8 Liao & Luo steps at batch 20 back to
// back, each step's loss read to the host either right after the step, a
// blocking copy (the queue drains before the next step is queued), or one
// step late through framework/host_read.h as bin/skinmtl's training loop reads
// it; ms per step of each, alternating, the mean of 2 after a warm-up (first
// configuration of --precision).
//
// The loader row (case "loader"): images per second of the segmentation loader
// (io/seg_loader.h) on ISIC 2017 with every core, for Yang's training
// transform at 192x256 and Song's at 1024, when --data-dir has isic2017.
//
// --breakdown adds where skinmtl's time goes in the frozen-BN step at batch
// 20, per op kind, each op followed by a wait for the GPU (tools/bench_steps.h),
// and asks the PyTorch side for torch.profiler's table of the same step; and
// Song et al.'s iteration by phase (the ranges DetSegNet::loss marks,
// framework/trace.h) and backward op, each part's own time (waited for) beside
// the host's time to queue it (nothing waited for).
//
// --device cpu and --smoke exist to check the tool itself on a machine
// without a GPU: --smoke shrinks every case (batch 2, 64 x 64 images; 128 for
// the detector) and runs it once, on either device.
//
// Options: --precision LIST (fp32, tf32, bf16, each with any of +benchmark,
// +graph, +cudnn-graph and +unfused; default fp32+benchmark,tf32,tf32+benchmark,bf16+benchmark; fp32 and bf16
// on the CPU, default fp32), --reps R (10), --warmup
// W (3), --cases A,B, --max-batch B (256), --data-dir DIR (../shared/data),
// --csv FILE (the table's numbers: case, configuration, batch, each side's
// median seconds per run and peak MB, PyTorch's bf16 seconds, skinmtl's host
// seconds), --breakdown,
// --no-torch, --device cuda|cpu, --smoke.
// Run it from the repository root (it finds tools/gpu/bench_torch.py from there);
// $PYTHON names the Python with PyTorch (default: python3).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "framework/allocator.h"
#include "framework/cuda_graph.h"
#include "framework/host_read.h"
#include "io/seg_data.h"
#include "io/seg_loader.h"
#include "tools/bench_steps.h"

using namespace skinmtl;
using bench::median;

namespace {

struct Options {
  // Configurations: a precision, fp32, tf32 or bf16, with any of
  // "+benchmark" (the measured cuDNN algorithm choice), "+graph" (the
  // fixed-shape cases replayed as a CUDA graph) and "+cudnn-graph" (the
  // convolutions through cuDNN's graph API).
  std::vector<std::string> precisions = {"fp32+benchmark", "tf32", "tf32+benchmark", "bf16+benchmark"};
  bool precisions_given = false;
  std::vector<std::string> cases;  // empty: all
  int reps = 10, warmup = 3, max_batch = 256;
  std::string data_dir = "../shared/data";
  bool breakdown = false, with_torch = true, smoke = false;
  std::string csv;  // --csv FILE: the table's numbers, one row per case and configuration
  Device device = Device::CUDA;
};

const std::vector<std::string> kCases = {"infer_b1",   "infer_b64", "train_b20", "train_bmax",
                                         "train_yang", "train_fpn", "iter_song", "loop",     "loader"};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string x; std::getline(in, x, ',');)
    if (!x.empty()) out.push_back(x);
  return out;
}

// A configuration's modifiers: "tf32+benchmark+graph" -> {"benchmark", "graph"}.
std::vector<std::string> modifiers(const std::string& config) {
  std::vector<std::string> out;
  std::stringstream in(config);
  std::string x;
  std::getline(in, x, '+');  // the precision
  while (std::getline(in, x, '+')) out.push_back(x);
  return out;
}
bool has_modifier(const std::string& config, const std::string& m) {
  const std::vector<std::string> mods = modifiers(config);
  return std::find(mods.begin(), mods.end(), m) != mods.end();
}

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "bench_gpu: %s\nusage: bench_gpu [--precision fp32,tf32,tf32+benchmark,bf16+benchmark,tf32+graph,tf32+cudnn-graph,tf32+unfused,...] [--reps R] [--warmup W] [--cases A,B] "
               "[--max-batch B] [--data-dir DIR] [--csv FILE] [--breakdown] [--no-torch] [--device cuda|cpu] [--smoke]\n"
               "cases: infer_b1 infer_b64 train_b20 train_bmax train_yang train_fpn iter_song loop loader\n",
               why.c_str());
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    auto number = [&](int lo) {
      const std::string v = value();
      char* end = nullptr;
      const long n = std::strtol(v.c_str(), &end, 10);
      if (*end || n < lo) usage(a + " wants a whole number >= " + std::to_string(lo) + ", got '" + v + "'");
      return (int)n;
    };
    if (a == "--precision") o.precisions = split(value()), o.precisions_given = true;
    else if (a == "--cases") o.cases = split(value());
    else if (a == "--reps") o.reps = number(1);
    else if (a == "--warmup") o.warmup = number(0);
    else if (a == "--max-batch") o.max_batch = number(8);
    else if (a == "--data-dir") o.data_dir = value();
    else if (a == "--csv") o.csv = value();
    else if (a == "--breakdown") o.breakdown = true;
    else if (a == "--no-torch") o.with_torch = false;
    else if (a == "--smoke") o.smoke = true;
    else if (a == "--device") {
      const std::string d = value();
      if (d != "cuda" && d != "cpu") usage("--device is cuda or cpu, got '" + d + "'");
      o.device = d == "cuda" ? Device::CUDA : Device::CPU;
    } else usage("unknown option " + a);
  }
  for (const std::string& p : o.precisions) {
    const std::string base = p.substr(0, p.find('+'));
    bool ok = base == "fp32" || base == "tf32" || base == "bf16";
    const std::vector<std::string> mods = modifiers(p);
    for (size_t i = 0; i < mods.size(); ++i)
      ok = ok && (mods[i] == "benchmark" || mods[i] == "graph" || mods[i] == "cudnn-graph" || mods[i] == "unfused") &&
           std::find(mods.begin(), mods.begin() + i, mods[i]) == mods.begin() + i;
    if (!ok)
      usage("--precision takes fp32, tf32 and bf16, each with any of +benchmark, +graph, +cudnn-graph and +unfused, got '" +
            p + "'");
  }
  if (o.precisions.empty()) usage("--precision names no precision");
  if (o.device == Device::CPU && !o.precisions_given) o.precisions = {"fp32"};
  for (const std::string& p : o.precisions) {
    const std::string base = p.substr(0, p.find('+'));
    const std::vector<std::string> mods = modifiers(p);
    const bool cpu_ok = (base == "fp32" || base == "bf16") && (mods.empty() || mods == std::vector<std::string>{"unfused"});
    if (o.device == Device::CPU && !cpu_ok)
      usage("--device cpu takes --precision fp32 and bf16, with +unfused or nothing (TF32, cuDNN and CUDA graphs are "
            "GPU modes), got '" + p + "'");
  }
  for (const std::string& c : o.cases)
    if (std::find(kCases.begin(), kCases.end(), c) == kCases.end()) usage("unknown case '" + c + "'");
  if (o.cases.empty()) o.cases = kCases;
  if (o.smoke) o.reps = 1, o.warmup = 0;
  return o;
}

CachingAllocator& allocator_of(Device d) { return d == Device::CUDA ? cuda_allocator() : cpu_allocator(); }

// "tf32+benchmark" -> "tf32": the precision PyTorch is compared at.
std::string precision_of(const std::string& config) { return config.substr(0, config.find('+')); }

// Puts the process in a configuration's modes: autocast for bf16 (either
// device); on the GPU, TF32 for tf32 and bf16 (what stays float32 in bf16, as
// PyTorch's default for convolutions) and the cuDNN search.
void apply_config(Device d, const std::string& config) {
  set_autocast_bf16(precision_of(config) == "bf16");
  set_conv_epilogue_fusion(!has_modifier(config, "unfused"));
  if (d != Device::CUDA) return;
  set_cuda_tf32(precision_of(config) != "fp32");
  set_cuda_conv_benchmark(has_modifier(config, "benchmark"));
  static const ConvBackend initial = conv_backend();  // SKINMTL_CONV_BACKEND's, or auto
  set_conv_backend(has_modifier(config, "cudnn-graph") ? ConvBackend::CuDNNGraph : initial);
}

// Whether a configuration replays the fixed-shape cases as CUDA graphs.
bool graphed(const std::string& config) { return has_modifier(config, "graph"); }

// What one case measured on one side.
struct Result {
  std::vector<double> seconds;
  std::vector<double> host_seconds;  // skinmtl: until the run's final wait (bench::time_reps)
  int batch = 0;            // images per run
  double peak_mb = -1;      // the most memory in use by tensors; -1 unknown
  std::string error;        // why it did not run
};

// Times `fn` (warm-up included in the peak memory).
Result measure(const Options& o, Device d, int batch, const std::function<void()>& fn) {
  Result r;
  r.batch = batch;
  CachingAllocator& a = allocator_of(d);
  try {
    a.reset_peak();
    r.seconds = bench::time_reps(fn, o.warmup, o.reps, &r.host_seconds);
    r.peak_mb = a.stats().peak_bytes_in_use / 1e6;
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  return r;
}

// A CUDA graph experiment ("+graph" configurations): `enqueue` queues one run
// of a fixed-shape case without waiting. After --warmup ordinary runs (which
// fill the allocator's cache and build the cuDNN plans) one run is captured
// (framework/cuda_graph.h, as `train --cuda-graph on` does), and the timed
// runs replay it: one launch of the host's instead of hundreds. A capture
// that fails (something in the run waited for the GPU or uploaded) is the
// result's error.
Result measure_graph(const Options& o, Device d, int batch, const std::function<void()>& enqueue) {
  Result r;
  r.batch = batch;
  if (d != Device::CUDA) {
    r.error = "CUDA graphs need the GPU";
    return r;
  }
  CachingAllocator& a = allocator_of(d);
  CudaGraph graph;
  try {
    a.reset_peak();
    for (int i = 0; i < std::max(1, o.warmup); ++i) {
      enqueue();
      bench::wait_for(d);
    }
    const std::string why = graph.capture(enqueue);
    if (!why.empty()) {
      r.error = "CUDA graph: " + why;
      return r;
    }
    r.seconds = bench::time_reps(
        [&] {
          graph.replay();
          bench::wait_for(d);
        },
        1, o.reps, &r.host_seconds);
    r.peak_mb = a.stats().peak_bytes_in_use / 1e6;
  } catch (const std::exception& e) {
    r.error = std::string("CUDA graph: ") + e.what();
  }
  return r;
}

// The result of a case that has no "+graph" run: its shapes change from one
// run to the next, or it is not one of the probed steps.
Result not_graphed(const std::string& why) {
  Result r;
  r.error = "no CUDA graph run: " + why;
  return r;
}

// Builds a Step (tools/bench_steps.h) of `shape` and times its run(); a
// failure (out of memory, say) is the result's error.
template <typename Step>
Result measure_step(const Options& o, const bench::StepShape& shape, bool graph = false) {
  try {
    Step step(shape);
    if (graph) return measure_graph(o, shape.device, shape.batch, [&] { step.run(/*wait=*/false); });
    return measure(o, shape.device, shape.batch, [&] { step.run(); });
  } catch (const std::exception& e) {
    Result r;
    r.error = e.what();
    return r;
  }
}

// The sizes of every case: the benchmark's, or --smoke's tiny ones.
struct Sizes {
  int image = 224, b64 = 64, b20 = 20, yang_b = 8, yang_h = 192, yang_w = 256, song = 1024, song_b = 2;
  static Sizes of(bool smoke) {
    Sizes s;
    if (smoke) s.image = 64, s.b64 = 4, s.b20 = 2, s.yang_b = 2, s.yang_h = 64, s.yang_w = 64, s.song = 128;
    return s;
  }
};

// The largest batch of the ResNet-50 step that should fit: a straight line
// through the peak memory at batch 2 and at batch 20, against 80% of what the
// device has free (plus what our allocator holds cached, which it would hand
// out again).
int largest_batch(const Options& o, bench::ResNetStep& s, const Sizes& z) {
  auto peak_at = [&](int b) {
    const auto xb = s.batch(b, z.image);
    CachingAllocator& a = allocator_of(o.device);
    a.reset_peak();
    s.train(xb.first, xb.second, true);
    return (double)a.stats().peak_bytes_in_use;
  };
  const double p2 = peak_at(2), p20 = peak_at(20);
  const double per_image = std::max(1.0, (p20 - p2) / 18), fixed = p2 - 2 * per_image;
  double room = 4e9;  // the CPU (a smoke test): a few GB
#if SKINMTL_CUDA
  if (o.device == Device::CUDA)
    room = (double)cuda::device_free_bytes() + (double)cuda_allocator().stats().bytes_cached;
#endif
  const int fit = (int)((0.8 * room - fixed) / per_image);
  const int b = std::min(o.max_batch, fit / 8 * 8);
  std::printf("largest batch: %.0f MB fixed + %.1f MB per image, %.0f MB free: batch %d (at most %d)\n", fixed / 1e6,
              per_image / 1e6, room / 1e6, b, o.max_batch);
  return std::max(8, b);
}

// The "loop" row: ms per step of back-to-back frozen-BN steps at batch 20
// whose losses are read right after each step (a blocking copy) or one step
// late (HostRead, as app/training_run.cpp reads them).
std::string time_loss_reads(const Options& o, bench::ResNetStep& s, const Sizes& z) {
  apply_config(o.device, o.precisions.front());
  const auto xb = s.batch(z.b20, z.image);
  const int steps = o.smoke ? 2 : 8;
  HostRead reads[2];
  double sink = 0;  // the losses, so that nothing is optimised away
  auto run = [&](bool late) {
    const auto t0 = bench::Clock::now();
    int next = 0;
    for (int k = 0; k < steps; ++k) {
      const Tensor loss = s.train(xb.first, xb.second, true, /*wait=*/false);
      if (!late) {
        sink += loss.to(Device::CPU).item();
        continue;
      }
      reads[next].start(loss);
      if (k > 0) sink += reads[next ^ 1].values()[0];
      next ^= 1;
    }
    if (late) sink += reads[next ^ 1].values()[0];
    bench::wait_for(o.device);
    return bench::seconds_since(t0) / steps;
  };
  std::vector<double> blocking, late;
  run(false), run(true);  // warm-up: plans, cached memory
  for (int r = 0; r < 2; ++r) blocking.push_back(run(false)), late.push_back(run(true));
  char buf[200];
  std::snprintf(buf, sizeof buf,
                "loss read, Liao & Luo step b%d (%s), %d steps back to back: right after each step %.2f ms/step, "
                "one step late %.2f ms/step (%+.1f%%)%s",
                z.b20, o.precisions.front().c_str(), steps, 1e3 * median(blocking), 1e3 * median(late),
                100 * (median(late) / median(blocking) - 1), std::isfinite(sink) ? "" : " (a loss was not finite)");
  return buf;
}

// Runs tools/gpu/bench_torch.py; its JSON, or null with `why` set.
nlohmann::json run_torch(const Options& o, int bmax, std::string& why) {
  const char* script = "tools/gpu/bench_torch.py";
  if (!std::filesystem::exists(script)) {
    why = std::string(script) + " not found: run from the repository root";
    return nullptr;
  }
  std::string cases;
  for (const std::string& c : o.cases)
    if (c != "loader" && c != "loop") cases += (cases.empty() ? "" : ",") + c;
  if (cases.empty()) {
    why = "no case to compare";
    return nullptr;
  }
  std::ostringstream cmd;
  const char* python = std::getenv("PYTHON");
  cmd << (python && *python ? python : "python3") << " " << script << " --device " << (o.device == Device::CUDA ? "cuda" : "cpu") << " --reps "
      << o.reps << " --warmup " << o.warmup << " --cases " << cases << " --bmax " << bmax
      << (o.smoke ? " --smoke" : "") << (o.breakdown ? " --profile" : "") << " --precision ";
  std::vector<std::string> precisions;  // each once, in order
  for (const std::string& c : o.precisions)
    if (std::find(precisions.begin(), precisions.end(), precision_of(c)) == precisions.end())
      precisions.push_back(precision_of(c));
  // PyTorch's bf16 is always run on the GPU (the table's last column).
  if (o.device == Device::CUDA && std::find(precisions.begin(), precisions.end(), "bf16") == precisions.end())
    precisions.push_back("bf16");
  for (size_t i = 0; i < precisions.size(); ++i) cmd << (i ? "," : "") << precisions[i];
  nlohmann::json j = bench::run_json(cmd.str(), "bench_torch.py", why);
  if (!j.is_object() && why.find("failed") != std::string::npos) why += "; is PyTorch with CUDA installed?";
  return j;
}

// One side's figure for a case: latency in ms for infer_b1, else images/s.
std::string figure(const std::string& c, const Result& r) {
  if (!r.error.empty() || r.seconds.empty()) return "-";
  char buf[48];
  const double s = median(r.seconds);
  if (c == "infer_b1") std::snprintf(buf, sizeof buf, "%.2f ms", s * 1e3);
  else std::snprintf(buf, sizeof buf, "%.1f img/s", r.batch / s);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  if (o.device == Device::CUDA && !cuda_available()) {
    std::fprintf(stderr, "bench_gpu: CUDA cannot start: %s (--device cpu --smoke checks the tool on a CPU)\n",
                 cuda_unavailable_reason().c_str());
    return 1;
  }
  // The CSV file is opened first: a path that cannot be written fails before any timing.
  std::ofstream csv;
  if (!o.csv.empty()) {
    csv.open(o.csv);
    if (!csv) {
      std::fprintf(stderr, "bench_gpu: cannot write %s\n", o.csv.c_str());
      return 1;
    }
    csv << "case,precision,batch,skinmtl_s,pytorch_s,speed_ratio,skinmtl_peak_mb,pytorch_peak_mb,pytorch_bf16_s,"
           "skinmtl_host_s\n";
  }
  const Sizes z = Sizes::of(o.smoke);
  const Device d = o.device;
  const std::string device_name = d == Device::CUDA ? cuda_device_description() : "the CPU";
  std::printf("bench_gpu: skinmtl against PyTorch on %s; %d warm-up + %d timed runs per case%s\n",
              device_name.c_str(), o.warmup, o.reps, o.smoke ? " (--smoke: tiny sizes)" : "");
  std::fflush(stdout);

  auto wanted = [&](const std::string& c) { return std::find(o.cases.begin(), o.cases.end(), c) != o.cases.end(); };
  // results[precision][case]
  std::map<std::string, std::map<std::string, Result>> ours;
  // Each figure as soon as it is measured: a run cut short by a time limit
  // (tools/gpu/run.sh) still leaves what it measured in its log.
  auto measured = [&](const std::string& p, const std::string& c) {
    const Result& r = ours[p][c];
    std::printf("measured: %s, %s: %s%s\n", c.c_str(), p.c_str(), figure(c, r).c_str(),
                r.error.empty() ? "" : (" (" + r.error + ")").c_str());
    std::fflush(stdout);
  };
  int bmax = 0;
  std::string loop_row;
  {
    bench::ResNetStep resnet(d);
    for (const std::string& p : o.precisions) {
      apply_config(d, p);
      auto& r = ours[p];
      const bool graph = graphed(p);
      if (wanted("infer_b1")) {
        const Tensor x = resnet.batch(1, z.image).first;
        r["infer_b1"] = graph ? measure_graph(o, d, 1, [&] { resnet.forward(x, false); })
                              : measure(o, d, 1, [&] { resnet.forward(x); });
      }
      if (wanted("infer_b64")) {
        const Tensor x = resnet.batch(z.b64, z.image).first;
        r["infer_b64"] = graph ? measure_graph(o, d, z.b64, [&] { resnet.forward(x, false); })
                               : measure(o, d, z.b64, [&] { resnet.forward(x); });
      }
      if (wanted("train_b20")) {
        const auto xb = resnet.batch(z.b20, z.image);
        r["train_b20"] = graph ? measure_graph(o, d, z.b20, [&] { resnet.train(xb.first, xb.second, true, false); })
                               : measure(o, d, z.b20, [&] { resnet.train(xb.first, xb.second, true); });
        allocator_of(d).empty_cache();  // a graph's blocks go back before the next case
      }
      if (wanted("train_bmax") && graph) {
        r["train_bmax"] = not_graphed("probed at batch 20 only");
      } else if (wanted("train_bmax")) {
        if (bmax == 0) bmax = o.smoke ? 8 : largest_batch(o, resnet, z);
        for (int b = bmax; b >= 8; b /= 2) {
          Result res;
          {
            const auto xb = resnet.batch(b, z.image);
            res = measure(o, d, b, [&] { resnet.train(xb.first, xb.second, true); });
          }
          allocator_of(d).empty_cache();  // the next case starts from the memory it needs
          if (res.error.empty() || b / 2 < 8) {
            r["train_bmax"] = res;
            bmax = b;
            break;
          }
          std::printf("train_bmax: batch %d did not fit (%s); halving\n", b, res.error.c_str());
        }
      }
      for (const auto& kv : r) measured(p, kv.first);
      std::fprintf(stderr, "bench_gpu: %s ResNet-50 cases done\n", p.c_str());
    }
    if (wanted("loop")) loop_row = time_loss_reads(o, resnet, z);
    if (o.breakdown) try {
      apply_config(d, o.precisions.back());
      const auto xb = resnet.batch(z.b20, z.image);
      // Twice: each op waited for (its own time), then nothing waited for
      // (the host's time to queue each op), as Song's below.
      bench::Breakdown own(d), host(d, /*waits=*/false);
      double fwd = 0, bwd = 0, host_fwd = 0, host_bwd = 0, queued = 0;
      const double total = bench::breakdown_train_step(resnet, xb.first, xb.second, own, &fwd, &bwd);
      const double host_total =
          bench::breakdown_train_step(resnet, xb.first, xb.second, host, &host_fwd, &host_bwd, &queued);
      std::printf("\n(frozen-BN training step, %s: forward %.2f ms, backward %.2f ms; the host queues them in "
                  "%.2f and %.2f ms)",
                  o.precisions.back().c_str(), fwd * 1e3, bwd * 1e3, host_fwd * 1e3, host_bwd * 1e3);
      bench::print_own_and_host(
          ("skinmtl training step, frozen BN, batch " + std::to_string(z.b20) + ", by op").c_str(), own, total,
          host, queued, host_total);
    } catch (const std::exception& e) {
      // The table and PyTorch's side still run.
      std::printf("\n(the training step's breakdown failed: %s)\n", e.what());
    }
  }
  allocator_of(d).empty_cache();
  // The other papers' steps, one network at a time.
  // `time_one(graph)` times one configuration (measure_step<Step>).
  auto paper_case = [&](const std::string& c, auto time_one) {
    if (!wanted(c)) return;
    for (const std::string& p : o.precisions) {
      apply_config(d, p);
      ours[p][c] = time_one(graphed(p));
      measured(p, c);
      allocator_of(d).empty_cache();
    }
    std::fprintf(stderr, "bench_gpu: %s done\n", c.c_str());
  };
  const bench::StepShape yang{z.yang_b, z.yang_h, z.yang_w, d}, song{z.song_b, z.song, z.song, d};
  paper_case("train_yang", [&](bool graph) { return measure_step<bench::YangStep>(o, yang, graph); });
  paper_case("train_fpn", [&](bool graph) { return measure_step<bench::SongTrunkFpnStep>(o, song, graph); });
  paper_case("iter_song", [&](bool graph) {
    return graph ? not_graphed("its RoI counts change every iteration") : measure_step<bench::SongIteration>(o, song);
  });
  if (o.breakdown && wanted("iter_song")) {
    try {
      // Song et al.'s iteration in parts, twice: each part waited for (its own
      // time), then nothing waited for (the host's time to queue each part).
      apply_config(d, o.precisions.back());
      bench::SongIteration it(song);
      bench::Breakdown own(d), host(d, /*waits=*/false);
      const double own_total = bench::breakdown_song_iteration(it, own);
      double queued = 0;
      const double host_total = bench::breakdown_song_iteration(it, host, &queued);
      bench::print_own_and_host(("skinmtl Song et al. iteration, " + o.precisions.back() + ", " +
                                 std::to_string(z.song) + " x " + std::to_string(z.song) + ", batch " +
                                 std::to_string(z.song_b) + ", by phase and backward op")
                                    .c_str(),
                                own, own_total, host, queued, host_total);
    } catch (const std::exception& e) {
      std::printf("\n(Song et al.'s iteration breakdown failed: %s)\n", e.what());
    }
    allocator_of(d).empty_cache();  // the breakdown's blocks go back, finished or not
  }
  apply_config(d, "fp32");

  // The loader, on the CPU's cores.
  std::vector<std::string> loader_rows;
  if (!wanted("loader")) {
  } else if (std::filesystem::exists(o.data_dir + "/isic2017/labels.csv")) {
    try {
      const SegData data = load_seg_data("isic2017", o.data_dir);
      LoaderOptions lo;
      lo.threads = (int)std::max(1u, std::thread::hardware_concurrency());
      for (const auto& [name, t, b] : {std::tuple{"Yang train 192x256", yang_train_transform(192, 256), 8},
                                        std::tuple{"Song train 1024", song_train_transform(1024), 2}}) {
        lo.batch_size = b;
        SegLoader loader(data.train, t, lo);
        loader.start_epoch(0);
        SegBatch batch;
        for (int i = 0; i < (o.smoke ? 2 : 40) && loader.next(batch); ++i) {
        }
        char buf[160];
        std::snprintf(buf, sizeof buf, "loader, %s: %.0f images/s (%d threads)", name, loader.stats().images_per_second(),
                      lo.threads);
        loader_rows.push_back(buf);
      }
    } catch (const std::exception& e) {
      loader_rows.push_back(std::string("loader: ") + e.what());
    }
  } else {
    loader_rows.push_back("loader: not timed (no " + o.data_dir + "/isic2017/labels.csv; --data-dir)");
  }

  std::string why = o.with_torch ? "" : "--no-torch";
  nlohmann::json theirs = why.empty() ? run_torch(o, bmax, why) : nlohmann::json(nullptr);
  auto torch_result = [&](const std::string& p, const std::string& c) {
    Result r;
    if (!theirs.is_object() || !theirs.contains(p) || !theirs[p].contains(c)) return r;
    const nlohmann::json& j = theirs[p][c];
    if (j.contains("error")) r.error = j["error"].get<std::string>();
    if (j.contains("seconds")) r.seconds = j["seconds"].get<std::vector<double>>();
    r.batch = j.value("batch", 0);
    r.peak_mb = j.value("peak_mb", -1.0);
    return r;
  };

  const std::map<std::string, std::string> label = {
      {"infer_b1", "ResNet-50 inference b1 latency"},
      {"infer_b64", "ResNet-50 inference b" + std::to_string(z.b64)},
      {"train_b20", "Liao & Luo step b" + std::to_string(z.b20)},
      {"train_bmax", "Liao & Luo step b" + std::to_string(bmax) + " (largest)"},
      {"train_yang", "Yang step " + std::to_string(z.yang_h) + "x" + std::to_string(z.yang_w) + " b" +
                         std::to_string(z.yang_b)},
      {"train_fpn", "Song trunk+FPN " + std::to_string(z.song) + " b" + std::to_string(z.song_b)},
      {"iter_song", "Song iteration " + std::to_string(z.song) + " b" + std::to_string(z.song_b) + " (PT: Mask R-CNN)"}};
  auto mb = [](double v) {
    char buf[32];
    if (v < 0) return std::string("-");
    std::snprintf(buf, sizeof buf, "%.0f MB", v);
    return std::string(buf);
  };
  // A CSV cell: the median seconds, or empty when that side did not run.
  auto cell = [](const Result& r) { return r.seconds.empty() ? std::string() : std::to_string(median(r.seconds)); };
  // The share of skinmtl's run the host spent issuing it.
  auto host_share = [](const Result& r) {
    if (r.seconds.empty() || r.host_seconds.empty()) return std::string("-");
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.0f%%", 100 * median(r.host_seconds) / median(r.seconds));
    return std::string(buf);
  };
  std::printf("\n%-42s %-14s %13s %6s %13s %7s %10s %10s %13s\n", "case", "precision", "skinmtl", "host", "PyTorch",
              "speed", "skinmtl", "PyTorch", "PyTorch bf16");
  std::printf("%-42s %-14s %13s %6s %13s %7s %10s %10s %13s\n", "", "", "", "share", "", "ratio", "peak mem", "peak mem",
              "+ chan.last");
  for (const std::string& c : kCases) {
    if (!wanted(c) || c == "loader" || c == "loop") continue;
    for (const std::string& p : o.precisions) {
      const Result a = ours[p][c], b = torch_result(precision_of(p), c), bf = torch_result("bf16", c);
      // > 1: skinmtl is faster (their time over ours at the same batch).
      std::string ratio = "-";
      if (!a.seconds.empty() && !b.seconds.empty() && a.batch == b.batch) {
        char buf[16];
        std::snprintf(buf, sizeof buf, "%.2fx", median(b.seconds) / median(a.seconds));
        ratio = buf;
      }
      std::printf("%-42s %-14s %13s %6s %13s %7s %10s %10s %13s\n", label.at(c).c_str(), p.c_str(),
                  figure(c, a).c_str(), host_share(a).c_str(), figure(c, b).c_str(), ratio.c_str(),
                  mb(a.peak_mb).c_str(), mb(b.peak_mb).c_str(), p == o.precisions.front() ? figure(c, bf).c_str() : "");
      if (csv.is_open())
        csv << c << "," << p << "," << a.batch << "," << cell(a) << "," << cell(b) << ","
            << (ratio == "-" ? std::string() : ratio.substr(0, ratio.size() - 1)) << ","
            << (a.peak_mb < 0 ? std::string() : std::to_string(a.peak_mb)) << ","
            << (b.peak_mb < 0 ? std::string() : std::to_string(b.peak_mb)) << "," << cell(bf) << ","
            << (a.host_seconds.empty() ? std::string() : std::to_string(median(a.host_seconds))) << "\n";
      if (!a.error.empty()) std::printf("    skinmtl: %s\n", a.error.c_str());
      if (!b.error.empty()) std::printf("    PyTorch: %s\n", b.error.c_str());
    }
  }
  std::printf("speed ratio: PyTorch's time / skinmtl's at the same batch and precision (> 1: skinmtl is faster). "
              "Targets: training steps >= 1.3x at TF32 (Song: >= 1.5x), peak memory <= PyTorch's.\n");
  std::printf("host share: of skinmtl's run, the time until its final wait for the device, i.e. the CPU issuing "
              "the work (waits inside included: Song's box reads, gradient clipping). Near 100%%: the GPU waits "
              "for the host, so fewer launches and CUDA graphs pay; well below: the kernels are the bound.\n");
  if (theirs.is_object())
    std::printf("PyTorch %s, %s; eager, NCHW (bf16: autocast + channels_last), cudnn.benchmark on.\n",
                theirs.value("torch", std::string("?")).c_str(), theirs.value("device", std::string("?")).c_str());
  else
    std::printf("PyTorch: not run (%s)\n", why.c_str());
  if (!loop_row.empty()) std::printf("%s\n", loop_row.c_str());
  for (const std::string& row : loader_rows) std::printf("%s\n", row.c_str());
  return 0;
}
