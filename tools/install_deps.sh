#!/usr/bin/env bash
# Installs the Debian packages skinmtl builds against, when they are missing.
# The CUDA toolkit (nvcc, cuBLAS, cuDNN) is not a Debian package here: when
# nvcc is absent the build is CPU-only, which is a supported configuration.
#
# python3-torch and python3-torchvision (Debian's PyTorch 1.13, CPU) are for
# the tests and benchmarks only, never for the skinmtl runtime: the independent
# reference of tests/test_torch_reference.cpp (run by /usr/bin/python3) and
# the comparison of `make bench-cpu`. They are large (about 270 packages, 250 MB
# of archives, ~1 GB installed; about 2 minutes on a fresh Debian 12 machine);
# without them those tests report themselves skipped.
set -euo pipefail

pkgs=(g++ make libopenblas-dev libstb-dev nlohmann-json3-dev libgtest-dev
      python3-torch python3-torchvision)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all Debian dependencies present"
  exit 0
fi
echo "install_deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
