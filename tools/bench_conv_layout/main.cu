// bench_conv_layout: would channels-last pay for skinmtl's convolutions?
//
// skinmtl stores activations NCHW (channel planes one after the other).
// cuDNN's tensor-core kernels work on NHWC (the channels of a pixel side by
// side), so for an NCHW bfloat16 or TF32 convolution cuDNN may transpose its
// operands around the kernel, or pick a slower kernel that reads NCHW
// directly. "Channels-last" (PyTorch's torch.channels_last) stores the
// activations NHWC throughout, so that neither happens; it would cost skinmtl
// an NHWC form of every op that knows where the channels are (batch norm,
// the bias and unit-end kernels, pooling, upsampling, RoIAlign, concat). This
// tool measures the gain first, on the convolutions alone, which are where
// cuDNN's layout matters:
//
//   For each distinct convolution of ResNet-50 (the trunk of all three
//   models: Keras/MSRA v1, stride 2 on the first 1x1 of a stage, 224 x 224
//   input) at a batch size and precision, it times the forward, backward-data
//   and backward-filter passes with NCHW tensors and with NHWC tensors
//   (filters KCRS and KRSC). Each pass uses the fastest algorithm that
//   cudnnFind*AlgorithmEx measures among those skinmtl accepts
//   (kernels/cuda/conv2d_cudnn.cu: deterministic, no FFT or Winograd-nonfused,
//   at most 512 MiB of workspace), timed again here with CUDA events over
//   --reps runs. The table weights each shape by how often ResNet-50 has it;
//   the training total leaves out conv1's backward-data (the image needs no
//   gradient).
//
//   make bench-conv-layout                      (CUDA builds only)
//   bin/bench_conv_layout [--batch 20,256] [--precision tf32,bf16] [--reps 10]
//
// What it does not count: the ops between the convolutions, which would also
// change (in PyTorch's channels_last, batch norm and the elementwise ops run
// NHWC kernels), and the one conversion of the input images. So the totals
// bound what channels-last can give the convolutions; a ratio near 1 says it
// does not pay.
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cuda/check.cuh"

namespace {

constexpr size_t kMaxWorkspaceBytes = size_t(512) << 20;  // skinmtl's cap (conv2d_cudnn_common.cuh)

// One convolution of ResNet-50: in/out channels, kernel, stride, input side,
// and how many of it the network has.
struct Layer {
  const char* what;
  int C, K, R, stride, H, count;
};

// Keras/MSRA ResNet-50 v1 at 224 x 224: 53 convolutions.
const Layer kLayers[] = {
    {"conv1 7x7 s2", 3, 64, 7, 2, 224, 1},
    {"layer1 1x1 64->64", 64, 64, 1, 1, 56, 1},
    {"layer1 3x3 64", 64, 64, 3, 1, 56, 3},
    {"layer1 1x1 64->256 (+shortcut)", 64, 256, 1, 1, 56, 4},
    {"layer1 1x1 256->64", 256, 64, 1, 1, 56, 2},
    {"layer2 1x1 s2 256->128", 256, 128, 1, 2, 56, 1},
    {"layer2 1x1 s2 256->512 shortcut", 256, 512, 1, 2, 56, 1},
    {"layer2 3x3 128", 128, 128, 3, 1, 28, 4},
    {"layer2 1x1 128->512", 128, 512, 1, 1, 28, 4},
    {"layer2 1x1 512->128", 512, 128, 1, 1, 28, 3},
    {"layer3 1x1 s2 512->256", 512, 256, 1, 2, 28, 1},
    {"layer3 1x1 s2 512->1024 shortcut", 512, 1024, 1, 2, 28, 1},
    {"layer3 3x3 256", 256, 256, 3, 1, 14, 6},
    {"layer3 1x1 256->1024", 256, 1024, 1, 1, 14, 6},
    {"layer3 1x1 1024->256", 1024, 256, 1, 1, 14, 5},
    {"layer4 1x1 s2 1024->512", 1024, 512, 1, 2, 14, 1},
    {"layer4 1x1 s2 1024->2048 shortcut", 1024, 2048, 1, 2, 14, 1},
    {"layer4 3x3 512", 512, 512, 3, 1, 7, 3},
    {"layer4 1x1 512->2048", 512, 2048, 1, 1, 7, 3},
    {"layer4 1x1 2048->512", 2048, 512, 1, 1, 7, 2},
};

// Algorithms whose rounding is a plain sum of products (skinmtl's rule).
bool precise(cudnnConvolutionFwdAlgo_t a) {
  return a != CUDNN_CONVOLUTION_FWD_ALGO_FFT && a != CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING &&
         a != CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED;
}
bool precise(cudnnConvolutionBwdDataAlgo_t a) {
  return a != CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT && a != CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING &&
         a != CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED;
}
bool precise(cudnnConvolutionBwdFilterAlgo_t a) {
  return a != CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT && a != CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING &&
         a != CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED;
}

// The first entry of a measured ranking (fastest first) that skinmtl would
// accept (no conversion to half precision either), or -1. skinmtl itself takes
// the entry with the least workspace within 3% of the fastest; this tool the
// fastest.
template <typename Perf>
int first_accepted(const std::vector<Perf>& ranking) {
  for (size_t i = 0; i < ranking.size(); ++i) {
    const Perf& p = ranking[i];
    if (p.status == CUDNN_STATUS_SUCCESS && p.determinism == CUDNN_DETERMINISTIC && precise(p.algo) &&
        p.mathType != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION && p.memory <= kMaxWorkspaceBytes)
      return (int)i;
  }
  return -1;
}

// Device buffers of one convolution and its workspace, filled with small
// values (zeros could let a kernel skip work).
struct Buffers {
  void *x = nullptr, *w = nullptr, *y = nullptr, *ws = nullptr;
  size_t ws_bytes = 0;
  Buffers(size_t xb, size_t wb, size_t yb) {
    CUDA_CHECK(cudaMalloc(&x, xb));
    CUDA_CHECK(cudaMalloc(&w, wb));
    CUDA_CHECK(cudaMalloc(&y, yb));
    // 0x3C3C is about 0.0115 in bfloat16 and a small positive float32 too.
    CUDA_CHECK(cudaMemset(x, 0x3C, xb));
    CUDA_CHECK(cudaMemset(w, 0x3C, wb));
    CUDA_CHECK(cudaMemset(y, 0x3C, yb));
    size_t free_bytes = 0, total = 0;
    CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total));
    ws_bytes = std::min(kMaxWorkspaceBytes, free_bytes / 2);
    while (ws_bytes >= (size_t(1) << 20) && cudaMalloc(&ws, ws_bytes) != cudaSuccess) {
      cudaGetLastError();  // clear the failed allocation's error
      ws = nullptr;
      ws_bytes /= 2;
    }
    if (!ws) ws_bytes = 0;
  }
  ~Buffers() {
    for (void* p : {x, w, y, ws})
      if (p) cudaFree(p);
  }
  Buffers(const Buffers&) = delete;
  Buffers& operator=(const Buffers&) = delete;
};

// Milliseconds per run of `run` (median of reps, each timed with events, after
// two untimed runs); -1 when a run returns a status other than success.
template <typename F>
double time_ms(cudaStream_t stream, int reps, F run) {
  if (run() != CUDNN_STATUS_SUCCESS || run() != CUDNN_STATUS_SUCCESS) return -1;
  cudaEvent_t a, b;
  CUDA_CHECK(cudaEventCreate(&a));
  CUDA_CHECK(cudaEventCreate(&b));
  std::vector<float> ms;
  bool ok = true;
  for (int r = 0; r < reps && ok; ++r) {
    CUDA_CHECK(cudaEventRecord(a, stream));
    ok = run() == CUDNN_STATUS_SUCCESS;
    CUDA_CHECK(cudaEventRecord(b, stream));
    CUDA_CHECK(cudaEventSynchronize(b));
    float t = 0;
    CUDA_CHECK(cudaEventElapsedTime(&t, a, b));
    ms.push_back(t);
  }
  CUDA_CHECK(cudaEventDestroy(a));
  CUDA_CHECK(cudaEventDestroy(b));
  if (!ok) return -1;
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// One pass of one layer: cuDNN's measured ranking (find(max_count, &got,
// ranking)), the fastest entry skinmtl accepts, timed with run(algo) under that
// entry's own math type (as it was measured). -1 when the search fails, no
// entry qualifies or a timed run fails, with cuDNN's reason on stderr: one
// pass cuDNN does not support for a layout ends neither the layer nor the
// benchmark.
template <typename Perf, typename Find, typename Run>
double time_pass(cudaStream_t stream, int reps, int max_count, cudnnConvolutionDescriptor_t cd, const std::string& what,
                 Find find, Run run) {
  std::vector<Perf> ranking((size_t)max_count);
  int got = 0;
  const cudnnStatus_t found = find(max_count, &got, ranking.data());
  if (found != CUDNN_STATUS_SUCCESS) {
    std::fprintf(stderr, "  %s: the search failed: %s\n", what.c_str(), cudnnGetErrorString(found));
    return -1;
  }
  ranking.resize((size_t)got);
  const int i = first_accepted(ranking);
  if (i < 0) {
    std::fprintf(stderr, "  %s: no algorithm skinmtl accepts\n", what.c_str());
    return -1;
  }
  const Perf& p = ranking[(size_t)i];
  CUDNN_CHECK(cudnnSetConvolutionMathType(cd, p.mathType));
  const double ms = time_ms(stream, reps, [&] { return run(p.algo); });
  CUDNN_CHECK(cudnnSetConvolutionMathType(cd, CUDNN_TENSOR_OP_MATH));
  if (ms < 0) std::fprintf(stderr, "  %s: a timed run failed\n", what.c_str());
  return ms;
}

// The three passes' times of one layer in one layout, in ms (negative: no
// accepted algorithm).
struct PassTimes {
  double fwd = -1, bwd_data = -1, bwd_filter = -1;
};

// need_data false: no backward-data pass (conv1's input is the image).
PassTimes time_layer(cudnnHandle_t h, cudaStream_t stream, const Layer& L, int N, bool bf16, bool nhwc, bool need_data,
                     int reps) {
  const cudnnDataType_t type = bf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
  const cudnnTensorFormat_t format = nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
  const size_t elem = bf16 ? 2 : 4;
  const int pad = L.R / 2, P = (L.H + 2 * pad - L.R) / L.stride + 1;
  cudnnTensorDescriptor_t xd, yd;
  cudnnFilterDescriptor_t wd;
  cudnnConvolutionDescriptor_t cd;
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&xd));
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&yd));
  CUDNN_CHECK(cudnnCreateFilterDescriptor(&wd));
  CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&cd));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(xd, format, type, N, L.C, L.H, L.H));
  CUDNN_CHECK(cudnnSetFilter4dDescriptor(wd, type, format, L.K, L.C, L.R, L.R));
  CUDNN_CHECK(cudnnSetConvolution2dDescriptor(cd, pad, pad, L.stride, L.stride, 1, 1, CUDNN_CROSS_CORRELATION,
                                              CUDNN_DATA_FLOAT));
  // Tensor cores: TF32 for float32 data, bfloat16's own (skinmtl's tf32 and bf16 settings).
  CUDNN_CHECK(cudnnSetConvolutionMathType(cd, CUDNN_TENSOR_OP_MATH));
  int n = 0, k = 0, p = 0, q = 0;
  CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(cd, xd, wd, &n, &k, &p, &q));
  if (p != P || q != P) throw std::runtime_error(std::string(L.what) + ": unexpected output size");
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(yd, format, type, N, L.K, P, P));

  Buffers b(elem * N * L.C * L.H * L.H, elem * L.K * L.C * L.R * L.R, elem * N * L.K * P * P);
  const float one = 1.0f, zero = 0.0f;
  const std::string what = std::string(L.what) + (nhwc ? ", NHWC" : ", NCHW") + (bf16 ? ", bf16" : ", tf32");
  PassTimes t;
  int max_count = 0;
  CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &max_count));
  t.fwd = time_pass<cudnnConvolutionFwdAlgoPerf_t>(
      stream, reps, max_count, cd, what + ", forward",
      [&](int count, int* got, cudnnConvolutionFwdAlgoPerf_t* r) {
        return cudnnFindConvolutionForwardAlgorithmEx(h, xd, b.x, wd, b.w, cd, yd, b.y, count, got, r, b.ws, b.ws_bytes);
      },
      [&](cudnnConvolutionFwdAlgo_t a) {
        return cudnnConvolutionForward(h, &one, xd, b.x, wd, b.w, cd, a, b.ws, b.ws_bytes, &zero, yd, b.y);
      });
  if (need_data) {
    CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &max_count));
    t.bwd_data = time_pass<cudnnConvolutionBwdDataAlgoPerf_t>(
        stream, reps, max_count, cd, what + ", backward-data",
        [&](int count, int* got, cudnnConvolutionBwdDataAlgoPerf_t* r) {
          return cudnnFindConvolutionBackwardDataAlgorithmEx(h, wd, b.w, yd, b.y, cd, xd, b.x, count, got, r, b.ws,
                                                             b.ws_bytes);
        },
        [&](cudnnConvolutionBwdDataAlgo_t a) {
          return cudnnConvolutionBackwardData(h, &one, wd, b.w, yd, b.y, cd, a, b.ws, b.ws_bytes, &zero, xd, b.x);
        });
  }
  CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &max_count));
  t.bwd_filter = time_pass<cudnnConvolutionBwdFilterAlgoPerf_t>(
      stream, reps, max_count, cd, what + ", backward-filter",
      [&](int count, int* got, cudnnConvolutionBwdFilterAlgoPerf_t* r) {
        return cudnnFindConvolutionBackwardFilterAlgorithmEx(h, xd, b.x, yd, b.y, cd, wd, b.w, count, got, r, b.ws,
                                                             b.ws_bytes);
      },
      [&](cudnnConvolutionBwdFilterAlgo_t a) {
        return cudnnConvolutionBackwardFilter(h, &one, xd, b.x, yd, b.y, cd, a, b.ws, b.ws_bytes, &zero, wd, b.w);
      });
  cudnnDestroyConvolutionDescriptor(cd);
  cudnnDestroyFilterDescriptor(wd);
  cudnnDestroyTensorDescriptor(yd);
  cudnnDestroyTensorDescriptor(xd);
  return t;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "bench_conv_layout: %s\nusage: bench_conv_layout [--batch 20,256] [--precision tf32,bf16] [--reps 10]\n",
               why.c_str());
  std::exit(2);
}

// "12.345" or "-" for a pass without an accepted algorithm.
std::string ms_str(double ms) {
  if (ms < 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", ms);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  // A line at a time: a run cut short by run.sh's time limit keeps the rows it printed.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::vector<int> batches = {20, 256};
  std::vector<std::string> precisions = {"tf32", "bf16"};
  int reps = 10;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage("missing a value after " + a);
    const std::string v = argv[++i];
    if (a == "--batch") {
      batches.clear();
      for (const std::string& s : split(v)) {
        const int b = std::atoi(s.c_str());
        if (b <= 0) usage("--batch takes positive integers, got '" + s + "'");
        batches.push_back(b);
      }
    } else if (a == "--precision") {
      precisions = split(v);
      for (const std::string& p : precisions)
        if (p != "tf32" && p != "bf16") usage("--precision takes tf32 and bf16, got '" + p + "'");
    } else if (a == "--reps") {
      reps = std::atoi(v.c_str());
      if (reps <= 0) usage("--reps takes a positive integer, got '" + v + "'");
    } else {
      usage("unknown option " + a);
    }
  }
  if (batches.empty() || precisions.empty()) usage("--batch and --precision need at least one value");
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::fprintf(stderr, "bench_conv_layout: no usable CUDA GPU (%s)\n", cudaGetErrorString(cudaGetLastError()));
    return 1;
  }
  try {
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    cudaStream_t stream;
    CUDA_CHECK(cudaStreamCreate(&stream));
    cudnnHandle_t h;
    CUDNN_CHECK(cudnnCreate(&h));
    CUDNN_CHECK(cudnnSetStream(h, stream));
    std::printf("cuDNN convolutions of ResNet-50 (224 x 224), NCHW against NHWC, on %s, cuDNN %zu\n", prop.name,
                cudnnGetVersion());
    std::printf("each pass: the fastest algorithm skinmtl accepts (measured; skinmtl takes the least workspace within 3%%\n"
                "of it), median of %d runs, ms; '-': cuDNN has none for the layout (stderr says why)\n\n",
                reps);
    for (const std::string& precision : precisions) {
      const bool bf16 = precision == "bf16";
      for (int N : batches) {
        std::printf("%s, batch %d\n", precision.c_str(), N);
        std::printf("  %-34s %5s  %-26s %-26s %6s\n", "layer", "count", "NCHW fwd / bwd-data / bwd-w",
                    "NHWC fwd / bwd-data / bwd-w", "ratio");
        // A layer counts in a total only where both layouts timed every pass it needs.
        double train[2] = {0, 0}, infer[2] = {0, 0};
        int train_layers = 0, infer_layers = 0, layers = 0;
        for (const Layer& L : kLayers) {
          const bool first = L.C == 3;  // conv1: its input is the image, no backward-data in training
          const PassTimes t[2] = {time_layer(h, stream, L, N, bf16, false, !first, reps),
                                  time_layer(h, stream, L, N, bf16, true, !first, reps)};
          double layer_train[2];
          bool trains = true, infers = true;
          for (int f = 0; f < 2; ++f) {
            infers = infers && t[f].fwd >= 0;
            trains = trains && t[f].fwd >= 0 && t[f].bwd_filter >= 0 && (first || t[f].bwd_data >= 0);
            layer_train[f] = t[f].fwd + t[f].bwd_filter + (first ? 0.0 : t[f].bwd_data);
          }
          for (int f = 0; f < 2; ++f) {
            if (trains) train[f] += L.count * layer_train[f];
            if (infers) infer[f] += L.count * t[f].fwd;
          }
          layers += L.count;
          train_layers += trains ? L.count : 0;
          infer_layers += infers ? L.count : 0;
          const std::string nchw = ms_str(t[0].fwd) + " / " + ms_str(t[0].bwd_data) + " / " + ms_str(t[0].bwd_filter);
          const std::string nhwc = ms_str(t[1].fwd) + " / " + ms_str(t[1].bwd_data) + " / " + ms_str(t[1].bwd_filter);
          if (trains)
            std::printf("  %-34s %5d  %-26s %-26s %6.2f\n", L.what, L.count, nchw.c_str(), nhwc.c_str(),
                        layer_train[0] / layer_train[1]);
          else
            std::printf("  %-34s %5d  %-26s %-26s %6s\n", L.what, L.count, nchw.c_str(), nhwc.c_str(), "-");
        }
        std::printf("  training (fwd + bwd, %d of %d convolutions): NCHW %.2f ms, NHWC %.2f ms, NCHW / NHWC %.2f\n",
                    train_layers, layers, train[0], train[1], train[1] > 0 ? train[0] / train[1] : 0.0);
        std::printf("  inference (fwd, %d of %d convolutions):      NCHW %.2f ms, NHWC %.2f ms, NCHW / NHWC %.2f\n",
                    infer_layers, layers, infer[0], infer[1], infer[1] > 0 ? infer[0] / infer[1] : 0.0);
        std::printf("\n");
      }
    }
    cudnnDestroy(h);
    cudaStreamDestroy(stream);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_conv_layout: %s\n", e.what());
    return 1;
  }
  return 0;
}
