// skinmtl info: what this build can do on this machine.
#include <cstdio>
#include <string>

#include "framework/distributed.h"
#include "framework/module.h"
#include "framework/ops.h"
#include "framework/tensor.h"
#include "tools/skinmtl/commands.h"
#if SKINMTL_CUDA
#include "kernels/device.h"
#endif

namespace skinmtl {

int cmd_info(int argc, char** argv) {
  for (int k = 1; k < argc; ++k) {
    const std::string a = argv[k];
    if (a == "--help" || a == "-h") {
      std::fputs("usage: skinmtl info\n\nPrints the build configuration (CUDA and MPI compiled in or not), whether a\n"
                 "GPU is visible, and if not, why, whether inference folds batch norm into the\n"
                 "convolutions, and (with CUDA) cuDNN's version and how the GPU convolves.\n",
                 stdout);
      return 0;
    }
    std::fprintf(stderr, "skinmtl info: unknown option '%s' (it takes none; see 'skinmtl info --help')\n", a.c_str());
    return 2;
  }
  std::printf("skinmtl\n  CUDA support compiled in: %s\n  GPU visible: %s\n  data-parallel training: %s\n",
              SKINMTL_CUDA ? "yes" : "no (CPU-only build)",
              cuda_available() ? "yes" : ("no: " + cuda_unavailable_reason()).c_str(), data_parallel_support().c_str());
  const BatchNormFolding fold = batch_norm_folding();
  std::printf("  frozen and inference batch norms: %s\n",
              fold == BatchNormFolding::WherePays
                  ? "folded into the convolution (in training where that costs less than the batch norm; "
                    "SKINMTL_FOLD_BN=all: wherever the statistics are fixed, 0: never)"
              : fold == BatchNormFolding::Always
                  ? "folded into the convolution wherever the statistics are fixed (SKINMTL_FOLD_BN=all)"
                  : "run as their own op (SKINMTL_FOLD_BN=0)");
#if SKINMTL_CUDA
  const ConvBackend b = conv_backend();  // SKINMTL_CONV_BACKEND's choice
  std::printf("  cuDNN: %s\n  GPU convolutions: %s\n", cuda::cudnn_version().c_str(),
              b == ConvBackend::Im2col       ? "im2col + cuBLAS (SKINMTL_CONV_BACKEND=im2col)"
              : b == ConvBackend::CuDNNGraph ? "cuDNN graph API (SKINMTL_CONV_BACKEND=cudnn-graph)"
                                             : "cuDNN legacy API (SKINMTL_CONV_BACKEND=auto or cudnn)");
#endif
  return 0;
}

}  // namespace skinmtl
