// skinmtl info: what this build can do on this machine.
#include <cstdio>

#include "framework/tensor.h"
#include "tools/skinmtl/commands.h"

namespace skinmtl {

int cmd_info(int, char**) {
  std::printf("skinmtl\n  CUDA support compiled in: %s\n  GPU visible: %s\n",
              SKINMTL_CUDA ? "yes" : "no (CPU-only build)", cuda_available() ? "yes" : "no");
  return 0;
}

}  // namespace skinmtl
