// tools/bench_cpu/main.cpp: `make bench-cpu`, skinmtl's CPU speed against
// PyTorch's on the same machine, in the same run.
//
// Seven cases, each timed for skinmtl here and (but the last) for Debian's python3-torch by
// tools/bench_cpu/bench_torch.py (run as a child process afterwards, never at
// the same time):
//   forward, batch 1      ResNet-50, 224x224, eval mode, no autograd
//   forward, batch 20     the same at Liao & Luo's batch size
//   SGD step, batch 20    zero_grad + forward in training mode (batch
//                         statistics) + softmax cross-entropy on random labels
//                         + backward + SGD update (lr 1e-3, momentum 0.9,
//                         weight decay 1e-4)
//   frozen-BN step, b20   the same with frozen batch norm (running statistics,
//                         gamma and beta trained): the step all three papers'
//                         models fine-tune with (Liao & Luo's: 224, batch 20)
//   Yang step, b8         Yang et al.'s segmentation + two classifiers model
//                         (nets/segcls.h), 120x160 (the CPU reproduce recipe's),
//                         batch 8, trunk BN frozen: per-pixel BCE + two BCEs
//   Song trunk+FPN, b2    the part of Song et al.'s network PyTorch has a twin
//                         of (torchvision's FeaturePyramidNetwork): ResNet-50 +
//                         FPN at letterbox 256, 2 images, frozen BN, loss the
//                         sum of the five levels' means
//   Song whole iteration  the detect + classify + segment network's training
//                         iteration (phase 3, every layer; RPN, RoIAlign, the
//                         three heads, gradient clipping): skinmtl alone
// on the network skinmtl trains: the Keras/MSRA ResNet-50 (stride "v1", conv
// biases, BatchNorm eps 1e-3, 1000 classes), with random weights (speed does
// not depend on the values).
//
// Both sides use the same number of threads (--threads, default: every core):
// skinmtl's OpenMP thread count (its only pool: OpenBLAS runs one thread per
// GEMM block, kernels/cpu/gemm.cpp), torch.set_num_threads. The run
// is --rounds rounds; in each, every case runs --warmup untimed repetitions
// and --reps timed ones, first for skinmtl, then for PyTorch. Alternating
// spreads a disturbance (another job on a shared machine) over both sides.
// PyTorch runs each case in its default layout (NCHW, as skinmtl) and in
// channels_last (NHWC, oneDNN's preferred one); the table sets skinmtl against
// the faster of the two ("PyTorch's best"). Both sides run with
// OMP_WAIT_POLICY=PASSIVE (the program restarts itself with it when it is not
// set): OpenMP threads that spin while they wait make a loaded 2-core machine
// several times slower, which would flatter whichever side spins.
// The table shows the median of all timed runs of each side, the ratio
// skinmtl / PyTorch's best (the target: <= 0.8), each side's range, and the
// peak resident memory of a fresh process running that case alone (a warm-up
// and one run; --only CASE is that process), with the load average before and
// after the run.
//
// The last line times the checkpoint load: a fresh process (--time-load is
// that process) runs load_resnet50 on --weights (default
// weights/resnet50_imagenet.safetensors, from `make weights`), five times; the
// target is under 0.5 s. Skipped with --cases.
//
// --breakdown adds where skinmtl's time goes in one forward (eval, batch 20)
// and one training step: per op kind, forward ops timed by a forward that
// mirrors nets/resnet50.cpp call for call, backward ops by wrapping each tape
// node's backward function in a timer (the library itself is not
// instrumented). It also asks the PyTorch side for torch.autograd.profiler's
// table of one training step (printed to stderr).
//
// Options: --threads N, --rounds K (3), --reps R (3), --warmup W (1),
// --size S (224), --batch B (20), --cases A,B (only these; default all),
// --conv-grouping BELOW MAXCOLS (conv2d's images per GEMM, framework/ops.h),
// --breakdown, --no-torch, --no-memory, --weights FILE.
//
// Build (the Makefile rule `make bench-cpu` does this and runs it):
//   g++ -I. -I/usr/include/stb -DSKINMTL_CUDA=0 -std=c++17 -O2 -fopenmp
//       tools/bench_cpu/main.cpp build/cpu/libskinmtl.a -o bin/bench_cpu
//       -lopenblas -fopenmp -lpthread
// Run it from the repository root (it finds bench_torch.py from there).
#include <cblas.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_set>
#include <vector>

#include "nets/resnet50_weights.h"
#include "tools/bench_steps.h"

using namespace skinmtl;

namespace {

using bench::Clock;
using bench::median;
using bench::seconds_since;
using bench::time_reps;

// ---- the PyTorch side -----------------------------------------------------------------------

// Runs bench_torch.py; returns its JSON, or null with `why` set.
nlohmann::json run_torch(int threads, int reps, int warmup, int size, int batch, bool profile,
                         const std::string& cases, std::string& why) {
  const char* script = "tools/bench_cpu/bench_torch.py";
  if (!std::filesystem::exists(script)) {
    why = std::string(script) + " not found: run from the repository root";
    return nullptr;
  }
  if (std::system("/usr/bin/python3 -c 'import torch, torchvision' > /dev/null 2>&1") != 0) {
    why = "python3-torch not installed: make deps installs it";
    return nullptr;
  }
  const std::string cmd = "/usr/bin/python3 " + std::string(script) + " --threads " +
                          std::to_string(threads) + " --reps " + std::to_string(reps) +
                          " --warmup " + std::to_string(warmup) + " --size " +
                          std::to_string(size) + " --batch " + std::to_string(batch) +
                          (profile ? " --profile" : "") + (cases.empty() ? "" : " --cases " + cases);
  return bench::run_json(cmd, "bench_torch.py", why);
}

// The 1-minute load average (/proc/loadavg), as text.
std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string one, five, fifteen;
  f >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

// This process's peak resident memory so far, in MB (VmHWM of
// /proc/self/status: the high-water mark of this program's own address space,
// which, unlike getrusage's ru_maxrss, does not count the parent's pages that
// a fork copied before exec).
double own_peak_rss_mb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;  // kB
  return -1;
}

// Runs a command (a fresh process) and returns the number it reports after
// `key` on its output ("peak_rss_mb X", "load_seconds X"), or -1.
double child_value(const std::string& cmd, const std::string& key) {
  std::fflush(stdout);
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  std::string out;
  char buf[256];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  if (pclose(p) != 0) return -1;
  const size_t at = out.rfind(key + " ");
  return at == std::string::npos ? -1 : std::atof(out.c_str() + at + key.size() + 1);
}

double peak_rss_mb(const std::string& cmd) { return child_value(cmd, "peak_rss_mb"); }

}  // namespace

int main(int argc, char** argv) {
  // Both sides with passive OpenMP waits (see the top of this file): libgomp
  // reads the variable when the program starts, so restart with it set.
  if (!std::getenv("OMP_WAIT_POLICY")) {
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    execv("/proc/self/exe", argv);
    std::perror("bench_cpu: cannot restart itself with OMP_WAIT_POLICY=PASSIVE");
    return 1;
  }
  int threads = (int)std::max(1u, std::thread::hardware_concurrency());
  int reps = 3, rounds = 3, warmup = 1, size = 224, batch = 20;
  bool breakdown = false, with_torch = true, with_memory = true;
  std::string only;  // --only CASE: run that case alone (the memory measurement's child)
  std::string cases_arg;  // --cases A,B: these cases only (default: all)
  std::string weights = "weights/resnet50_imagenet.safetensors";  // --weights: the load row's file
  bool time_load = false;  // --time-load: the load row's child (load the weights, print the time)
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> int {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_cpu: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return std::atoi(argv[++i]);
    };
    if (a == "--threads") threads = value();
    else if (a == "--reps") reps = value();
    else if (a == "--rounds") rounds = value();
    else if (a == "--warmup") warmup = value();
    else if (a == "--size") size = value();
    else if (a == "--batch") batch = value();
    else if (a == "--breakdown") breakdown = true;
    else if (a == "--no-torch") with_torch = false;
    else if (a == "--no-memory") with_memory = false;
    else if (a == "--only" && i + 1 < argc) only = argv[++i];
    else if (a == "--weights" && i + 1 < argc) weights = argv[++i];
    else if (a == "--time-load") time_load = true;
    else if (a == "--cases" && i + 1 < argc) cases_arg = argv[++i];
    else if (a == "--conv-grouping" && i + 2 < argc) {
      const int small_output = value(), max_columns = value();
      set_conv_cpu_grouping(small_output, max_columns);
    }
    else {
      std::fprintf(stderr,
                   "usage: bench_cpu [--threads N] [--reps R] [--rounds K] [--warmup W] [--size S] "
                   "[--batch B] [--cases A,B] [--conv-grouping BELOW MAXCOLS] [--breakdown] [--no-torch] [--no-memory] "
                   "[--weights FILE]\n");
      return 2;
    }
  }
  if (threads < 1 || reps < 1 || rounds < 1 || warmup < 0 || size < 32 || batch < 2) {
    std::fprintf(stderr, "bench_cpu: bad option value\n");
    return 2;
  }
  omp_set_num_threads(threads);  // every CPU thread of skinmtl is OpenMP's (kernels/cpu/gemm.cpp)
  if (time_load) {  // the load row's child: a fresh process, as `skinmtl classify` starts
    const auto t0 = Clock::now();
    const LoadedResNet50 loaded = load_resnet50(weights);
    std::printf("load_seconds %.4f\n", seconds_since(t0));
    return 0;
  }

  bench::ResNetStep resnet(Device::CPU);
  const Tensor x1 = resnet.batch(1, size).first;
  const std::pair<Tensor, Tensor> batch_b = resnet.batch(batch, size);
  const Tensor xb = batch_b.first, labels = batch_b.second;

  // The other two papers' steps, each built on its first (warm-up) run, so
  // that a memory child holds only its own network (and the ResNet-50 above,
  // as PyTorch's side does). The sizes of the CPU reproduce recipes.
  std::unique_ptr<bench::YangStep> yang;
  std::unique_ptr<bench::SongTrunkFpnStep> song_fpn;
  std::unique_ptr<bench::SongIteration> song;
  auto lazily = [](auto& step, const bench::StepShape& shape) {
    using Step = typename std::remove_reference_t<decltype(step)>::element_type;
    return [&step, shape] {
      if (!step) step = std::make_unique<Step>(shape);
      step->run();
    };
  };
  std::map<std::string, std::function<void()>> case_fn = {
      {"forward_b1", [&] { resnet.forward(x1); }},
      {"forward_b20", [&] { resnet.forward(xb); }},
      {"train_b20", [&] { resnet.train(xb, labels, false); }},
      {"train_frozen_b20", [&] { resnet.train(xb, labels, true); }},
      {"train_yang_b8", lazily(yang, {8, 120, 160, Device::CPU})},
      {"train_fpn_b2", lazily(song_fpn, {2, 256, 256, Device::CPU})},
      {"iter_detseg_b2", lazily(song, {2, 256, 256, Device::CPU})}};
  if (!cases_arg.empty()) {  // keep the cases named (the table prints them in its own order)
    std::map<std::string, std::function<void()>> chosen;
    std::stringstream list(cases_arg);
    for (std::string name; std::getline(list, name, ',');) {
      const auto it = case_fn.find(name);
      if (it == case_fn.end()) {
        std::fprintf(stderr, "bench_cpu: unknown case '%s' in --cases\n", name.c_str());
        return 2;
      }
      chosen.insert(*it);
    }
    case_fn = std::move(chosen);
  }
  if (!only.empty()) {  // the child of the memory measurement: a warm-up and one run
    const auto it = case_fn.find(only);
    if (it == case_fn.end()) {
      std::fprintf(stderr, "bench_cpu: unknown case '%s'\n", only.c_str());
      return 2;
    }
    it->second();
    it->second();
    std::printf("peak_rss_mb %.1f\n", own_peak_rss_mb());
    return 0;
  }
  const std::string load_before = load_average();

  std::printf("bench_cpu: ResNet-50 (v1, conv biases, BN eps 1e-3), %dx%d, %d threads; "
              "%d rounds, each: %d warm-up + %d timed runs per case, skinmtl then PyTorch\n"
              "skinmtl GEMM: %s%s\n",
              size, size, threads, rounds, warmup, reps, blas_kernels_name(),
              std::getenv("OPENBLAS_CORETYPE") ? " (OPENBLAS_CORETYPE is set)" : "");
  std::fflush(stdout);
  // Rounds alternate skinmtl and PyTorch, so that a disturbance (another job
  // on a shared machine) is spread over both sides rather than landing on one.
  std::map<std::string, std::vector<double>> ours, theirs;
  nlohmann::json torch_info;
  std::string why = with_torch ? "" : "--no-torch";
  for (int round = 0; round < rounds; ++round) {
    auto append = [](std::vector<double>& to, const std::vector<double>& from) {
      to.insert(to.end(), from.begin(), from.end());
    };
    for (const auto& [key, fn] : case_fn) append(ours[key], time_reps(fn, warmup, reps));
    if (why.empty()) {
      std::fflush(stdout);
      nlohmann::json t = run_torch(threads, reps, warmup, size, batch, breakdown && round == 0, cases_arg, why);
      if (t.is_object()) {
        torch_info = t;
        for (const auto& [k, fn] : case_fn)
          for (const std::string& key : {k, k + "_cl"})
            if (t.contains(key)) append(theirs[key], t[key].get<std::vector<double>>());  // none: ours alone
      }
    }
    std::fprintf(stderr, "bench_cpu: round %d of %d done\n", round + 1, rounds);
  }

  if (breakdown) {
    for (const Tensor* x : {&x1, &xb}) {
      bench::Breakdown t;
      const double total = bench::breakdown_forward(resnet, *x, t);
      const std::string title = "skinmtl forward, eval, batch " + std::to_string(x->size(0)) + ", by op";
      t.print(title.c_str(), total);
    }
    {
      // The frozen-BN step: the one the papers' models fine-tune with.
      bench::Breakdown t;
      double fwd = 0, bwd = 0;
      const double total = bench::breakdown_train_step(resnet, xb, labels, t, &fwd, &bwd);
      std::printf("\n(frozen-BN training step: forward %.3f s, backward %.3f s)", fwd, bwd);
      t.print(("skinmtl training step, frozen BN, batch " + std::to_string(xb.size(0)) + ", by op").c_str(), total);
    }
  }

  // Peak resident memory: each case alone in a fresh process, each side.
  std::map<std::string, double> rss_ours, rss_theirs;
  const std::string load_after = load_average();
  if (with_memory) {
    const std::string exe = std::filesystem::read_symlink("/proc/self/exe").string();
    for (const auto& [key, fn] : case_fn) {
      rss_ours[key] = peak_rss_mb(exe + " --threads " + std::to_string(threads) + " --size " + std::to_string(size) +
                                  " --batch " + std::to_string(batch) + " --only " + key);
      if (!theirs[key].empty()) {
        // PyTorch in the layout that was faster for this case.
        const bool cl = median(theirs[key + "_cl"]) < median(theirs[key]);
        const std::string cmd = "/usr/bin/python3 tools/bench_cpu/bench_torch.py --threads " +
                                std::to_string(threads) + " --size " + std::to_string(size) + " --batch " +
                                std::to_string(batch) + " --only " + key + (cl ? " --channels-last" : "");
        rss_theirs[key] = peak_rss_mb(cmd);
      }
    }
  }

  // Checkpoint load: a fresh process loading the ImageNet ResNet-50 (the
  // first thing `skinmtl classify` does), five times.
  std::vector<double> load_times;
  if (std::filesystem::exists(weights) && cases_arg.empty()) {
    const std::string exe = std::filesystem::read_symlink("/proc/self/exe").string();
    for (int i = 0; i < 5; ++i) {
      const double t = child_value(exe + " --threads " + std::to_string(threads) + " --time-load --weights '" +
                                       weights + "'",
                                   "load_seconds");
      if (t >= 0) load_times.push_back(t);
    }
  }

  const std::pair<std::string, std::string> cases[] = {
      {"forward_b1", "forward, batch 1, eval"},
      {"forward_b20", "forward, batch " + std::to_string(batch) + ", eval"},
      {"train_b20", "SGD step, batch " + std::to_string(batch) + ", train BN"},
      {"train_frozen_b20", "SGD step, b" + std::to_string(batch) + ", frozen BN"},
      {"train_yang_b8", "Yang step, 120x160 b8"},
      {"train_fpn_b2", "Song trunk+FPN, 256 b2"},
      {"iter_detseg_b2", "Song whole iteration, 256 b2"}};
  const bool have_torch = torch_info.is_object();
  auto range = [](const std::vector<double>& v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3f-%.3f", *std::min_element(v.begin(), v.end()),
                  *std::max_element(v.begin(), v.end()));
    return std::string(buf);
  };
  auto mb = [](const std::map<std::string, double>& m, const std::string& k) {
    char buf[32];
    const auto it = m.find(k);
    if (it == m.end() || it->second < 0) return std::string("-");
    std::snprintf(buf, sizeof buf, "%.0f MB", it->second);
    return std::string(buf);
  };
  std::printf("\n%-26s %9s %9s %9s %6s   %-11s %-11s %8s %8s\n", "median of all runs", "skinmtl", "PT NCHW",
              "PT NHWC", "ratio", "skinmtl rng", "PT best rng", "skinmtl", "PyTorch");
  std::printf("%-26s %9s %9s %9s %6s   %-11s %-11s %8s %8s\n", "", "", "", "", "/best", "", "",
              "peak RSS", "peak RSS");
  for (const auto& [key, label] : cases) {
    if (!case_fn.count(key)) continue;
    const double a = median(ours[key]);
    if (have_torch && !theirs[key].empty()) {
      const double b = median(theirs[key]), c = median(theirs[key + "_cl"]);
      const std::string& best = c < b ? key + "_cl" : key;
      std::printf("%-26s %7.3f s %7.3f s %7.3f s %5.2fx   %-11s %-11s %8s %8s\n", label.c_str(), a, b, c,
                  a / std::min(b, c), range(ours[key]).c_str(), range(theirs[best]).c_str(), mb(rss_ours, key).c_str(),
                  mb(rss_theirs, key).c_str());
    } else {
      std::printf("%-26s %7.3f s %9s %9s %6s   %-11s %-11s %8s\n", label.c_str(), a, "-", "-", "-",
                  range(ours[key]).c_str(), "", mb(rss_ours, key).c_str());
    }
  }
  if (have_torch)
    std::printf("PyTorch %s (oneDNN %s), %d threads, NCHW and channels_last (NHWC); %d rounds x %d runs each "
                "side, OMP_WAIT_POLICY=%s. Target: ratio <= 0.8, peak RSS <= PyTorch's.\n",
                torch_info["torch"].get<std::string>().c_str(),
                torch_info["mkldnn"].get<bool>() ? "on" : "off", torch_info["threads"].get<int>(),
                rounds, reps, std::getenv("OMP_WAIT_POLICY"));
  else
    std::printf("PyTorch: not run (%s)\n", why.empty() ? "no result" : why.c_str());
  if (!load_times.empty())
    std::printf("checkpoint load (load_resnet50 of %s, %.0f MB, fresh process): median %.3f s, range "
                "%s s of %zu. Target: < 0.5 s.\n",
                weights.c_str(), std::filesystem::file_size(weights) / 1e6, median(load_times),
                range(load_times).c_str(), load_times.size());
  else
    std::printf("checkpoint load: not timed (%s)\n",
                !cases_arg.empty()                    ? "--cases"
                : !std::filesystem::exists(weights)   ? (weights + " not found; make weights").c_str()
                                                      : "every load failed; run bench_cpu --time-load");
  std::printf("load average (1, 5, 15 min): %s before, %s after the timed runs\n", load_before.c_str(),
              load_after.c_str());
  return 0;
}
